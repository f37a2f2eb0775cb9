package plugintest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/airlock-go/airlock/sdk/go/plugin"
	"github.com/airlock-go/airlock/sdk/go/plugin/plugintest"
)

type greeting struct {
	Name string `json:"name"`
}

type reply struct {
	Message string `json:"message"`
}

func newPlugin() *plugin.Plugin {
	p := plugin.New("greeter", "0.1.0")
	plugin.Handle(p, "greet", func(ctx context.Context, h *plugin.Host, in greeting) (reply, error) {
		if err := h.Log(ctx, "info", "greeting "+in.Name); err != nil {
			return reply{}, err
		}
		return reply{Message: h.String("greeting") + ", " + in.Name + " (" + h.Phase() + ")"}, nil
	})
	plugin.Handle(p, "grants", func(ctx context.Context, h *plugin.Host, _ json.RawMessage) ([]string, error) {
		return h.Grants(), nil
	})
	plugin.Handle(p, "boom", func(ctx context.Context, h *plugin.Host, _ json.RawMessage) (any, error) {
		panic("boom")
	})
	return p
}

func TestInvoke(t *testing.T) {
	denied := func(context.Context, string, json.RawMessage) (json.RawMessage, error) {
		return nil, &plugin.Error{Code: plugin.CodeDenied, Message: `capability "log" not granted`}
	}
	cases := []struct {
		name    string
		host    plugintest.Host
		call    plugintest.Call
		want    string
		wantErr error  // matched with errors.Is
		errText string // in the error's text
	}{
		{"result, settings and phase", plugintest.Host{Config: map[string]any{"greeting": "hi"}},
			plugintest.Call{Name: "greet", Phase: "define", Input: json.RawMessage(`{"name":"ada"}`)},
			`{"message":"hi, ada (define)"}`, nil, ""},
		{"direct call has no phase", plugintest.Host{},
			plugintest.Call{Name: "greet", Input: json.RawMessage(`{"name":"ada"}`)},
			`{"message":", ada ()"}`, nil, ""},
		{"grants", plugintest.Host{Grants: []string{"log", "kv"}}, plugintest.Call{Name: "grants"}, `["log","kv"]`, nil, ""},
		{"host error reaches the handler", plugintest.Host{HostCall: denied},
			plugintest.Call{Name: "greet", Input: json.RawMessage(`{"name":"ada"}`)}, "", plugin.ErrDenied, "not granted"},
		{"bad input", plugintest.Host{}, plugintest.Call{Name: "greet", Input: json.RawMessage(`{"name":3}`)},
			"", &plugin.Error{Code: plugin.CodeInvalidInput}, "invalid input"},
		{"no such handler", plugintest.Host{}, plugintest.Call{Name: "nope"},
			"", &plugin.Error{Code: plugin.CodeNotImplemented}, `does not implement "nope"`},
		{"panic", plugintest.Host{}, plugintest.Call{Name: "boom"}, "", nil, "handler panicked: boom"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := c.host.Invoke(t.Context(), newPlugin(), c.call)
			if c.errText == "" {
				if err != nil || string(out) != c.want {
					t.Fatalf("Invoke = %s, %v; want %s", out, err, c.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.errText) || (c.wantErr != nil && !errors.Is(err, c.wantErr)) {
				t.Fatalf("Invoke error = %v, want one matching %v and saying %q", err, c.wantErr, c.errText)
			}
		})
	}
}

// The host calls a handler makes reach HostCall, with their input.
func TestInvokeHostCalls(t *testing.T) {
	var calls []string
	h := &plugintest.Host{HostCall: func(_ context.Context, fn string, input json.RawMessage) (json.RawMessage, error) {
		calls = append(calls, fn+" "+string(input))
		return json.RawMessage("null"), nil
	}}
	if _, err := h.Invoke(t.Context(), newPlugin(), plugintest.Call{Name: "greet", Input: json.RawMessage(`{"name":"ada"}`)}); err != nil {
		t.Fatal(err)
	}
	if len(calls) != 1 || calls[0] != `log {"level":"info","msg":"greeting ada"}` {
		t.Errorf("host calls %q, want one log call", calls)
	}
}

func ExampleHost_Invoke() {
	h := &plugintest.Host{Config: map[string]any{"greeting": "hello"}, Grants: []string{"log"}}
	out, err := h.Invoke(context.Background(), newPlugin(), plugintest.Call{Name: "greet", Phase: "define", Input: json.RawMessage(`{"name":"ada"}`)})
	fmt.Println(string(out), err)
	// Output: {"message":"hello, ada (define)"} <nil>
}
