// Command hello-go is an example Airlock plugin: it implements the hook
// "greet", which takes {"name": "ada"} and returns {"message": "hello, ada"}
// using its "greeting" setting, and logs through the host.
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

func main() {
	p := plugin.New("hello-go", "0.1.0")
	plugin.Handle(p, "greet", greet)
	p.Main()
}
