package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"

	"github.com/airlock-go/airlock/internal/capability"
)

// The check's stand-in host answers the standard host functions as a real
// host does, kv.cas and the timers included, so that a plugin using them
// can be checked.
func TestCheckHostStandard(t *testing.T) {
	grants, err := capability.NewSet([]string{"kv", "timer", "log"})
	if err != nil {
		t.Fatal(err)
	}
	h, err := newCheckHost("p", grants, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct{ fn, in, want string }{
		{"kv.cas", `{"key":"k","old":1,"new":2}`, `{"swapped":false}`}, // absent, old given
		{"kv.cas", `{"key":"k","new":1}`, `{"swapped":true}`},          // absent, old absent
		{"kv.cas", `{"key":"k","new":3}`, `{"swapped":false}`},         // present, old absent
		{"kv.cas", `{"key":"k","old":2,"new":3}`, `{"swapped":false}`}, // wrong old
		{"kv.cas", `{"key":"k","old": 1 ,"new":{"a":1}}`, `{"swapped":true}`},
		{"kv.get", `{"key":"k"}`, `{"found":true,"value":{"a":1}}`},
		{"kv.cas", `{"key":"k","old":{"a":1}}`, `{"swapped":true}`}, // new absent: delete
		{"kv.get", `{"key":"k"}`, `{"found":false,"value":null}`},
		{"timer.after", `{"delay_ms":1000,"function":"tick"}`, `{"id":"check-1"}`},
		{"timer.cancel", `{"id":"check-1"}`, `null`},
	}
	for i, s := range steps {
		out, err := h.call(context.Background(), s.fn, json.RawMessage(s.in))
		if err != nil {
			t.Fatalf("step %d %s(%s): %v", i, s.fn, s.in, err)
		}
		if string(compact(out)) != s.want {
			t.Errorf("step %d %s(%s) = %s, want %s", i, s.fn, s.in, out, s.want)
		}
	}
}
