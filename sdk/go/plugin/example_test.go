package plugin_test

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/airlock-go/airlock/sdk/go/plugin"
	"github.com/airlock-go/airlock/sdk/go/plugin/plugintest"
)

type greetIn struct {
	Name string `json:"name"`
}

type greetOut struct {
	Message string `json:"message"`
}

// A plugin declares its handlers and runs; main would end with p.Main().
// Here plugintest stands in for the host.
func Example() {
	p := plugin.New("greeter", "0.1.0")
	plugin.Handle(p, "greet", func(ctx context.Context, h *plugin.Host, in greetIn) (greetOut, error) {
		return greetOut{Message: h.String("greeting") + ", " + in.Name}, nil
	})
	// p.Main()

	host := &plugintest.Host{Config: map[string]any{"greeting": "hello"}}
	out, err := host.Invoke(context.Background(), p, plugintest.Call{Name: "greet", Phase: "define", Input: json.RawMessage(`{"name":"ada"}`)})
	fmt.Println(string(out), err)
	// Output: {"message":"hello, ada"} <nil>
}

// Settings decodes the plugin's settings (its manifest's [config], as the
// operator set them) into a struct: numbers as numbers, integers checked.
func ExampleSettings() {
	type settings struct {
		Greeting string `json:"greeting"`
		Workers  int    `json:"workers"`
	}
	p := plugin.New("greeter", "0.1.0")
	plugin.Handle(p, "describe", func(ctx context.Context, h *plugin.Host, _ any) (string, error) {
		s, err := plugin.Settings[settings](h)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%q with %d workers", s.Greeting, s.Workers), nil
	})
	host := &plugintest.Host{Config: map[string]any{"greeting": "hi", "workers": 4}}
	out, err := host.Invoke(context.Background(), p, plugintest.Call{Name: "describe"})
	fmt.Println(string(out), err)
	// Output: "\"hi\" with 4 workers" <nil>
}

// A handler calls the host's functions through h; a function the plugin
// was not granted is refused by the host with a plugin.Error.
func ExampleHost_Call() {
	p := plugin.New("counter", "0.1.0")
	plugin.Handle(p, "remember", func(ctx context.Context, h *plugin.Host, in string) (string, error) {
		err := h.Call(ctx, "kv.set", map[string]string{"key": "last", "value": in}, nil)
		return "stored", err
	})
	host := &plugintest.Host{
		Grants: []string{"kv"},
		HostCall: func(_ context.Context, fn string, input json.RawMessage) (json.RawMessage, error) {
			fmt.Println("host got", fn, string(input))
			return json.RawMessage("null"), nil
		},
	}
	out, err := host.Invoke(context.Background(), p, plugintest.Call{Name: "remember", Input: json.RawMessage(`"ada"`)})
	fmt.Println(string(out), err)
	// Output:
	// host got kv.set {"key":"last","value":"ada"}
	// "stored" <nil>
}
