package main

import (
	"context"
	"flag"
	"io"
	"os"

	"github.com/airlock-go/airlock/examples/host/demo"
	"github.com/airlock-go/airlock/internal/build"
	"github.com/airlock-go/airlock/internal/manifest"
)

// buildDir builds the plugin in dir as "airlock build DIR" does.
func buildDir(ctx context.Context, dir string, log io.Writer) error {
	man, err := manifest.Load(dir)
	if err != nil {
		return err
	}
	return build.Run(ctx, man, log)
}

var demoCommand = command{
	summary: "Run the example host: load the example plugins, dispatch hooks, show a denial and a crash being contained.",
	usage:   "[--root DIR]",
	setup: func(fs *flag.FlagSet) runFunc {
		root := fs.String("root", "", "the Airlock repository (default: found from the current directory)")
		return func(ctx context.Context, c *cli, args []string) error {
			if len(args) != 0 {
				return usagef("demo takes no arguments")
			}
			dir := *root
			if dir == "" {
				wd, err := os.Getwd()
				if err != nil {
					return err
				}
				if dir, err = demo.FindRoot(wd); err != nil {
					return err
				}
			}
			return demo.Run(ctx, demo.Options{Root: dir, Out: c.stdout, Build: buildDir})
		}
	},
}
