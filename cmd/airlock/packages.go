package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/airlock-go/airlock/internal/bundle"
	"github.com/airlock-go/airlock/internal/signing"
)

// passwordEnv holds a secret key's password, so that signing needs no
// prompt (in CI, for example). Empty: keys are written unencrypted.
const passwordEnv = "AIRLOCK_KEY_PASSWORD"

var packCommand = command{
	summary: "Make a plugin package (a reproducible .tar.gz) from a plugin directory.",
	usage:   "DIR -o FILE",
	setup: func(fs *flag.FlagSet) runFunc {
		out := fs.String("o", "", "the package file to write (default NAME-VERSION.tar.gz)")
		return func(ctx context.Context, c *cli, args []string) error {
			if len(args) != 1 {
				return usagef("want one plugin directory")
			}
			data, err := bundle.Pack(args[0])
			if err != nil {
				return err
			}
			b, err := bundle.Open(data, bundle.Limits{})
			if err != nil {
				return err
			}
			path := *out
			if path == "" {
				path = fmt.Sprintf("%s-%s.tar.gz", b.Manifest.Name, b.Manifest.Version)
			}
			if err := os.WriteFile(path, data, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "%s: %s %s, %d files, sha256:%s\n", path, b.Manifest.Name, b.Manifest.Version, len(b.Files), b.Digest)
			return nil
		}
	},
}

var keygenCommand = command{
	summary: "Make a publisher key pair: NAME.key (secret) and NAME.pub, in the current directory.",
	usage:   "[NAME]",
	setup: func(fs *flag.FlagSet) runFunc {
		return func(ctx context.Context, c *cli, args []string) error {
			name := "airlock"
			switch len(args) {
			case 0:
			case 1:
				name = args[0]
			default:
				return usagef("want at most one name")
			}
			pub, key, id, err := signing.GenerateKey(".", name, c.getenv(passwordEnv))
			if err != nil {
				return err
			}
			enc := "unencrypted: keep it safe"
			if c.getenv(passwordEnv) != "" {
				enc = "encrypted with " + passwordEnv
			}
			fmt.Fprintf(c.stdout, "key %s\n  public: %s (give it to operators)\n  secret: %s (%s)\n", id, pub, key, enc)
			return nil
		}
	},
}

var signCommand = command{
	summary: "Sign a package with a publisher's secret key, writing PKG.minisig beside it.",
	usage:   "PKG --key KEY",
	setup: func(fs *flag.FlagSet) runFunc {
		keyPath := fs.String("key", "", "the secret key file (its password in "+passwordEnv+")")
		return func(ctx context.Context, c *cli, args []string) error {
			if len(args) != 1 || *keyPath == "" {
				return usagef("want a package and --key")
			}
			data, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			b, err := bundle.Open(data, bundle.Limits{})
			if err != nil {
				return err
			}
			key, err := signing.LoadPrivateKey(*keyPath, c.getenv(passwordEnv))
			if err != nil {
				return err
			}
			sig := signing.Sign(key, data, b.Manifest.Name, b.Manifest.Version)
			out := args[0] + ".minisig"
			if err := os.WriteFile(out, sig, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "%s: %s %s signed by key %s\n", out, b.Manifest.Name, b.Manifest.Version, signing.KeyID(key.ID()))
			return nil
		}
	},
}

var verifyCommand = command{
	summary: "Check a package's signature against trusted publisher keys; exit 0 only if it verifies.",
	usage:   "PKG --trust PUBKEY [--trust PUBKEY]... [--sig FILE]",
	setup: func(fs *flag.FlagSet) runFunc {
		var trust multiFlag
		fs.Var(&trust, "trust", "a trusted public key: a .pub file or the key itself (repeatable)")
		sigPath := fs.String("sig", "", "the signature (default PKG.minisig)")
		return func(ctx context.Context, c *cli, args []string) error {
			if len(args) != 1 || len(trust) == 0 {
				return usagef("want a package and at least one --trust key")
			}
			v, b, err := verifyPackage(args[0], *sigPath, trust)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "%s: %s %s, sha256:%s, signed by key %s: OK\n", args[0], b.Manifest.Name, b.Manifest.Version, v.Digest, v.KeyID)
			return nil
		}
	},
}

// verifyPackage reads and verifies a package against trusted keys.
func verifyPackage(pkg, sigPath string, trust []string) (signing.Verified, *bundle.Bundle, error) {
	data, err := os.ReadFile(pkg)
	if err != nil {
		return signing.Verified{}, nil, err
	}
	b, err := bundle.Open(data, bundle.Limits{})
	if err != nil {
		return signing.Verified{}, nil, err
	}
	if sigPath == "" {
		sigPath = pkg + ".minisig"
	}
	sig, err := os.ReadFile(sigPath)
	if errors.Is(err, os.ErrNotExist) {
		return signing.Verified{}, b, fmt.Errorf("%s: %w (no %s)", pkg, signing.ErrUnsigned, filepath.Base(sigPath))
	}
	if err != nil {
		return signing.Verified{}, b, err
	}
	var policy signing.Policy
	for _, t := range trust {
		key, err := signing.LoadPublicKey(t)
		if err != nil {
			return signing.Verified{}, b, fmt.Errorf("--trust %s: %w", t, err)
		}
		policy.Trusted = append(policy.Trusted, key)
	}
	v, err := policy.Verify(data, sig, b.Manifest.Name, b.Manifest.Version, nil)
	if err != nil {
		return v, b, fmt.Errorf("%s: %w", pkg, err)
	}
	return v, b, nil
}
