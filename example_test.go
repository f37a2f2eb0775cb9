package airlock_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/airlock-go/airlock"
	"github.com/airlock-go/airlock/sdk/go/plugin"
)

// A host declares a hook with ordinary Go types and runs it; with no plugin
// defining it, the default runs.
func ExampleNewHook() {
	type Quote struct{ Amount float64 }
	type Fee struct{ Fee float64 }
	fee := airlock.NewHook("fee", func(_ context.Context, q Quote) (Fee, error) {
		return Fee{Fee: q.Amount * 0.01}, nil
	})
	h, _ := airlock.New(airlock.Options{})
	defer h.Close(context.Background())

	out, err := fee.Run(context.Background(), h, Quote{Amount: 250})
	fmt.Println(out.Fee, err)
	// Output: 2.5 <nil>
}

// A plugin defines the hook; the operator's configuration loads it with
// its grants and settings. A builtin plugin is used here so the example
// runs anywhere; a process or wasm plugin is loaded the same way with
// PluginConfig.Path.
func ExampleOpen() {
	p := plugin.New("discount", "1.0.0")
	plugin.Handle(p, "fee", func(ctx context.Context, h *plugin.Host, q struct{ Amount float64 }) (map[string]float64, error) {
		rate, _ := h.Config()["rate"].(float64)
		return map[string]float64{"Fee": q.Amount * rate}, nil
	})
	manifest := `
name = "discount"
version = "1.0.0"
tier = "builtin"
protocol = 1
hooks = ["fee"]
[config.rate]
type = "number"
default = 0.005
`
	cfg := &airlock.Config{Plugins: []airlock.PluginConfig{
		{Builtin: "discount", Config: map[string]any{"rate": 0.002}},
	}}
	h, err := airlock.Open(context.Background(), cfg, airlock.Options{
		Builtins: map[string]airlock.Builtin{"discount": {Manifest: manifest, Plugin: p}},
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer h.Close(context.Background())

	type Quote struct{ Amount float64 }
	type Fee struct{ Fee float64 }
	fee := airlock.NewHook[Quote, Fee]("fee", nil)
	out, err := fee.Run(context.Background(), h, Quote{Amount: 250})
	fmt.Println(out.Fee, err)
	// Output: 0.5 <nil>
}

// A host function is guarded by a capability; a plugin that was not
// granted it gets an error, and the refusal is audited.
func ExampleNewFunc() {
	balance := airlock.NewFunc("ledger.balance", "ledger.read",
		func(_ context.Context, c airlock.Caller, in struct {
			Account string `json:"account"`
		}) (float64, error) {
			return 1234.56, nil
		})

	p := plugin.New("peek", "1.0.0")
	plugin.Handle(p, "peek", func(ctx context.Context, h *plugin.Host, _ any) (string, error) {
		var b float64
		if err := h.Call(ctx, "ledger.balance", map[string]string{"account": "alice"}, &b); err != nil {
			return "refused: " + err.Error(), nil
		}
		return fmt.Sprint(b), nil
	})
	manifest := `
name = "peek"
version = "1.0.0"
tier = "builtin"
protocol = 1
functions = ["peek"]
[capabilities]
optional = ["ledger.read"]
`
	for _, grants := range [][]string{{"ledger.read"}, nil} {
		h, _ := airlock.New(airlock.Options{
			Functions: []airlock.Function{balance},
			Builtins:  map[string]airlock.Builtin{"peek": {Manifest: manifest, Plugin: p}},
			Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
			OnAudit:   func(ev airlock.AuditEvent) { fmt.Println("audit:", ev.Plugin, ev.Function, ev.Capability) },
		})
		h.Load(context.Background(), airlock.PluginConfig{Builtin: "peek", Grants: grants})
		out, _ := airlock.CallFunc[string](context.Background(), h, "peek", "peek", nil)
		fmt.Println(out)
		h.Close(context.Background())
	}
	// Output:
	// 1234.56
	// audit: peek ledger.balance ledger.read
	// refused: capability "ledger.read" not granted to plugin peek (needed by host function ledger.balance)
}
