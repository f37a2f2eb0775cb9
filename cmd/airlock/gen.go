package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/airlock-go/airlock/internal/gen"
)

var genCommand = command{
	summary: "Write typed bindings of a host's contract for plugins in Go, Python, TypeScript, C or Rust.",
	usage:   "--lang " + strings.Join(gen.Languages(), "|") + " [--package NAME] [-o DIR|FILE] CONTRACT.json|PACKAGE [-- HOST-ARGS...]",
	setup: func(fs *flag.FlagSet) runFunc {
		lang := fs.String("lang", "", "the language of the bindings: "+strings.Join(gen.Languages(), ", "))
		pkg := fs.String("package", "contract", "the Go package, the Python, TypeScript or Rust module, or the C prefix of the bindings")
		out := fs.String("o", "", "where to write: a directory (the files are named after --package), or a file; standard output when unset")
		timeout := fs.Duration("timeout", time.Minute, "for a PACKAGE: how long the host program may take to reach airlock.New, once built")
		return func(ctx context.Context, c *cli, args []string) error {
			if *lang == "" {
				return usagef("want --lang (%s)", strings.Join(gen.Languages(), ", "))
			}
			if len(args) == 0 {
				return usagef("want a contract document (airlock contract's output, a .json file) or the host program's Go package")
			}
			return c.gen(ctx, *lang, *pkg, *out, args[0], args[1:], *timeout)
		}
	},
}

// gen writes the bindings of the contract at src: a JSON file, or a host
// program's package whose contract "airlock contract" gets.
func (c *cli) gen(ctx context.Context, lang, pkg, out, src string, hostArgs []string, timeout time.Duration) error {
	doc, err := c.contractDocument(ctx, src, hostArgs, timeout)
	if err != nil {
		return err
	}
	contract, err := gen.Parse(doc)
	if err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	files, err := gen.Generate(contract, lang, pkg)
	if err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	return c.writeGenerated(files, out)
}

// contractDocument reads the contract document src, or gets it from the
// host program src when src is no regular file.
func (c *cli) contractDocument(ctx context.Context, src string, hostArgs []string, timeout time.Duration) ([]byte, error) {
	if st, err := os.Stat(src); err == nil && st.Mode().IsRegular() {
		if len(hostArgs) > 0 {
			return nil, usagef("arguments after -- are for a host program, and %s is a file", src)
		}
		return os.ReadFile(src)
	}
	var buf bytes.Buffer
	sub := *c
	sub.stdout = &buf
	if err := sub.contract(ctx, src, hostArgs, timeout); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// writeGenerated writes files to standard output (one file only), into the
// directory out, or to the file out (one file only).
func (c *cli) writeGenerated(files []gen.File, out string) error {
	st, statErr := os.Stat(out)
	isDir := out != "" && (statErr == nil && st.IsDir() || strings.HasSuffix(out, "/") || strings.HasSuffix(out, string(filepath.Separator)))
	if !isDir && len(files) > 1 {
		names := make([]string, len(files))
		for i, f := range files {
			names[i] = f.Name
		}
		return usagef("these bindings are %d files (%s): give -o a directory", len(files), strings.Join(names, ", "))
	}
	switch {
	case out == "":
		_, err := c.stdout.Write(files[0].Data)
		return err
	case isDir:
		if err := os.MkdirAll(out, 0o755); err != nil {
			return err
		}
		for _, f := range files {
			if err := os.WriteFile(filepath.Join(out, f.Name), f.Data, 0o644); err != nil {
				return err
			}
		}
		return nil
	}
	return os.WriteFile(out, files[0].Data, 0o644)
}
