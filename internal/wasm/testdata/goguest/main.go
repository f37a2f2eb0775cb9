// Command goguest is a wasm guest for the tests, written with the Go SDK.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/airlock-go/airlock/sdk/go/plugin"
)

var sink [][]byte

func newPlugin() *plugin.Plugin {
	p := plugin.New("goguest", "1.0.0")
	plugin.Handle(p, "echo", func(_ context.Context, _ *plugin.Host, in json.RawMessage) (json.RawMessage, error) {
		return in, nil
	})
	plugin.Handle(p, "membomb", func(context.Context, *plugin.Host, any) (any, error) {
		for {
			sink = append(sink, make([]byte, 8<<20))
		}
	})
	plugin.Handle(p, "print", func(context.Context, *plugin.Host, any) (any, error) {
		fmt.Println("printed to stdout by the guest")
		return nil, nil
	})
	plugin.Handle(p, "panic", func(context.Context, *plugin.Host, any) (any, error) {
		panic("the guest panics")
	})
	plugin.Handle(p, "asset", func(_ context.Context, _ *plugin.Host, path string) (string, error) {
		data, err := os.ReadFile(path)
		return string(data), err
	})
	plugin.Handle(p, "plant", func(_ context.Context, _ *plugin.Host, path string) (any, error) {
		return nil, os.WriteFile(path, []byte("planted"), 0o644)
	})
	plugin.Handle(p, "kv", func(ctx context.Context, h *plugin.Host, in map[string]any) (any, error) {
		if err := h.Call(ctx, "kv.set", map[string]any{"key": "k", "value": in["value"]}, nil); err != nil {
			return nil, err
		}
		var out map[string]any
		err := h.Call(ctx, "kv.get", map[string]string{"key": "k"}, &out)
		return out, err
	})
	return p
}

func init() { plugin.Reactor(newPlugin) }

func main() { newPlugin().Main() }
