package airlock_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airlock-go/airlock"
	"github.com/airlock-go/airlock/sdk/go/plugin"
)

type order struct {
	Amount float64  `json:"amount"`
	Tags   []string `json:"tags"`
}

type verdict struct {
	Approved bool   `json:"approved"`
	By       string `json:"by"`
}

// trace records which handlers ran, in order.
type trace struct {
	mu  sync.Mutex
	ran []string
}

func (tr *trace) add(s string) {
	tr.mu.Lock()
	tr.ran = append(tr.ran, s)
	tr.mu.Unlock()
}

func (tr *trace) list() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return slices.Clone(tr.ran)
}

// builtin makes a builtin plugin implementing hook "approve" in phase,
// whose handler records itself in tr and then runs fn.
func builtin(name, phase string, tr *trace, fn func(ctx context.Context, h *plugin.Host, in map[string]any) (any, error)) airlock.Builtin {
	p := plugin.New(name, "1.0.0")
	plugin.Handle(p, "approve", func(ctx context.Context, h *plugin.Host, in map[string]any) (any, error) {
		tr.add(name + ":" + h.Phase())
		return fn(ctx, h, in)
	})
	return airlock.Builtin{Plugin: p, Manifest: fmt.Sprintf(`
name = %q
version = "1.0.0"
tier = "builtin"
protocol = 1
hooks = ["approve"]
[hook.approve]
phase = %q
`, name, phase)}
}

func pass() func(context.Context, *plugin.Host, map[string]any) (any, error) {
	return func(context.Context, *plugin.Host, map[string]any) (any, error) { return nil, nil }
}

var approve = airlock.NewHook("approve", func(_ context.Context, in order) (verdict, error) {
	return verdict{Approved: in.Amount < 100, By: "default"}, nil
})

func TestHookPhasesAndPriority(t *testing.T) {
	tr := &trace{}
	var afterSaw map[string]any
	builtins := map[string]airlock.Builtin{
		"guard-a": builtin("guard-a", "before", tr, pass()),
		"guard-b": builtin("guard-b", "before", tr, pass()),
		"define-low": builtin("define-low", "define", tr, func(context.Context, *plugin.Host, map[string]any) (any, error) {
			return verdict{Approved: false, By: "define-low"}, nil
		}),
		"define-high": builtin("define-high", "define", tr, func(_ context.Context, _ *plugin.Host, in map[string]any) (any, error) {
			// The plugin gets a copy: changing it changes nothing in the host.
			in["amount"] = 0.0
			in["tags"] = append(in["tags"].([]any), "tampered")
			return verdict{Approved: true, By: "define-high"}, nil
		}),
		"observer": builtin("observer", "after", tr, func(_ context.Context, _ *plugin.Host, in map[string]any) (any, error) {
			afterSaw = in
			return nil, errors.New("after handlers cannot change the result")
		}),
	}
	h, _ := newHost(t, airlock.Options{Builtins: builtins})
	for _, conf := range []airlock.PluginConfig{
		{Builtin: "guard-a", Priority: 1},
		{Builtin: "guard-b", Priority: 5},
		{Builtin: "define-low", Priority: 1},
		// The operator's per-hook priority beats the plugin-wide one.
		{Builtin: "define-high", Priority: 0, HookPriority: map[string]int{"approve": 9}},
		{Builtin: "observer"},
	} {
		load(t, h, conf)
	}
	in := order{Amount: 250, Tags: []string{"wire"}}
	out, err := approve.Run(context.Background(), h, in)
	if err != nil {
		t.Fatal(err)
	}
	if out != (verdict{Approved: true, By: "define-high"}) {
		t.Errorf("result = %+v, want define-high's", out)
	}
	want := []string{"guard-b:before", "guard-a:before", "define-high:define", "observer:after"}
	if got := tr.list(); !slices.Equal(got, want) {
		t.Errorf("ran %v, want %v", got, want)
	}
	if in.Amount != 250 || !slices.Equal(in.Tags, []string{"wire"}) {
		t.Errorf("host's input changed by a plugin: %+v", in)
	}
	output, _ := afterSaw["output"].(map[string]any)
	input, _ := afterSaw["input"].(map[string]any)
	if output["by"] != "define-high" || input["amount"] != 250.0 {
		t.Errorf("after handler saw %v, want the original input and define-high's output", afterSaw)
	}
}

func TestHookVeto(t *testing.T) {
	tr := &trace{}
	builtins := map[string]airlock.Builtin{
		"guard": builtin("guard", "before", tr, func(_ context.Context, _ *plugin.Host, in map[string]any) (any, error) {
			if in["amount"].(float64) > 1000 {
				return nil, errors.New("amount over the limit")
			}
			return nil, nil
		}),
		"definer": builtin("definer", "define", tr, func(context.Context, *plugin.Host, map[string]any) (any, error) {
			return verdict{Approved: true, By: "definer"}, nil
		}),
	}
	h, _ := newHost(t, airlock.Options{Builtins: builtins})
	load(t, h, airlock.PluginConfig{Builtin: "guard"})
	load(t, h, airlock.PluginConfig{Builtin: "definer"})

	_, err := approve.Run(context.Background(), h, order{Amount: 5000})
	if !errors.Is(err, airlock.ErrVetoed) || !strings.Contains(err.Error(), "amount over the limit") {
		t.Fatalf("err = %v, want a veto with the plugin's reason", err)
	}
	var pe *airlock.PluginError
	if !errors.As(err, &pe) || pe.Plugin != "guard" || pe.Name != "approve" {
		t.Errorf("veto error %v does not name the plugin and hook", err)
	}
	if got := tr.list(); !slices.Equal(got, []string{"guard:before"}) {
		t.Errorf("ran %v: nothing may run after a veto", got)
	}
	out, err := approve.Run(context.Background(), h, order{Amount: 5})
	if err != nil || out.By != "definer" {
		t.Errorf("allowed call = %+v, %v", out, err)
	}
}

func TestHookDefaultAndNoDefault(t *testing.T) {
	h, _ := newHost(t, airlock.Options{})
	out, err := approve.Run(context.Background(), h, order{Amount: 5})
	if err != nil || out != (verdict{Approved: true, By: "default"}) {
		t.Errorf("with no plugins: %+v, %v; want the default", out, err)
	}
	bare := airlock.NewHook[order, verdict]("approve", nil)
	if _, err := bare.Run(context.Background(), h, order{}); !errors.Is(err, airlock.ErrNotImplemented) {
		t.Errorf("no plugin and no default: err = %v, want ErrNotImplemented", err)
	}
}

func TestHookBadResult(t *testing.T) {
	tr := &trace{}
	h, _ := newHost(t, airlock.Options{Builtins: map[string]airlock.Builtin{
		"liar": builtin("liar", "define", tr, func(context.Context, *plugin.Host, map[string]any) (any, error) {
			return map[string]any{"approved": "yes please"}, nil
		}),
	}})
	load(t, h, airlock.PluginConfig{Builtin: "liar"})
	_, err := approve.Run(context.Background(), h, order{})
	if !errors.Is(err, airlock.ErrBadResult) || !strings.Contains(err.Error(), "plugin liar") {
		t.Errorf("err = %v, want ErrBadResult naming liar", err)
	}
}

func TestBuiltinDeadline(t *testing.T) {
	tr := &trace{}
	returned := make(chan struct{}, 1)
	h, _ := newHost(t, airlock.Options{Builtins: map[string]airlock.Builtin{
		"slow": builtin("slow", "define", tr, func(ctx context.Context, _ *plugin.Host, _ map[string]any) (any, error) {
			defer func() { returned <- struct{}{} }()
			<-ctx.Done()
			time.Sleep(50 * time.Millisecond) // answers late
			return verdict{}, nil
		}),
	}})
	load(t, h, airlock.PluginConfig{Builtin: "slow", Limits: airlock.Limits{CallTimeout: airlock.Duration(50 * time.Millisecond)}})
	_, err := approve.Run(context.Background(), h, order{})
	if !errors.Is(err, airlock.ErrDeadline) {
		t.Errorf("err = %v, want ErrDeadline", err)
	}
	select { // the late handler has finished before goleak looks
	case <-returned:
	case <-time.After(10 * time.Second):
		t.Fatal("the late handler did not return")
	}
}

func TestBuiltinHostCallsAreChecked(t *testing.T) {
	tr := &trace{}
	var denied error
	h, rec := newHost(t, airlock.Options{Builtins: map[string]airlock.Builtin{
		"nosy": builtin("nosy", "define", tr, func(ctx context.Context, h *plugin.Host, _ map[string]any) (any, error) {
			denied = h.Call(ctx, "kv.set", map[string]any{"key": "k", "value": 1}, nil)
			return verdict{By: "nosy"}, nil
		}),
	}})
	load(t, h, airlock.PluginConfig{Builtin: "nosy", Grants: []string{"kv"}}) // kv is not in its manifest
	if _, err := approve.Run(context.Background(), h, order{}); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(denied, plugin.ErrDenied) {
		t.Errorf("kv.set from a builtin that did not declare kv: err = %v, want denied", denied)
	}
	if ev := rec.events(); len(ev) != 1 || ev[0].Plugin != "nosy" || ev[0].Capability != "kv" {
		t.Errorf("audit = %+v", ev)
	}
}
