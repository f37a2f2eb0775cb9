package wasm

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/airlock-go/airlock/internal/tier"
)

// A guest that traps costs one error wrapping ErrCrashed, and its
// instance is never used again: the next call runs on a fresh instance
// (whose count of calls served starts again), not on one the trap may
// have left halfway through its allocator.
func TestTrappedInstanceIsDiscarded(t *testing.T) {
	s := newStarter(t)
	inst, _, err := start(t, s, evilManifest, evil(t), nil, tier.Limits{MaxInflight: 1, CallTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	served := func() int {
		t.Helper()
		out, err := call(inst, "served", nil, 5*time.Second)
		var n int
		if err == nil {
			err = json.Unmarshal(out, &n)
		}
		if err != nil {
			t.Fatalf("served: %s, %v", out, err)
		}
		return n
	}
	if a, b := served(), served(); a != 1 || b != 2 {
		t.Fatalf("served %d then %d: want one instance serving both calls", a, b)
	}
	for _, c := range []struct{ attack, say string }{
		{"trap", "unreachable"},
		{"oobload", "out of bounds memory access"},
		{"recurse", "trap"},                   // the C stack runs out of memory before the wasm stack overflows
		{"wasmstack", "call stack exhausted"}, // the rewriting's bound, long before wazero's

		{"divzero", "integer divide by zero"},
	} {
		_, err := call(inst, c.attack, nil, 5*time.Second)
		if !errors.Is(err, tier.ErrCrashed) || !strings.Contains(err.Error(), c.say) {
			t.Errorf("%s: err = %v, want ErrCrashed saying %q", c.attack, err, c.say)
		}
		if n := served(); n != 1 {
			t.Errorf("after %s the next call was the instance's call number %d: the trapped instance was reused", c.attack, n)
		}
	}
}
