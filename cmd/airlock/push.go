package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/airlock-go/airlock/internal/bundle"
	"github.com/airlock-go/airlock/internal/oci"
	"github.com/airlock-go/airlock/internal/signing"
)

var pushCommand = command{
	summary: "Store a signed package (PKG and PKG.minisig) in an OCI registry; print the pinned reference for host.toml.",
	usage:   "PKG HOST/REPO[:TAG] [--sig FILE] [--plain-http]",
	setup: func(fs *flag.FlagSet) runFunc {
		sigPath := fs.String("sig", "", "the signature (default PKG.minisig)")
		plain := fs.Bool("plain-http", false, "allow plain HTTP to a registry that is not on this machine (it always is for localhost)")
		return func(ctx context.Context, c *cli, args []string) error {
			if len(args) != 2 {
				return usagef("want a package and a reference (HOST/REPO[:TAG])")
			}
			ref, err := oci.Parse(args[1])
			if err != nil {
				return err
			}
			data, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			b, err := bundle.Open(data, bundle.Limits{})
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			if *sigPath == "" {
				*sigPath = args[0] + ".minisig"
			}
			sig, err := os.ReadFile(*sigPath)
			if errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("%s: %w (no %s): sign it first with airlock sign", args[0], signing.ErrUnsigned, *sigPath)
			}
			if err != nil {
				return err
			}
			client, err := registryClient(*plain)
			if err != nil {
				return err
			}
			pinned, err := client.Push(ctx, ref, data, sig, b.Manifest.Name, b.Manifest.Version)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "pushed %s %s (package sha256:%s)\nin host.toml:\n  package = %q\n", b.Manifest.Name, b.Manifest.Version, b.Digest, pinned.String())
			return nil
		}
	},
}

// registryClient reaches registries with the credentials of docker login
// or oras login.
func registryClient(plainHTTP bool) (*oci.Client, error) {
	cred, err := oci.DockerCredentials()
	if err != nil {
		return nil, fmt.Errorf("registry credentials: %w", err)
	}
	return &oci.Client{PlainHTTP: plainHTTP, Credential: cred}, nil
}
