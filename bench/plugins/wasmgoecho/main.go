// Command wasmgoecho is the benchmarks' wasm echo plugin written with
// the Go SDK (GOOS=wasip1, -buildmode=c-shared), wasmecho's twin.
package main

import (
	"context"
	"encoding/json"

	"github.com/airlock-go/airlock/sdk/go/plugin"
)

func newPlugin() *plugin.Plugin {
	p := plugin.New("wasmgoecho", "1.0.0")
	plugin.Handle(p, "echo", func(_ context.Context, _ *plugin.Host, in json.RawMessage) (json.RawMessage, error) {
		return in, nil
	})
	return p
}

func init() { plugin.Reactor(newPlugin) }

func main() { newPlugin().Main() }
