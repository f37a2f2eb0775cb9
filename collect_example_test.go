package airlock_test

import (
	"context"
	"fmt"

	"github.com/airlock-go/airlock"
	"github.com/airlock-go/airlock/sdk/go/plugin"
)

// MenuItem is what each plugin adds to the host's menu.
type MenuItem struct {
	Label string `json:"label"`
}

// A collect hook gathers one answer from every plugin that defines it, in
// the operator's order: here, the entries of a menu.
func ExampleCollectHook() {
	menu := airlock.NewCollectHook[struct{}, MenuItem]("menu.items")

	entry := func(name, label string) airlock.Builtin {
		p := plugin.New(name, "1.0.0")
		plugin.Handle(p, "menu.items", func(context.Context, *plugin.Host, struct{}) (MenuItem, error) {
			return MenuItem{Label: label}, nil
		})
		return airlock.Builtin{Plugin: p, Manifest: fmt.Sprintf("name = %q\nversion = \"1.0.0\"\ntier = \"builtin\"\nprotocol = 1\nhooks = [\"menu.items\"]\n", name)}
	}
	ctx := context.Background()
	h, _ := airlock.Open(ctx, &airlock.Config{Plugins: []airlock.PluginConfig{
		{Builtin: "reports", Priority: 10},
		{Builtin: "export", Priority: 20},
	}}, airlock.Options{
		Hooks:    []airlock.AnyHook{menu},
		Builtins: map[string]airlock.Builtin{"reports": entry("reports", "Monthly report"), "export": entry("export", "Export to CSV")},
	})
	defer h.Close(ctx)

	answers, _ := menu.Run(ctx, h, struct{}{})
	for _, a := range answers {
		fmt.Printf("%s: %s\n", a.Plugin, a.Value.Label)
	}
	// Output:
	// export: Export to CSV
	// reports: Monthly report
}
