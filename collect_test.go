package airlock_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/airlock-go/airlock"
	"github.com/airlock-go/airlock/sdk/go/plugin"
)

type greeting struct {
	Message string `json:"message"`
}

type greetIn struct {
	Name string `json:"name"`
}

// greeters are the test's collect hook: every plugin greets.
var greeters = airlock.NewCollectHook[greetIn, greeting]("greet")

// collector is a builtin that answers greet in phase with fn.
func collector(name, phase string, fn func(ctx context.Context, h *plugin.Host, in json.RawMessage) (any, error)) airlock.Builtin {
	p := plugin.New(name, "1.0.0")
	p.HandleRaw("greet", fn)
	return airlock.Builtin{Plugin: p, Manifest: fmt.Sprintf(`
name = %q
version = "1.0.0"
tier = "builtin"
protocol = 1
hooks = ["greet"]
[hook.greet]
phase = %q
`, name, phase)}
}

func answer(msg string) func(context.Context, *plugin.Host, json.RawMessage) (any, error) {
	return func(context.Context, *plugin.Host, json.RawMessage) (any, error) { return greeting{Message: msg}, nil }
}

// A collect hook asks every definer at once and returns every answer in
// the operator's order; one plugin's failure is its own answer's error.
func TestCollectHook(t *testing.T) {
	var afterSaw json.RawMessage
	started := make(chan struct{}, 2)
	slow := func(ctx context.Context, _ *plugin.Host, _ json.RawMessage) (any, error) {
		started <- struct{}{}
		select { // both slow plugins must be running at once to finish
		case <-started:
			started <- struct{}{}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return greeting{Message: "slow"}, nil
	}
	builtins := map[string]airlock.Builtin{
		"first": collector("first", "define", answer("one")),
		"failing": collector("failing", "define", func(context.Context, *plugin.Host, json.RawMessage) (any, error) {
			return nil, errors.New("no greeting today")
		}),
		"misshape": collector("misshape", "define", func(context.Context, *plugin.Host, json.RawMessage) (any, error) {
			return map[string]any{"mesage": "typo"}, nil
		}),
		"slow-a": collector("slow-a", "define", slow),
		"slow-b": collector("slow-b", "define", slow),
		"auditor": collector("auditor", "after", func(_ context.Context, _ *plugin.Host, in json.RawMessage) (any, error) {
			afterSaw = in
			return nil, nil
		}),
	}
	h, _ := newHost(t, airlock.Options{Hooks: []airlock.AnyHook{greeters}, Builtins: builtins})
	for name, prio := range map[string]int{"first": 50, "failing": 40, "misshape": 30, "slow-a": 20, "slow-b": 10, "auditor": 0} {
		load(t, h, airlock.PluginConfig{Builtin: name, Priority: prio})
	}
	testplugin := testPlugin(t)
	load(t, h, airlock.PluginConfig{Path: testplugin, Priority: 45, Config: map[string]any{"greeting": "bonjour"}})

	answers, err := greeters.Run(ctxT(t, 20*time.Second), h, greetIn{Name: "ada"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range answers {
		switch {
		case a.Err == nil:
			got = append(got, a.Plugin+"="+a.Value.Message)
		case errors.Is(a.Err, airlock.ErrBadResult):
			got = append(got, a.Plugin+"=bad result")
		case errors.Is(a.Err, airlock.ErrPluginFailed):
			got = append(got, a.Plugin+"=failed")
		default:
			got = append(got, a.Plugin+"=?"+a.Err.Error())
		}
		if a.Err != nil && !strings.Contains(a.Err.Error(), "plugin "+a.Plugin) {
			t.Errorf("%s's error does not name it: %v", a.Plugin, a.Err)
		}
	}
	want := "first=one testplugin=bonjour, ada failing=failed misshape=bad result slow-a=slow slow-b=slow"
	if strings.Join(got, " ") != want {
		t.Errorf("answers = %s\nwant      %s", strings.Join(got, " "), want)
	}
	var after struct {
		Input  greetIn    `json:"input"`
		Output []greeting `json:"output"`
	}
	if err := json.Unmarshal(afterSaw, &after); err != nil || after.Input.Name != "ada" || len(after.Output) != 4 {
		t.Errorf("the after handler saw %s (%v), want the input and the four good answers", afterSaw, err)
	}
}

// A before handler vetoes a collect hook as it does any hook; with no
// definer there are no answers and no error.
func TestCollectHookVetoAndEmpty(t *testing.T) {
	veto := func(context.Context, *plugin.Host, json.RawMessage) (any, error) {
		return nil, errors.New("closed today")
	}
	h, _ := newHost(t, airlock.Options{Hooks: []airlock.AnyHook{greeters}, Builtins: map[string]airlock.Builtin{
		"guard": collector("guard", "before", veto), "first": collector("first", "define", answer("one")),
	}})
	answers, err := greeters.Run(ctxT(t, 5*time.Second), h, greetIn{Name: "ada"})
	if err != nil || len(answers) != 0 {
		t.Errorf("no plugins: answers %v, err %v; want none and no error", answers, err)
	}
	load(t, h, airlock.PluginConfig{Builtin: "first"})
	load(t, h, airlock.PluginConfig{Builtin: "guard"})
	_, err = greeters.Run(ctxT(t, 5*time.Second), h, greetIn{Name: "ada"})
	if !errors.Is(err, airlock.ErrVetoed) || !strings.Contains(err.Error(), "plugin guard") {
		t.Errorf("err = %v, want a veto by guard", err)
	}
}

// The contract tells collect hooks apart, and a host running a Hook where
// it declared a CollectHook of the same name gets ErrContract.
func TestCollectHookInContract(t *testing.T) {
	h, _ := newHost(t, airlock.Options{Hooks: []airlock.AnyHook{greeters}})
	var doc struct {
		Hooks []struct {
			Name    string `json:"name"`
			Collect bool   `json:"collect"`
		} `json:"hooks"`
	}
	if err := json.Unmarshal(h.Contract(), &doc); err != nil || len(doc.Hooks) != 1 || !doc.Hooks[0].Collect {
		t.Errorf("contract hooks = %+v (%v), want greet marked collect", doc.Hooks, err)
	}
	single := airlock.NewHook("greet", func(context.Context, greetIn) (greeting, error) { return greeting{}, nil })
	_, err := single.Run(ctxT(t, 5*time.Second), h, greetIn{})
	if !errors.Is(err, airlock.ErrContract) || !strings.Contains(err.Error(), "as CollectHook[airlock_test.greetIn, airlock_test.greeting], not Hook[") {
		t.Errorf("err = %v", err)
	}
}
