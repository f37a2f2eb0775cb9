package main

import (
	"context"
	"flag"

	"github.com/airlock-go/airlock/internal/build"
	"github.com/airlock-go/airlock/internal/manifest"
)

var buildCommand = command{
	summary: "Build a plugin from source by running its manifest's [build] command in its directory.",
	usage:   "DIR",
	setup: func(fs *flag.FlagSet) runFunc {
		return func(ctx context.Context, c *cli, args []string) error {
			if len(args) != 1 {
				return usagef("want one plugin directory")
			}
			man, err := manifest.Load(args[0])
			if err != nil {
				return err
			}
			return build.Run(ctx, man, c.stderr)
		}
	},
}
