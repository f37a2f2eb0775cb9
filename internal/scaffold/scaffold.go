// Package scaffold makes new plugin directories for `airlock new`: a
// manifest, code written with one of Airlock's SDKs, its build step, a
// test in the language's own test tool and a README, from the templates
// under templates/ and, for languages whose SDK no registry serves, a copy
// of the SDK embedded in the airlock command (package sdk).
//
// What it writes is deterministic: the same language, name and options
// give the same bytes.
package scaffold

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"text/template"

	"github.com/BurntSushi/toml"

	"github.com/airlock-go/airlock/internal/manifest"
	"github.com/airlock-go/airlock/sdk"
)

// Errors New returns, wrapped with the details.
var (
	// ErrUnknownLanguage: the language is none of Languages.
	ErrUnknownLanguage = errors.New("unknown language")
	// ErrInvalidName: the name is not a valid plugin name (docs/MANIFEST.md).
	ErrInvalidName = errors.New("not a valid plugin name")
	// ErrNotEmpty: the directory exists and holds files.
	ErrNotEmpty = errors.New("directory is not empty")
)

// templates holds one directory per language; every file in it ends in
// .tmpl (so that no tool mistakes a template for source) and is rendered
// with text/template to the same path without the suffix.
//
//go:embed all:templates
var templates embed.FS

// Version is the version a new plugin starts at.
const Version = "0.1.0"

// File is one file of a new plugin.
type File struct {
	Path string // relative, with / separators
	Data []byte
}

// Options say what to make.
type Options struct {
	// Lang is one of LanguageNames.
	Lang string
	// Name is the plugin's name, as in its manifest.
	Name string
	// AirlockVersion is the version of the module github.com/airlock-go/airlock
	// a Go plugin requires. Empty means this program's own version
	// (ModuleVersion).
	AirlockVersion string
}

// Render returns the files of a new plugin, sorted by path. It checks the
// language and the name, and that the manifest it made is valid.
func Render(o Options) ([]File, error) {
	lang, err := Lookup(o.Lang)
	if err != nil {
		return nil, err
	}
	if err := checkName(o.Name); err != nil {
		return nil, err
	}
	d, err := newData(o)
	if err != nil {
		return nil, err
	}
	files, err := renderTemplates(lang.Name, d)
	if err != nil {
		return nil, err
	}
	vendored, err := vendorFiles(lang)
	if err != nil {
		return nil, err
	}
	files = append(files, vendored...)
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	if err := checkManifest(o, files); err != nil {
		return nil, err
	}
	return files, nil
}

// checkName holds the name to the manifest's rule, by parsing a manifest
// that has it: the rule is the manifest package's alone.
//
// Threat: the name becomes file names, paths in build commands and
// quoted strings in code; a name such as `../x` or `a" = 1` would write
// outside the directory or inject into what is made. The rule (lower-case
// letters, digits and single dashes) admits neither.
func checkName(name string) error {
	var probe bytes.Buffer
	err := toml.NewEncoder(&probe).Encode(map[string]any{
		"name": name, "version": Version, "tier": "process", "protocol": 1, "entry": "x",
	})
	if err != nil {
		return err
	}
	_, err = manifest.Parse("plugin.toml", probe.Bytes())
	var me *manifest.Error
	if errors.As(err, &me) {
		for _, p := range me.Problems {
			if p.Key == "name" {
				return fmt.Errorf("%w: %s", ErrInvalidName, p.Message)
			}
		}
	}
	if err != nil {
		return fmt.Errorf("%w: %q: %w", ErrInvalidName, name, err)
	}
	return nil
}

// checkManifest parses the plugin.toml among files: a template that makes
// an invalid one is a bug, caught before anything is written.
func checkManifest(o Options, files []File) error {
	for _, f := range files {
		if f.Path == "plugin.toml" {
			if _, err := manifest.Parse(f.Path, f.Data); err != nil {
				return fmt.Errorf("scaffold %s %s: the manifest made is invalid: %w", o.Lang, o.Name, err)
			}
			return nil
		}
	}
	return fmt.Errorf("scaffold %s: no plugin.toml template", o.Lang)
}

// renderTemplates renders templates/LANG.
func renderTemplates(lang string, d data) ([]File, error) {
	root := "templates/" + lang
	var files []File
	err := fs.WalkDir(templates, root, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		if !strings.HasSuffix(p, ".tmpl") {
			return fmt.Errorf("scaffold: %s: a template's name must end in .tmpl", p)
		}
		text, err := templates.ReadFile(p)
		if err != nil {
			return err
		}
		t, err := template.New(p).Option("missingkey=error").Parse(string(text))
		if err != nil {
			return fmt.Errorf("scaffold: %w", err)
		}
		var out bytes.Buffer
		if err := t.Execute(&out, d); err != nil {
			return fmt.Errorf("scaffold: %w", err)
		}
		rel := strings.TrimSuffix(strings.TrimPrefix(p, root+"/"), ".tmpl")
		files = append(files, File{Path: rel, Data: out.Bytes()})
		return nil
	})
	return files, err
}

// vendorFiles copies the language's SDK files out of sdk.Files.
func vendorFiles(lang Language) ([]File, error) {
	var files []File
	for from, to := range lang.vendor {
		err := fs.WalkDir(sdk.Files, from, func(p string, e fs.DirEntry, err error) error {
			if err != nil || e.IsDir() {
				return err
			}
			data, err := sdk.Files.ReadFile(p)
			if err != nil {
				return err
			}
			rel := strings.TrimPrefix(strings.TrimPrefix(p, from), "/")
			files = append(files, File{Path: path.Join(to, rel), Data: data})
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("scaffold: the embedded SDK: %w", err)
		}
	}
	return files, nil
}
