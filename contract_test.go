package airlock_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/airlock-go/airlock"
	"github.com/airlock-go/airlock/sdk/go/plugin"
)

// contractPlugin makes a builtin plugin called name whose manifest lists
// hooks and functions (each handled by a function returning null) plus
// extra manifest lines.
func contractPlugin(name string, hooks, functions []string, extra string) airlock.Builtin {
	p := plugin.New(name, "1.0.0")
	for _, n := range append(slices.Clone(hooks), functions...) {
		p.HandleRaw(n, func(context.Context, *plugin.Host, json.RawMessage) (any, error) { return nil, nil })
	}
	list := func(names []string) string {
		b, _ := json.Marshal(names)
		return string(b)
	}
	return airlock.Builtin{Plugin: p, Manifest: fmt.Sprintf("name = %q\nversion = \"1.0.0\"\ntier = \"builtin\"\nprotocol = 1\nhooks = %s\nfunctions = %s\n%s",
		name, list(append([]string{}, hooks...)), list(append([]string{}, functions...)), extra)}
}

var notify = airlock.NewHook[order, struct{}]("payment.done", nil)

// A host that declares its contract refuses, at load, a plugin that
// implements a hook it does not have, naming the plugin and the hook and
// suggesting a near name; the plugin is never started. Functions are the
// plugin's own and are not checked.
func TestContractRefusesUnknownHooks(t *testing.T) {
	cases := []struct {
		name      string
		hooks     []string
		functions []string
		want      []string // in the error; none: it loads
	}{
		{"known hooks", []string{"approve", "payment.done"}, nil, nil},
		{"functions are the plugin's own", []string{"approve"}, []string{"anything", "approve.later"}, nil},
		{"typo", []string{"aprove"}, nil, []string{`it implements hook "aprove", which this host does not have (did you mean "approve"?)`}},
		{"typo in a dotted name", []string{"payment.don"}, nil, []string{`hook "payment.don"`, `(did you mean "payment.done"?)`}},
		{"nothing near", []string{"farewell"}, nil, []string{`hook "farewell", which this host does not have (it has approve, payment.done)`}},
		{"every unknown hook at once", []string{"approve", "aprove", "farewell"}, nil, []string{`hook "aprove"`, `hook "farewell"`}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			name := []string{"known", "own", "typo", "dotted", "near", "every"}[i]
			b := contractPlugin(name, c.hooks, c.functions, "")
			h, _ := newHost(t, airlock.Options{Hooks: []airlock.AnyHook{approve, notify}, Builtins: map[string]airlock.Builtin{name: b}})
			_, err := h.Load(context.Background(), airlock.PluginConfig{Builtin: name})
			if c.want == nil {
				if err != nil {
					t.Fatalf("load: %v", err)
				}
				return
			}
			var pe *airlock.PluginError
			if !errors.Is(err, airlock.ErrContract) || !errors.As(err, &pe) || pe.Plugin != name || pe.Op != "load" {
				t.Fatalf("err = %v, want a load error of plugin %s wrapping ErrContract", err, name)
			}
			if !strings.HasPrefix(err.Error(), "plugin "+name+": load: does not fit the host's contract: ") {
				t.Errorf("err = %q, want it to start by naming the plugin", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err = %q, want it to say %q", err, w)
				}
			}
			if len(h.Plugins()) != 0 {
				t.Errorf("a refused plugin is loaded: %+v", h.Plugins())
			}
		})
	}
}

// A host that declares no contract (no Hooks, no ContractVersion) loads
// any plugin's hooks and any well-formed grant, as before contracts.
func TestContractUndeclaredHostIsLenient(t *testing.T) {
	b := contractPlugin("old", []string{"aprove"}, nil, "contract = \"9.0.0\"\n[capabilities]\noptional = [\"log\"]")
	h, _ := newHost(t, airlock.Options{Builtins: map[string]airlock.Builtin{"old": b}})
	load(t, h, airlock.PluginConfig{Builtin: "old", Grants: []string{"log", "lgo", "env"}})
	var doc struct {
		Enforced bool `json:"enforced"`
		Version  *string
		Hooks    []any `json:"hooks"`
	}
	if err := json.Unmarshal(h.Contract(), &doc); err != nil || doc.Enforced || doc.Version != nil || len(doc.Hooks) != 0 {
		t.Errorf("contract of an undeclared host: %+v, %v; want not enforced, no version, no hooks", doc, err)
	}
}

// The contract version: same major, and the plugin's minor no newer than
// the host's; either side may leave it out.
func TestContractVersion(t *testing.T) {
	cases := []struct {
		host, plugin string
		want         []string // in the error; none: it loads
	}{
		{"1.4.0", "1.4.0", nil},
		{"1.4.0", "1.2.7", nil},
		{"1.4.0", "1.4.9", nil}, // patches do not matter
		{"1.4.0", "1.0.0-rc.1", nil},
		{"1.4.0", "", nil}, // the plugin does not say
		{"", "3.1.0", nil}, // the host declares hooks but no version
		{"1.4.0", "1.5.0", []string{`built against contract 1.5.0 (key "contract" of its manifest), newer than this host's 1.4.0`, "use a build of the plugin for 1.4"}},
		{"1.4.0", "2.0.0", []string{`built against contract 2.0.0`, `this host's contract is 1.4.0: a different major version`, "for 1.x"}},
		{"2.0.0", "1.9.0", []string{`contract 1.9.0`, `this host's contract is 2.0.0: a different major version`}},
		{"0.3.0", "1.0.0", []string{"a different major version"}},
	}
	for _, c := range cases {
		t.Run(c.host+" runs "+c.plugin, func(t *testing.T) {
			extra := ""
			if c.plugin != "" {
				extra = fmt.Sprintf("contract = %q", c.plugin)
			}
			b := contractPlugin("versioned", []string{"approve"}, nil, extra)
			h, _ := newHost(t, airlock.Options{ContractVersion: c.host, Hooks: []airlock.AnyHook{approve}, Builtins: map[string]airlock.Builtin{"versioned": b}})
			_, err := h.Load(context.Background(), airlock.PluginConfig{Builtin: "versioned"})
			if c.want == nil {
				if err != nil {
					t.Fatalf("load: %v", err)
				}
				return
			}
			if !errors.Is(err, airlock.ErrContract) || !strings.Contains(err.Error(), "plugin versioned: load:") {
				t.Fatalf("err = %v, want ErrContract naming the plugin", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err = %q, want it to say %q", err, w)
				}
			}
		})
	}
}

// ContractVersion alone declares the contract: a host with no hooks
// refuses every hook.
func TestContractVersionAloneDeclares(t *testing.T) {
	b := contractPlugin("hooky", []string{"approve"}, nil, "")
	h, _ := newHost(t, airlock.Options{ContractVersion: "1.0.0", Builtins: map[string]airlock.Builtin{"hooky": b}})
	_, err := h.Load(context.Background(), airlock.PluginConfig{Builtin: "hooky"})
	if !errors.Is(err, airlock.ErrContract) || !strings.Contains(err.Error(), "(it declares none)") {
		t.Errorf("err = %v, want ErrContract: the host declares no hooks", err)
	}
}

// A grant naming no capability the host knows is an error with a
// suggestion, not silently dropped.
func TestContractGrants(t *testing.T) {
	ledger := airlock.NewFunc("ledger.balance", "ledger.read", func(context.Context, airlock.Caller, struct{}) (int, error) { return 0, nil })
	cases := []struct {
		grants []string
		want   []string // in the error; none: it loads
	}{
		{[]string{"log", "kv", "env:HOME", "env:*", "fs.read:/srv", "fs.write:/tmp", "net", "unix", "http:*.example.com", "spawn", "ledger.read"}, nil},
		{[]string{"ledger.read:alice"}, nil}, // a host capability's scope is the host's to check
		{[]string{"lgo"}, []string{`grants: "lgo" is no capability this host knows (did you mean "log"?)`}},
		{[]string{"ledger.raed"}, []string{`"ledger.raed" is no capability this host knows (did you mean "ledger.read"?)`}},
		{[]string{"fs.raed:/srv"}, []string{`(did you mean "fs.read:/srv"?)`}},
		{[]string{"payments.send"}, []string{`"payments.send" is no capability this host knows (its contract lists them: airlock contract)`}},
		{[]string{"env"}, []string{`"env" needs a scope: env:NAME`}},
		{[]string{"fs.read"}, []string{`"fs.read" needs a scope: fs.read:PATH`}},
		{[]string{"log:debug"}, []string{`"log:debug": log takes no scope (grant "log")`}},
		{[]string{"lgo", "log", "kvv"}, []string{`"lgo"`, `"kvv" is no capability this host knows (did you mean "kv"?)`}},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.grants, ","), func(t *testing.T) {
			b := contractPlugin("granted", nil, []string{"f"}, "[capabilities]\noptional = [\"log\"]")
			h, _ := newHost(t, airlock.Options{ContractVersion: "1.0.0", Functions: []airlock.Function{ledger}, Builtins: map[string]airlock.Builtin{"granted": b}})
			_, err := h.Load(context.Background(), airlock.PluginConfig{Builtin: "granted", Grants: c.grants})
			if c.want == nil {
				if err != nil {
					t.Fatalf("load: %v", err)
				}
				return
			}
			if !errors.Is(err, airlock.ErrInvalidConfig) || !strings.Contains(err.Error(), "plugin granted: load:") {
				t.Fatalf("err = %v, want ErrInvalidConfig naming the plugin", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err = %q, want it to say %q", err, w)
				}
			}
		})
	}
}

func TestNewRejectsBadContracts(t *testing.T) {
	var nilHook *airlock.Hook[order, verdict]
	cases := []struct {
		name string
		opts airlock.Options
		want string
	}{
		{"version", airlock.Options{ContractVersion: "1.2"}, `ContractVersion "1.2" is not a semantic version`},
		{"nil hook", airlock.Options{Hooks: []airlock.AnyHook{approve, nil}}, "Options.Hooks[1] is nil"},
		{"typed nil hook", airlock.Options{Hooks: []airlock.AnyHook{nilHook}}, "Options.Hooks[0] is nil"},
		{"twice", airlock.Options{Hooks: []airlock.AnyHook{approve, airlock.NewHook[int, int]("approve", nil)}}, `hook "approve" declared twice`},
		{"bad name", airlock.Options{Hooks: []airlock.AnyHook{airlock.NewHook[int, int]("Approve!", nil)}}, `hook "Approve!": a hook's name is a lower-case identifier`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := airlock.New(c.opts)
			if !errors.Is(err, airlock.ErrInvalidConfig) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want ErrInvalidConfig saying %q", err, c.want)
			}
		})
	}
}

// A host that declares its contract runs only the hooks it declares, with
// the types it declares: the contract it exports is the one that runs.
func TestHookRunMustBeDeclared(t *testing.T) {
	h, _ := newHost(t, airlock.Options{Hooks: []airlock.AnyHook{approve}})
	if _, err := approve.Run(context.Background(), h, order{Amount: 5}); err != nil {
		t.Fatalf("declared hook: %v", err)
	}
	undeclared := airlock.NewHook("aprove", func(context.Context, order) (verdict, error) { return verdict{}, nil })
	_, err := undeclared.Run(context.Background(), h, order{})
	if !errors.Is(err, airlock.ErrContract) || !strings.Contains(err.Error(), `hook aprove: does not fit the host's contract: hook "aprove" is not in Options.Hooks (did you mean "approve"?)`) {
		t.Errorf("undeclared hook: err = %v", err)
	}
	retyped := airlock.NewHook("approve", func(context.Context, map[string]any) (verdict, error) { return verdict{}, nil })
	_, err = retyped.Run(context.Background(), h, map[string]any{})
	if !errors.Is(err, airlock.ErrContract) || !strings.Contains(err.Error(), "declared in Options.Hooks as Hook[airlock_test.order, airlock_test.verdict], not Hook[map[string]interface {}, airlock_test.verdict]") {
		t.Errorf("retyped hook: err = %v", err)
	}
}

type quote struct {
	Lines []line `json:"lines"`
	Note  string `json:"note,omitempty"`
}

type line struct {
	Amount float64 `json:"amount"`
}

var priceHook = airlock.NewHook[order, quote]("price", nil)

// A define handler's result is validated against the output type before it
// is decoded: a missing, misspelled or mistyped field is ErrBadResult with
// its JSON path, never a zero value.
func TestDefineResultIsValidated(t *testing.T) {
	cases := []struct {
		result string
		want   string // in the error; empty: it is accepted
	}{
		{`{"lines":[{"amount":1}]}`, ""},
		{`{"lines":null,"note":"x"}`, ""}, // a nil slice, as Go encodes it
		{`{}`, "/lines: missing"},
		{`{"lines":[{"amount":1},{"amont":2}]}`, "/lines/1/amont: unknown field; /lines/1/amount: missing"},
		{`{"lines":[{"amount":"1"}]}`, "/lines/0/amount: got string, want number"},
		{`{"Lines":[]}`, "/Lines: unknown field; /lines: missing"}, // exact names: not encoding/json's case folding
		{`[1]`, "(root): got array, want object"},
		{`null`, "(root): got null, want object"},
	}
	for _, c := range cases {
		t.Run(c.result, func(t *testing.T) {
			p := plugin.New("pricer", "1.0.0")
			p.HandleRaw("price", func(context.Context, *plugin.Host, json.RawMessage) (any, error) {
				return json.RawMessage(c.result), nil
			})
			b := airlock.Builtin{Plugin: p, Manifest: "name = \"pricer\"\nversion = \"1.0.0\"\ntier = \"builtin\"\nprotocol = 1\nhooks = [\"price\"]\n"}
			h, _ := newHost(t, airlock.Options{Hooks: []airlock.AnyHook{priceHook}, Builtins: map[string]airlock.Builtin{"pricer": b}})
			load(t, h, airlock.PluginConfig{Builtin: "pricer"})
			out, err := priceHook.Run(context.Background(), h, order{})
			if c.want == "" {
				if err != nil {
					t.Fatalf("valid result refused: %v", err)
				}
				return
			}
			var pe *airlock.PluginError
			if !errors.Is(err, airlock.ErrBadResult) || !errors.As(err, &pe) || pe.Plugin != "pricer" || pe.Name != "price" {
				t.Fatalf("err = %v (out %+v), want ErrBadResult naming pricer and price", err, out)
			}
			if want := "plugin pricer: hook price: result does not match the output type: " + c.want; err.Error() != want {
				t.Errorf("err = %q\nwant  %q", err, want)
			}
		})
	}
}

type balanceIn struct {
	Account string `json:"account"`
}

type optionsIn struct {
	Verbose bool `json:"verbose,omitempty"`
}

// What a plugin sends a host function is validated before the function
// runs, after the grant check: the plugin is told what is wrong (code
// -32602, the plugin, the function, the JSON paths), the host logs it, and
// the function never sees a zero value.
func TestHostFunctionInputIsValidated(t *testing.T) {
	var ran atomic.Int32
	balance := airlock.NewFunc("ledger.balance", "ledger.read", func(_ context.Context, _ airlock.Caller, in balanceIn) (float64, error) {
		ran.Add(1)
		return 10, nil
	})
	opts := airlock.NewFunc("ledger.options", "ledger.read", func(_ context.Context, _ airlock.Caller, in optionsIn) (bool, error) {
		ran.Add(1)
		return in.Verbose, nil
	})
	// The plugin calls the host function named in its input with the
	// given input, and reports what it got back.
	p := plugin.New("caller", "1.0.0")
	plugin.Handle(p, "call", func(ctx context.Context, h *plugin.Host, in struct {
		Fn    string          `json:"fn"`
		Input json.RawMessage `json:"input"`
	}) (map[string]any, error) {
		var out any
		err := h.Call(ctx, in.Fn, in.Input, &out)
		var pe *plugin.Error
		if errors.As(err, &pe) {
			return map[string]any{"code": pe.Code, "message": pe.Message}, nil
		}
		return map[string]any{"result": out}, err
	})
	manifest := "name = \"caller\"\nversion = \"1.0.0\"\ntier = \"builtin\"\nprotocol = 1\nfunctions = [\"call\"]\n[capabilities]\noptional = [\"ledger.read\"]\n"
	cases := []struct {
		fn, input string
		grants    []string
		code      float64
		message   string // exactly
	}{
		{"ledger.balance", `{"account":"alice"}`, []string{"ledger.read"}, 0, ""},
		{"ledger.balance", `{"acount":"alice"}`, []string{"ledger.read"}, -32602,
			"plugin caller: host call ledger.balance: input does not match the input type: /account: missing; /acount: unknown field"},
		{"ledger.balance", `{"account":7}`, []string{"ledger.read"}, -32602,
			"plugin caller: host call ledger.balance: input does not match the input type: /account: got number, want string"},
		{"ledger.balance", `null`, []string{"ledger.read"}, -32602,
			"plugin caller: host call ledger.balance: input does not match the input type: (root): got null, want object"},
		// No required field: null is "no input".
		{"ledger.options", `null`, []string{"ledger.read"}, 0, ""},
		{"ledger.options", `{}`, []string{"ledger.read"}, 0, ""},
		// Without the grant the plugin learns nothing of the types.
		{"ledger.balance", `{"acount":"alice"}`, nil, -32001,
			`capability "ledger.read" not granted to plugin caller (needed by host function ledger.balance)`},
	}
	for _, c := range cases {
		t.Run(c.fn+" "+c.input, func(t *testing.T) {
			ran.Store(0)
			h, rec := newHost(t, airlock.Options{ContractVersion: "1.0.0", Functions: []airlock.Function{balance, opts},
				Builtins: map[string]airlock.Builtin{"caller": {Manifest: manifest, Plugin: p}}})
			load(t, h, airlock.PluginConfig{Builtin: "caller", Grants: c.grants})
			out, err := airlock.CallFunc[map[string]any](context.Background(), h, "caller", "call", map[string]any{"fn": c.fn, "input": json.RawMessage(c.input)})
			if err != nil {
				t.Fatal(err)
			}
			if c.code == 0 {
				if out["code"] != nil || ran.Load() != 1 {
					t.Errorf("valid input: plugin saw %v, function ran %d times", out, ran.Load())
				}
				return
			}
			if out["code"] != c.code || out["message"] != c.message {
				t.Errorf("plugin saw %v\nwant code %v, message %q", out, c.code, c.message)
			}
			if ran.Load() != 0 {
				t.Error("the host function ran on a refused input")
			}
			if c.code == -32602 && !strings.Contains(rec.String(), `msg="host function input refused" plugin=caller function=ledger.balance`) {
				t.Errorf("refusal not logged:\n%s", rec)
			}
		})
	}
}

type amountIn struct {
	Amount int `json:"amount" jsonschema:"minimum=0"`
}

type levelOut struct {
	Level string `json:"level" jsonschema:"enum=low,enum=high"`
}

// ValidateHostValues also checks what the host sends; without it, the
// host's values go out unchecked.
func TestValidateHostValues(t *testing.T) {
	var saw atomic.Int32
	check := airlock.NewHook("check", func(_ context.Context, in amountIn) (levelOut, error) {
		return levelOut{Level: "medium"}, nil // outside its own enum
	})
	level := airlock.NewFunc("level", "log", func(context.Context, airlock.Caller, struct{}) (levelOut, error) {
		return levelOut{Level: "medium"}, nil
	})
	newPlugin := func() airlock.Builtin {
		p := plugin.New("watcher", "1.0.0")
		p.HandleRaw("check", func(context.Context, *plugin.Host, json.RawMessage) (any, error) { saw.Add(1); return nil, nil })
		plugin.Handle(p, "level", func(ctx context.Context, h *plugin.Host, _ any) (string, error) {
			err := h.Call(ctx, "level", nil, nil)
			if err != nil {
				return err.Error(), nil
			}
			return "ok", nil
		})
		return airlock.Builtin{Plugin: p, Manifest: "name = \"watcher\"\nversion = \"1.0.0\"\ntier = \"builtin\"\nprotocol = 1\nhooks = [\"check\"]\nfunctions = [\"level\"]\n[hook.check]\nphase = \"after\"\n[capabilities]\nrequired = [\"log\"]\n"}
	}
	for _, validate := range []bool{false, true} {
		t.Run(fmt.Sprint(validate), func(t *testing.T) {
			saw.Store(0)
			// No plugin takes part: nothing crosses, nothing is checked.
			bare, _ := newHost(t, airlock.Options{Hooks: []airlock.AnyHook{check}, ValidateHostValues: validate})
			if _, err := check.Run(context.Background(), bare, amountIn{Amount: -5}); err != nil {
				t.Errorf("no plugins: %v", err)
			}

			h, rec := newHost(t, airlock.Options{Hooks: []airlock.AnyHook{check}, Functions: []airlock.Function{level},
				ValidateHostValues: validate, Builtins: map[string]airlock.Builtin{"watcher": newPlugin()}})
			load(t, h, airlock.PluginConfig{Builtin: "watcher", Grants: []string{"log"}})

			_, errIn := check.Run(context.Background(), h, amountIn{Amount: -5})
			_, errOut := check.Run(context.Background(), h, amountIn{Amount: 5})
			fnOut, err := airlock.CallFunc[string](context.Background(), h, "watcher", "level", nil)
			if err != nil {
				t.Fatal(err)
			}
			if !validate {
				if errIn != nil || errOut != nil || saw.Load() != 2 || fnOut != "ok" {
					t.Errorf("unchecked: errors %v, %v; the after handler ran %d times; host function: %s", errIn, errOut, saw.Load(), fnOut)
				}
				return
			}
			if !errors.Is(errIn, airlock.ErrBadInput) || errIn.Error() != "hook check: input does not match the input type: /amount: minimum: got -5, want 0" {
				t.Errorf("bad input: err = %v", errIn)
			}
			if !errors.Is(errOut, airlock.ErrBadResult) || !strings.Contains(errOut.Error(), "hook check: result does not match the output type: the default's result: /level: value must be one of 'low', 'high'") {
				t.Errorf("bad default result: err = %v", errOut)
			}
			if saw.Load() != 0 {
				t.Errorf("the after handler saw values that do not fit (%d times)", saw.Load())
			}
			if fnOut != "host function level failed: its result does not match its output type" ||
				!strings.Contains(rec.String(), "host function result does not match its output type") || !strings.Contains(rec.String(), "/level: value must be one of") {
				t.Errorf("bad host function result: plugin saw %q; log:\n%s", fnOut, rec)
			}
		})
	}
}

// The contract document: version, hooks, functions and capabilities, with
// schemas that are valid draft 2020-12 and describe the Go types.
func TestContractDocument(t *testing.T) {
	ledger := airlock.NewFunc("ledger.balance", "ledger.read", func(context.Context, airlock.Caller, balanceIn) (quote, error) { return quote{}, nil })
	raw := airlock.NewRawFunc("ledger.raw", "ledger.write", func(context.Context, airlock.Caller, json.RawMessage) (any, error) { return nil, nil })
	fetch := airlock.NewFunc("fetch", "net", func(context.Context, airlock.Caller, struct{}) (string, error) { return "", nil })
	h, _ := newHost(t, airlock.Options{ContractVersion: "1.4.0", Hooks: []airlock.AnyHook{priceHook, approve}, Functions: []airlock.Function{ledger, raw, fetch}})
	type schemaDoc = json.RawMessage
	var doc struct {
		Version  string `json:"version"`
		Enforced bool   `json:"enforced"`
		Protocol int    `json:"protocol"`
		Hooks    []struct {
			Name          string
			Phases        []string
			Default       bool
			Input, Output schemaDoc
		}
		Functions []struct {
			Name, Capability string
			Input, Output    schemaDoc
		}
		Capabilities []struct {
			Name, Form, Description string
			Functions               []string
		}
	}
	data := h.Contract()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	if doc.Version != "1.4.0" || !doc.Enforced || doc.Protocol != 1 {
		t.Errorf("version %q, enforced %v, protocol %d", doc.Version, doc.Enforced, doc.Protocol)
	}
	var hooks []string
	for _, k := range doc.Hooks {
		hooks = append(hooks, fmt.Sprintf("%s%v default=%v", k.Name, k.Phases, k.Default))
	}
	if want := []string{"approve[before define after] default=true", "price[before define after] default=false"}; !slices.Equal(hooks, want) {
		t.Errorf("hooks = %q, want %q", hooks, want)
	}
	wantIn := `{"$schema":"https://json-schema.org/draft/2020-12/schema","additionalProperties":false,"properties":{"amount":{"type":"number"},"tags":{"items":{"type":"string"},"type":["array","null"]}},"required":["amount","tags"],"type":"object"}`
	if got := compact(t, doc.Hooks[1].Input); got != wantIn {
		t.Errorf("price input schema:\n got %s\nwant %s", got, wantIn)
	}
	wantOut := `{"$defs":{"line":{"additionalProperties":false,"properties":{"amount":{"type":"number"}},"required":["amount"],"type":"object"}},"$schema":"https://json-schema.org/draft/2020-12/schema","additionalProperties":false,"properties":{"lines":{"items":{"$ref":"#/$defs/line"},"type":["array","null"]},"note":{"type":"string"}},"required":["lines"],"type":"object"}`
	if got := compact(t, doc.Hooks[1].Output); got != wantOut {
		t.Errorf("price output schema:\n got %s\nwant %s", got, wantOut)
	}
	var fns []string
	for _, f := range doc.Functions {
		fns = append(fns, f.Name+":"+f.Capability)
	}
	if want := []string{"fetch:net", "kv.cas:kv", "kv.delete:kv", "kv.get:kv", "kv.list:kv", "kv.set:kv", "ledger.balance:ledger.read", "ledger.raw:ledger.write", "log:log", "timer.after:timer", "timer.cancel:timer", "timer.every:timer"}; !slices.Equal(fns, want) {
		t.Errorf("functions = %q, want %q", fns, want)
	}
	for _, f := range doc.Functions {
		if f.Name == "ledger.raw" && (string(f.Input) != "true" || string(f.Output) != "true") {
			t.Errorf("a raw function's schemas are %s, %s; want true (any value)", f.Input, f.Output)
		}
	}
	var caps []string
	for _, c := range doc.Capabilities {
		caps = append(caps, fmt.Sprintf("%s=%s%v", c.Name, c.Form, c.Functions))
	}
	want := []string{"log=log[log]", "kv=kv[kv.cas kv.delete kv.get kv.list kv.set]", "timer=timer[timer.after timer.cancel timer.every]", "env=env:NAME[]", "fs.read=fs.read:PATH[]", "fs.write=fs.write:PATH[]",
		"net=net[fetch]", "unix=unix[]", "http=http:HOST[]", "spawn=spawn[]", "ledger.read=ledger.read[ledger.balance]", "ledger.write=ledger.write[ledger.raw]"}
	if !slices.Equal(caps, want) {
		t.Errorf("capabilities = %q\nwant %q", caps, want)
	}
	// Every schema is valid JSON Schema draft 2020-12 (the compiler checks
	// it against the metaschema) and accepts what the host encodes.
	compile := func(s json.RawMessage) *jsonschema.Schema {
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(s))
		if err != nil {
			t.Fatal(err)
		}
		c := jsonschema.NewCompiler()
		if err := c.AddResource("x.json", inst); err != nil {
			t.Fatalf("%v: %s", err, s)
		}
		sch, err := c.Compile("x.json")
		if err != nil {
			t.Fatalf("%v: %s", err, s)
		}
		return sch
	}
	for _, k := range doc.Hooks {
		compile(k.Input)
		compile(k.Output)
	}
	for _, f := range doc.Functions {
		compile(f.Input)
		compile(f.Output)
	}
	sample, _ := json.Marshal(quote{Lines: []line{{Amount: 1}}})
	inst, _ := jsonschema.UnmarshalJSON(bytes.NewReader(sample))
	if err := compile(doc.Hooks[1].Output).Validate(inst); err != nil {
		t.Errorf("the exported output schema refuses %s: %v", sample, err)
	}
	// The caller gets its own copy.
	data[0] = 'X'
	if h.Contract()[0] != '{' {
		t.Error("Contract returned the host's own bytes")
	}
}

func compact(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// With AIRLOCK_CONTRACT_OUT set, New writes the contract there and ends
// the process before any plugin loads: how "airlock contract" reads it.
func TestContractExportedByNew(t *testing.T) {
	if path := os.Getenv("AIRLOCK_TEST_CONTRACT_CHILD"); path != "" {
		t.Setenv("AIRLOCK_CONTRACT_OUT", path)
		_, err := airlock.Open(context.Background(), &airlock.Config{Plugins: []airlock.PluginConfig{{Path: "/nonexistent"}}},
			airlock.Options{ContractVersion: "2.1.0", Hooks: []airlock.AnyHook{approve}})
		fmt.Println("Open returned:", err) // never reached
		os.Exit(7)
	}
	run := func(path string) (int, string) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestContractExportedByNew$")
		cmd.Env = append(os.Environ(), "AIRLOCK_TEST_CONTRACT_CHILD="+path)
		out, _ := cmd.CombinedOutput()
		return cmd.ProcessState.ExitCode(), string(out)
	}
	path := filepath.Join(t.TempDir(), "contract.json")
	code, out := run(path)
	data, err := os.ReadFile(path)
	if code != 0 || err != nil {
		t.Fatalf("exit %d, %v; output:\n%s", code, err, out)
	}
	if !bytes.Contains(data, []byte(`"version": "2.1.0"`)) || !bytes.Contains(data, []byte(`"name": "approve"`)) {
		t.Errorf("contract written:\n%s", data)
	}
	// An existing file is never overwritten.
	code, out = run(path)
	if code != 3 {
		t.Errorf("existing file: exit %d, output:\n%s; want exit 3", code, out)
	}
	// Under wine the child's standard error does not reach the pipe; the
	// message is checked where it does.
	if runtime.GOOS != "windows" && (!strings.Contains(out, "AIRLOCK_CONTRACT_OUT") || !strings.Contains(out, "file exists")) {
		t.Errorf("existing file: output:\n%s; want it to name AIRLOCK_CONTRACT_OUT and say the file exists", out)
	}
}

// BenchmarkHookRun is a small hook call to a builtin define handler, the
// cheapest tier, where validation weighs most: "validated" checks the
// result against Out's schema and then decodes it; "unvalidated" has Out
// json.RawMessage, whose schema accepts anything, so neither happens.
func BenchmarkHookRun(b *testing.B) {
	p := plugin.New("definer", "1.0.0")
	plugin.Handle(p, "approve", func(context.Context, *plugin.Host, order) (verdict, error) {
		return verdict{Approved: true, By: "definer"}, nil
	})
	h, err := airlock.New(airlock.Options{
		Logger:   quietLogger(),
		Builtins: map[string]airlock.Builtin{"definer": {Plugin: p, Manifest: "name = \"definer\"\nversion = \"1.0.0\"\ntier = \"builtin\"\nprotocol = 1\nhooks = [\"approve\"]\n"}},
	})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close(context.Background())
	if _, err := h.Load(context.Background(), airlock.PluginConfig{Builtin: "definer"}); err != nil {
		b.Fatal(err)
	}
	in := order{Amount: 5, Tags: []string{"a"}}
	ctx := context.Background()
	b.Run("validated", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := approve.Run(ctx, h, in); err != nil {
				b.Fatal(err)
			}
		}
	})
	unvalidated := airlock.NewHook[order, json.RawMessage]("approve", nil)
	b.Run("unvalidated", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := unvalidated.Run(ctx, h, in); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// A define handler called directly with Host.Call answers for a hook of
// the contract: its result is validated too. A function's is not.
func TestDirectCallOfADeclaredHookIsValidated(t *testing.T) {
	p := plugin.New("direct", "1.0.0")
	p.HandleRaw("price", func(context.Context, *plugin.Host, json.RawMessage) (any, error) {
		return json.RawMessage(`{"lnes":[]}`), nil
	})
	p.HandleRaw("own", func(context.Context, *plugin.Host, json.RawMessage) (any, error) {
		return json.RawMessage(`{"anything":1}`), nil
	})
	b := airlock.Builtin{Plugin: p, Manifest: "name = \"direct\"\nversion = \"1.0.0\"\ntier = \"builtin\"\nprotocol = 1\nhooks = [\"price\"]\nfunctions = [\"own\"]\n"}
	h, _ := newHost(t, airlock.Options{Hooks: []airlock.AnyHook{priceHook}, Builtins: map[string]airlock.Builtin{"direct": b}})
	load(t, h, airlock.PluginConfig{Builtin: "direct"})
	_, err := h.Call(context.Background(), "direct", "price", order{})
	if !errors.Is(err, airlock.ErrBadResult) || err.Error() != "plugin direct: call price: result does not match the output type: /lines: missing; /lnes: unknown field" {
		t.Errorf("direct call of a hook: err = %v", err)
	}
	if res, err := h.Call(context.Background(), "direct", "own", nil); err != nil || string(res) != `{"anything":1}` {
		t.Errorf("direct call of a function: %s, %v", res, err)
	}
}

// Hammer: P goroutines run a validated hook N times each, half of them
// with a result that does not fit; every call gets its own answer.
func TestValidationHammer(t *testing.T) {
	p := plugin.New("hammered", "1.0.0")
	plugin.Handle(p, "price", func(_ context.Context, _ *plugin.Host, in order) (any, error) {
		if in.Amount < 0 {
			return map[string]any{"lines": []any{map[string]any{"amount": "minus"}}}, nil
		}
		return quote{Lines: []line{{Amount: in.Amount}}}, nil
	})
	b := airlock.Builtin{Plugin: p, Manifest: "name = \"hammered\"\nversion = \"1.0.0\"\ntier = \"builtin\"\nprotocol = 1\nhooks = [\"price\"]\n"}
	h, _ := newHost(t, airlock.Options{Hooks: []airlock.AnyHook{priceHook}, ValidateHostValues: true, Builtins: map[string]airlock.Builtin{"hammered": b}})
	load(t, h, airlock.PluginConfig{Builtin: "hammered"})
	const P, N = 8, 200
	errs := make(chan error, P)
	for g := range P {
		go func() {
			for i := range N {
				amount := float64(g*N + i)
				if i%2 == 1 {
					amount = -amount - 1
				}
				out, err := priceHook.Run(context.Background(), h, order{Amount: amount})
				switch {
				case amount >= 0 && (err != nil || len(out.Lines) != 1 || out.Lines[0].Amount != amount):
					errs <- fmt.Errorf("call %v: %+v, %v", amount, out, err)
					return
				case amount < 0 && (!errors.Is(err, airlock.ErrBadResult) || !strings.HasSuffix(err.Error(), "/lines/0/amount: got string, want number")):
					errs <- fmt.Errorf("call %v: err = %v", amount, err)
					return
				}
			}
			errs <- nil
		}()
	}
	for range P {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
