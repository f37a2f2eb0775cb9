package sdkcore

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// recorder answers host calls with their input and records them.
type recorder struct{ calls []string }

func (r *recorder) CallHost(_ context.Context, fn string, in json.RawMessage) (json.RawMessage, error) {
	r.calls = append(r.calls, fn+" "+string(in))
	if fn == "deny" {
		return nil, &Error{Code: -32001, Message: "denied"}
	}
	return in, nil
}

func testPlugin() *Plugin {
	p := New("core", "1.0.0")
	p.Handle("phase", func(_ context.Context, h *Host, _ json.RawMessage) (any, error) { return h.Phase(), nil })
	p.Handle("raw", func(_ context.Context, _ *Host, in json.RawMessage) (any, error) { return in, nil })
	p.Handle("badraw", func(context.Context, *Host, json.RawMessage) (any, error) { return json.RawMessage("{"), nil })
	p.Handle("unencodable", func(context.Context, *Host, json.RawMessage) (any, error) { return func() {}, nil })
	p.Handle("panic", func(context.Context, *Host, json.RawMessage) (any, error) { panic("boom") })
	p.Handle("host", func(ctx context.Context, h *Host, in json.RawMessage) (any, error) {
		var out any
		err := h.Call(ctx, string(in[1:len(in)-1]), map[string]int{"n": 1}, &out)
		return out, err
	})
	return p
}

func TestInvoke(t *testing.T) {
	cases := []struct {
		name    string
		call    Call
		want    string
		code    int    // an *Error's code, or 0
		errText string // in the error's text; "" for none
	}{
		{"define phase", Call{Name: "phase", Phase: "define"}, `"define"`, 0, ""},
		{"direct call", Call{Name: "phase"}, `""`, 0, ""},
		{"unknown phase", Call{Name: "phase", Phase: "odd"}, `"odd"`, 0, ""},
		{"raw result as it is", Call{Name: "raw", Input: json.RawMessage(`{"a": 1}`)}, `{"a": 1}`, 0, ""},
		{"raw result not JSON", Call{Name: "badraw"}, "", 0, "badraw: the handler returned"},
		{"result that does not encode", Call{Name: "unencodable"}, "", 0, "unencodable: encode result"},
		{"panic", Call{Name: "panic"}, "", 0, "handler panicked: boom"},
		{"host call", Call{Name: "host", Input: json.RawMessage(`"echo"`)}, `{"n":1}`, 0, ""},
		{"host error as it is", Call{Name: "host", Input: json.RawMessage(`"deny"`)}, "", -32001, "denied"},
		{"no handler", Call{Name: "nope"}, "", CodeNotImplemented, `plugin core does not implement "nope"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := NewHost(&recorder{}, nil, nil, nil)
			out, err := testPlugin().Invoke(t.Context(), h, c.call)
			if c.errText == "" {
				if err != nil || string(out) != c.want {
					t.Fatalf("Invoke = %s, %v; want %s", out, err, c.want)
				}
				return
			}
			var e *Error
			if err == nil || !strings.Contains(err.Error(), c.errText) || (c.code != 0 && (!errors.As(err, &e) || e.Code != c.code)) {
				t.Fatalf("Invoke error = %v, want code %d saying %q", err, c.code, c.errText)
			}
		})
	}
}

// The Host of each hook phase is made once, not per call, and shares the
// settings, grants and caller.
func TestHostPhases(t *testing.T) {
	r := &recorder{}
	h := NewHost(r, map[string]any{"a": "b"}, []string{"log"}, []string{"log"})
	for _, phase := range []string{"before", "define", "after"} {
		p := h.forPhase(phase)
		if p != h.forPhase(phase) || p.Phase() != phase || p.Config()["a"] != "b" || p.Grants()[0] != "log" || p.caller != r {
			t.Errorf("phase %s: %+v", phase, p)
		}
	}
	if h.forPhase("") != h {
		t.Error("a direct call does not get the Host itself")
	}
}

func TestErrorIs(t *testing.T) {
	if !errors.Is(&Error{Code: -32001, Message: "x"}, &Error{Code: -32001}) || errors.Is(&Error{Code: -32000}, &Error{Code: -32001}) {
		t.Error("Error.Is does not compare codes")
	}
}
