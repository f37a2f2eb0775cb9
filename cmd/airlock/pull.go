package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/airlock-go/airlock/internal/bundle"
	"github.com/airlock-go/airlock/internal/oci"
)

var pullCommand = command{
	summary: "Fetch a package and its signature from an OCI registry into a directory, checking their digests.",
	usage:   "HOST/REPO[:TAG][@sha256:HEX] [-o DIR] [--trust PUBKEY]... [--plain-http]",
	setup: func(fs *flag.FlagSet) runFunc {
		out := fs.String("o", ".", "the directory to write NAME-VERSION.tar.gz and its .minisig into")
		var trust multiFlag
		fs.Var(&trust, "trust", "verify the package against this trusted public key (repeatable)")
		plain := fs.Bool("plain-http", false, "allow plain HTTP to a registry that is not on this machine (it always is for localhost)")
		return func(ctx context.Context, c *cli, args []string) error {
			if len(args) != 1 {
				return usagef("want one reference")
			}
			ref, err := oci.Parse(args[0])
			if err != nil {
				return err
			}
			client, err := registryClient(*plain)
			if err != nil {
				return err
			}
			p, err := client.Fetch(ctx, ref)
			if err != nil {
				return err
			}
			path, name, err := writePulled(*out, p)
			if err != nil {
				return err
			}
			ref.Digest = p.Digest
			fmt.Fprintf(c.stdout, "%s: %s (%s)\n", path, name, ref)
			if len(trust) == 0 {
				fmt.Fprintf(c.stdout, "not verified: airlock verify %s --trust PUBKEY\n", path)
				return nil
			}
			v, _, err := verifyPackage(path, "", trust)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "signed by key %s: OK\n", v.KeyID)
			return nil
		}
	},
}

// writePulled writes a fetched package as DIR/NAME-VERSION.tar.gz, with
// its signature beside it, and returns its path and "NAME VERSION".
func writePulled(dir string, p *oci.Package) (string, string, error) {
	b, err := bundle.Open(p.Data, bundle.Limits{})
	if err != nil {
		return "", "", fmt.Errorf("the pulled package: %w", err)
	}
	file := fmt.Sprintf("%s-%s.tar.gz", b.Manifest.Name, b.Manifest.Version)
	if filepath.Base(file) != file { // names from the package: no separators
		return "", "", fmt.Errorf("the pulled package: unusable name %q", file)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", err
	}
	path := filepath.Join(dir, file)
	if err := os.WriteFile(path, p.Data, 0o644); err != nil {
		return "", "", err
	}
	sig := path + ".minisig"
	if p.Signature == nil { // no stale signature from an earlier pull beside it
		if err := os.Remove(sig); err != nil && !errors.Is(err, os.ErrNotExist) {
			return "", "", err
		}
	} else if err := os.WriteFile(sig, p.Signature, 0o644); err != nil {
		return "", "", err
	}
	return path, b.Manifest.Name + " " + b.Manifest.Version, nil
}
