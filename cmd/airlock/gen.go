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
	"github.com/airlock-go/airlock/internal/manifest"
)

var genCommand = command{
	summary: "Write typed bindings of a host's contract for plugins in Go, Python, TypeScript, C or Rust.",
	usage:   "--lang " + strings.Join(gen.Languages(), "|") + " [--manifest PLUGIN.toml|DIR] [--package NAME] [-o DIR|FILE] CONTRACT.json|PACKAGE [-- HOST-ARGS...]",
	setup: func(fs *flag.FlagSet) runFunc {
		lang := fs.String("lang", "", "the language of the bindings: "+strings.Join(gen.Languages(), ", "))
		pkg := fs.String("package", "contract", "the Go package, the Python, TypeScript or Rust module, or the C prefix of the bindings")
		out := fs.String("o", "", "where to write: a directory (the files are named after --package), or a file; standard output when unset")
		manifestPath := fs.String("manifest", "", "a plugin's manifest (plugin.toml, or its directory): also write the type of its settings, with a strict decoder")
		timeout := fs.Duration("timeout", time.Minute, "for a PACKAGE: how long the host program may take to reach airlock.New, once built")
		return func(ctx context.Context, c *cli, args []string) error {
			if *lang == "" {
				return usagef("want --lang (%s)", strings.Join(gen.Languages(), ", "))
			}
			if len(args) == 0 {
				return usagef("want a contract document (airlock contract's output, a .json file) or the host program's Go package")
			}
			return c.gen(ctx, genRequest{lang: *lang, pkg: *pkg, out: *out, manifest: *manifestPath, src: args[0], hostArgs: args[1:], timeout: *timeout})
		}
	},
}

// genRequest is what "airlock gen" is asked to write.
type genRequest struct {
	lang, pkg, out string
	manifest       string // a plugin.toml or its directory, or ""
	src            string // a contract file or a host program's package
	hostArgs       []string
	timeout        time.Duration
}

// gen writes the bindings of the contract at r.src (a JSON file, or a host
// program's package whose contract "airlock contract" gets), with the
// settings of the manifest r.manifest if set.
func (c *cli) gen(ctx context.Context, r genRequest) error {
	var settings map[string]manifest.Setting
	if r.manifest != "" {
		m, err := readManifest(r.manifest)
		if err != nil {
			return err
		}
		settings = m.Config
		if settings == nil {
			settings = map[string]manifest.Setting{}
		}
	}
	doc, err := c.contractDocument(ctx, r.src, r.hostArgs, r.timeout)
	if err != nil {
		return err
	}
	contract, err := gen.Parse(doc)
	if err != nil {
		return fmt.Errorf("%s: %w", r.src, err)
	}
	if settings != nil {
		if err := gen.AddSettings(contract, settings); err != nil {
			return fmt.Errorf("%s: %w", r.manifest, err)
		}
	}
	files, err := gen.Generate(contract, r.lang, r.pkg)
	if err != nil {
		return fmt.Errorf("%s: %w", r.src, err)
	}
	return c.writeGenerated(files, r.out)
}

// readManifest reads a plugin.toml, or the one in the directory path.
func readManifest(path string) (*manifest.Manifest, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return manifest.Load(path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return manifest.Parse(path, data)
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
