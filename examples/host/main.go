// Command host is the example host application of the Airlock demo; "go
// run ./examples/host" does what "airlock demo" does. Read demo/demo.go
// for how a host declares hooks and host functions and loads plugins: it
// uses only Airlock's public API, so it can be copied as the start of a
// host of your own.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"

	"github.com/airlock-go/airlock/examples/host/demo"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	wd, _ := os.Getwd()
	root, err := demo.FindRoot(wd)
	if err == nil {
		err = demo.Run(ctx, demo.Options{Root: root, Out: os.Stdout, Build: buildWith(root)})
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "host:", err)
		os.Exit(1)
	}
}

// buildWith builds a plugin with the airlock command of the repository at
// root ("airlock build DIR"); a host of your own would ship its plugins
// built and signed instead (docs/PACKAGES.md).
func buildWith(root string) func(ctx context.Context, dir string, log io.Writer) error {
	return func(ctx context.Context, dir string, log io.Writer) error {
		cmd := exec.CommandContext(ctx, "go", "run", "./cmd/airlock", "build", dir)
		cmd.Dir = root
		cmd.Stdout, cmd.Stderr = log, log
		return cmd.Run()
	}
}
