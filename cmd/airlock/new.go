package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/airlock-go/airlock/internal/scaffold"
)

var newCommand = command{
	summary: "Make a new plugin directory: manifest, code using an SDK, build step, a test and a README (LANG: " + strings.Join(scaffold.LanguageNames(), ", ") + ").",
	usage:   "LANG NAME [-dir DIR]",
	setup: func(fs *flag.FlagSet) runFunc {
		dir := fs.String("dir", "", "the directory to make, which must not exist or be empty (default ./NAME)")
		return func(ctx context.Context, c *cli, args []string) error {
			if len(args) != 2 {
				return usagef("want a language and a plugin name")
			}
			lang, name := args[0], args[1]
			target := *dir
			if target == "" {
				target = name
			}
			files, err := scaffold.New(target, scaffold.Options{Lang: lang, Name: name})
			if errors.Is(err, scaffold.ErrUnknownLanguage) || errors.Is(err, scaffold.ErrInvalidName) {
				return usagef("%v", err)
			}
			if err != nil {
				return fmt.Errorf("plugin %s: %w", name, err)
			}
			printNewDone(c, lang, name, target, len(files))
			return nil
		}
	},
}

// printNewDone says what was made and what to do next.
func printNewDone(c *cli, lang, name, dir string, files int) {
	l, _ := scaffold.Lookup(lang)
	fmt.Fprintf(c.stdout, "made %s in %s (%d files): %s\n\nNext:\n", name, dir, files, l.Summary)
	fmt.Fprintf(c.stdout, "  cd %s\n", dir)
	if (lang == "go" || lang == "go-wasm") && scaffold.ModuleVersion() == scaffold.DevelVersion {
		fmt.Fprintf(c.stdout, "  go mod edit -replace %s=/path/to/airlock   # this airlock was built from a checkout\n", scaffold.Module)
	}
	if lang != "python" {
		fmt.Fprintf(c.stdout, "  airlock build .\n")
	}
	fmt.Fprintf(c.stdout, "  %s\n", strings.Join(l.Test, " "))
	fmt.Fprintf(c.stdout, "  airlock check . --sample 'greet={\"name\":\"ada\"}'\n")
	fmt.Fprintf(c.stdout, "\n%s says more, and how to pack it.\n", filepath.Join(dir, "README.md"))
}
