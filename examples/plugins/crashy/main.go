// Command crashy is an example Airlock plugin that misbehaves on request:
// "crash" exits mid-call, "hang" never answers and ignores cancellation.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/airlock-go/airlock/sdk/go/plugin"
)

func main() {
	p := plugin.New("crashy", "0.1.0")
	plugin.Handle(p, "ping", func(context.Context, *plugin.Host, any) (string, error) {
		return "pong", nil
	})
	plugin.Handle(p, "crash", func(context.Context, *plugin.Host, any) (any, error) {
		fmt.Fprintln(os.Stderr, "crashy: about to exit in the middle of a call")
		os.Exit(3)
		return nil, nil
	})
	plugin.Handle(p, "hang", func(context.Context, *plugin.Host, any) (any, error) {
		for {
			time.Sleep(time.Hour) // ignores its context on purpose
		}
	})
	p.Main()
}
