package main

import (
	"context"
	"flag"
	"os"

	"github.com/airlock-go/airlock/examples/host/demo"
)

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
			return demo.Run(ctx, demo.Options{Root: dir, Out: c.stdout})
		}
	},
}
