package airlock_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/airlock-go/airlock"
	"github.com/airlock-go/airlock/sdk/go/plugin"
)

// Payment and Decision are the types of the host's "payment.approve" hook.
type Payment struct {
	Account string  `json:"account"`
	Amount  float64 `json:"amount" jsonschema:"minimum=0"`
	Memo    string  `json:"memo,omitempty"`
}

type Decision struct {
	Approved bool   `json:"approved"`
	Reason   string `json:"reason,omitempty"`
}

var approvePayment = airlock.NewHook("payment.approve", func(_ context.Context, p Payment) (Decision, error) {
	return Decision{Approved: p.Amount < 1000}, nil
})

// A host declares its contract in Options: its hooks, its functions and a
// version. A plugin implementing a hook the host does not have is refused
// at load, as is an operator's grant of a capability nobody knows.
func ExampleOptions_contract() {
	guard := plugin.New("guard", "1.0.0")
	plugin.Handle(guard, "payment.aprove", func(context.Context, *plugin.Host, Payment) (any, error) { return nil, nil })
	auditor := plugin.New("auditor", "1.0.0")
	plugin.Handle(auditor, "payment.approve", func(context.Context, *plugin.Host, any) (any, error) { return nil, nil })
	manifest := func(name, hook, phase string) string {
		return fmt.Sprintf("name = %q\nversion = \"1.0.0\"\ncontract = \"1.1.0\"\ntier = \"builtin\"\nprotocol = 1\nhooks = [%q]\n[hook.%q]\nphase = %q\n[capabilities]\noptional = [\"log\"]\n", name, hook, hook, phase)
	}
	h, err := airlock.New(airlock.Options{
		ContractVersion: "1.2.0",
		Hooks:           []airlock.AnyHook{approvePayment},
		Builtins: map[string]airlock.Builtin{
			"guard":   {Plugin: guard, Manifest: manifest("guard", "payment.aprove", "before")},
			"auditor": {Plugin: auditor, Manifest: manifest("auditor", "payment.approve", "after")},
		},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer h.Close(context.Background())

	_, err = h.Load(context.Background(), airlock.PluginConfig{Builtin: "guard"})
	fmt.Println(errors.Is(err, airlock.ErrContract), err)
	_, err = h.Load(context.Background(), airlock.PluginConfig{Builtin: "auditor", Grants: []string{"lgo"}})
	fmt.Println(errors.Is(err, airlock.ErrInvalidConfig), err)
	// Output:
	// true plugin guard: load: does not fit the host's contract: it implements hook "payment.aprove", which this host does not have (did you mean "payment.approve"?)
	// true plugin auditor: load: invalid configuration: grants: "lgo" is no capability this host knows (did you mean "log"?)
}

// The contract is one JSON document: hooks and host functions with the
// JSON Schemas of their Go types, and the capabilities. "airlock contract"
// prints it for a host program.
func ExampleHost_Contract() {
	h, _ := airlock.New(airlock.Options{ContractVersion: "1.2.0", Hooks: []airlock.AnyHook{approvePayment}})
	defer h.Close(context.Background())

	var contract struct {
		Version string
		Hooks   []struct {
			Name  string
			Input json.RawMessage
		}
	}
	_ = json.Unmarshal(h.Contract(), &contract)
	fmt.Println(contract.Version, contract.Hooks[0].Name)
	var compact bytes.Buffer
	_ = json.Compact(&compact, contract.Hooks[0].Input)
	fmt.Println(compact.String())
	// Output:
	// 1.2.0 payment.approve
	// {"$schema":"https://json-schema.org/draft/2020-12/schema","additionalProperties":false,"properties":{"account":{"type":"string"},"amount":{"minimum":0,"type":"number"},"memo":{"type":"string"}},"required":["account","amount"],"title":"Payment","type":"object"}
}

// A define handler's result is checked against the hook's output type: a
// misspelled field is an error that names the plugin, the hook and the
// JSON path, never a zero value.
func ExampleHook_Run_badResult() {
	sloppy := plugin.New("sloppy", "1.0.0")
	plugin.Handle(sloppy, "payment.approve", func(context.Context, *plugin.Host, Payment) (map[string]any, error) {
		return map[string]any{"aproved": true}, nil
	})
	h, _ := airlock.New(airlock.Options{
		Hooks: []airlock.AnyHook{approvePayment},
		Builtins: map[string]airlock.Builtin{"sloppy": {Plugin: sloppy, Manifest: `
name = "sloppy"
version = "1.0.0"
tier = "builtin"
protocol = 1
hooks = ["payment.approve"]
`}},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	defer h.Close(context.Background())
	_, _ = h.Load(context.Background(), airlock.PluginConfig{Builtin: "sloppy"})

	_, err := approvePayment.Run(context.Background(), h, Payment{Account: "alice", Amount: 10})
	fmt.Println(errors.Is(err, airlock.ErrBadResult))
	fmt.Println(err)
	// Output:
	// true
	// plugin sloppy: hook payment.approve: result does not match the output type: /approved: missing; /aproved: unknown field
}

// With ValidateHostValues, what the host sends is checked too, including
// the constraints of jsonschema tags, which Go's types cannot express.
func ExampleOptions_validateHostValues() {
	watcher := plugin.New("watcher", "1.0.0")
	plugin.Handle(watcher, "payment.approve", func(context.Context, *plugin.Host, Payment) (any, error) { return nil, nil })
	h, _ := airlock.New(airlock.Options{
		Hooks:              []airlock.AnyHook{approvePayment},
		ValidateHostValues: true,
		Builtins: map[string]airlock.Builtin{"watcher": {Plugin: watcher, Manifest: `
name = "watcher"
version = "1.0.0"
tier = "builtin"
protocol = 1
hooks = ["payment.approve"]
[hook."payment.approve"]
phase = "before"
`}},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	defer h.Close(context.Background())
	_, _ = h.Load(context.Background(), airlock.PluginConfig{Builtin: "watcher"})

	_, err := approvePayment.Run(context.Background(), h, Payment{Account: "alice", Amount: -10})
	fmt.Println(errors.Is(err, airlock.ErrBadInput))
	fmt.Println(err)
	// Output:
	// true
	// hook payment.approve: input does not match the input type: /amount: minimum: got -10, want 0
}
