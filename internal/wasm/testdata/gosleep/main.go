// Command gosleep is a wasm guest for the tests, written with the Go SDK,
// that sleeps: time.Sleep reaches the host through WASI's poll_oneoff.
package main

import (
	"context"
	"time"

	"github.com/airlock-go/airlock/sdk/go/plugin"
)

func newPlugin() *plugin.Plugin {
	p := plugin.New("gosleep", "1.0.0")
	plugin.Handle(p, "sleep", func(_ context.Context, _ *plugin.Host, in struct {
		MS int `json:"ms"`
	}) (any, error) {
		start := time.Now()
		time.Sleep(time.Duration(in.MS) * time.Millisecond)
		return time.Since(start).Milliseconds(), nil
	})
	return p
}

func init() { plugin.Reactor(newPlugin) }

func main() { newPlugin().Main() }
