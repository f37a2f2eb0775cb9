// Command hello-wasm-go is an example Airlock plugin for the wasm tier: the
// hook "greet" takes {"name": "ada"} and returns {"message": "hello, ada"}
// using the "greeting" setting, and logs through the host.
//
// Build it with `airlock build .` (GOOS=wasip1 GOARCH=wasm
// -buildmode=c-shared). The same file also builds as a process plugin.
package main

import (
	"context"
	"errors"
	"strings"

	"github.com/airlock-go/airlock/sdk/go/plugin"
)

// GreetInput is the input of the greet hook.
type GreetInput struct {
	Name string `json:"name"`
}

// GreetOutput is its output.
type GreetOutput struct {
	Message string `json:"message"`
}

func greet(ctx context.Context, h *plugin.Host, in GreetInput) (GreetOutput, error) {
	name := strings.TrimSpace(in.Name)
	if name == "" {
		return GreetOutput{}, errors.New("greet: name is empty")
	}
	if err := h.Log(ctx, "info", "greeting someone", "name", name); err != nil {
		return GreetOutput{}, err
	}
	greeting := h.String("greeting")
	if greeting == "" {
		greeting = "hello"
	}
	return GreetOutput{Message: greeting + ", " + name}, nil
}

func newPlugin() *plugin.Plugin {
	p := plugin.New("hello-wasm-go", "0.1.0")
	plugin.Handle(p, "greet", greet)
	return p
}

// In a wasm build, init registers the plugin and main never runs.
func init() { plugin.Reactor(newPlugin) }

func main() { newPlugin().Main() }
