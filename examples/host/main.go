// Command host is the example host application of the Airlock demo; "go
// run ./examples/host" does what "airlock demo" does. Read demo/demo.go
// for how a host declares hooks and host functions and loads plugins.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"

	"github.com/airlock-go/airlock/examples/host/demo"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	wd, _ := os.Getwd()
	root, err := demo.FindRoot(wd)
	if err == nil {
		err = demo.Run(ctx, demo.Options{Root: root, Out: os.Stdout})
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "host:", err)
		os.Exit(1)
	}
}
