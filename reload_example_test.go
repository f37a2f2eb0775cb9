package airlock_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/airlock-go/airlock"
	"github.com/airlock-go/airlock/sdk/go/plugin"
)

// Reload applies a changed configuration, here a plugin's setting, without
// dropping a call: the new instance starts before the old one stops taking
// calls.
func ExampleHost_Reload() {
	p := plugin.New("greeter", "1.0.0")
	plugin.Handle(p, "greet", func(_ context.Context, h *plugin.Host, name string) (string, error) {
		return h.String("greeting") + ", " + name, nil
	})
	manifest := "name = \"greeter\"\nversion = \"1.0.0\"\ntier = \"builtin\"\nprotocol = 1\nfunctions = [\"greet\"]\n[config.greeting]\ntype = \"string\"\n"
	config := func(greeting string) *airlock.Config {
		return &airlock.Config{Plugins: []airlock.PluginConfig{{Builtin: "greeter", Config: map[string]any{"greeting": greeting}}}}
	}
	ctx := context.Background()
	h, err := airlock.Open(ctx, config("hello"), airlock.Options{
		Builtins: map[string]airlock.Builtin{"greeter": {Manifest: manifest, Plugin: p}},
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer h.Close(ctx)

	before, _ := airlock.CallFunc[string](ctx, h, "greeter", "greet", "ada")
	if err := h.Reload(ctx, config("welcome")); err != nil {
		fmt.Println(err)
		return
	}
	after, _ := airlock.CallFunc[string](ctx, h, "greeter", "greet", "ada")
	fmt.Println(before)
	fmt.Println(after)
	// Output:
	// hello, ada
	// welcome, ada
}

// Discover lists the plugins in directories with the verdict Load would
// give on each, without starting any.
func ExampleHost_Discover() {
	ctx := context.Background()
	h, _ := airlock.New(airlock.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	defer h.Close(ctx)
	grants := func(name string) airlock.PluginConfig {
		return airlock.PluginConfig{Grants: []string{"log"}} // from the operator's host.toml, by name
	}
	cands, err := h.Discover(ctx, grants, "examples/plugins/hello-python")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, c := range cands {
		fmt.Println(c.Name, c.Tier, c.Err == nil)
	}
	// Output: hello-python process true
}
