package airlock

import (
	"strings"
	"testing"
)

// A host function's name is a short dotted lowercase word: the wasm tier
// cuts a name a guest calls at 1 KiB before copying it, so a longer one
// could never be called.
func TestValidFuncName(t *testing.T) {
	for _, c := range []struct {
		name string
		ok   bool
	}{
		{"kv.get", true},
		{"ledger.read_balance2", true},
		{strings.Repeat("a", maxFuncName), true},
		{strings.Repeat("a", maxFuncName+1), false},
		{"", false},
		{"Kv.get", false},
		{"1kv", false},
		{"kv-get", false},
		{"kv get", false},
		{"é", false},
	} {
		if got := validFuncName(c.name); got != c.ok {
			t.Errorf("validFuncName(%q) = %v, want %v", c.name, got, c.ok)
		}
	}
}
