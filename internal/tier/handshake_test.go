package tier

import (
	"errors"
	"strings"
	"testing"

	"github.com/airlock-go/airlock/internal/manifest"
	"github.com/airlock-go/airlock/protocol"
)

// The handshake check refuses a plugin that is not what its manifest
// says, and names every difference.
func TestCheckHandshake(t *testing.T) {
	m := &manifest.Manifest{Name: "teller", Version: "1.2.0", Hooks: []string{"greet", "pay"}, Functions: []string{"sum"}}
	good := func() protocol.InitializeResult {
		return protocol.InitializeResult{Protocol: manifest.ProtocolVersion, Name: "teller", Version: "1.2.0", Hooks: []string{"sum", "pay", "greet"}}
	}
	cases := []struct {
		name   string
		change func(*protocol.InitializeResult)
		want   []string // each in the error; none: no error
	}{
		{"matches, in any order", func(*protocol.InitializeResult) {}, nil},
		{"other protocol", func(r *protocol.InitializeResult) { r.Protocol = 2 }, []string{"answered protocol 2, expected 1"}},
		{"other name: a swapped binary", func(r *protocol.InitializeResult) { r.Name = "thief" }, []string{`says its name is "thief", manifest says "teller"`}},
		{"other version", func(r *protocol.InitializeResult) { r.Version = "1.3.0" }, []string{`says its version is "1.3.0"`}},
		{"a declared hook missing", func(r *protocol.InitializeResult) { r.Hooks = []string{"sum", "greet"} }, []string{`does not implement "pay"`}},
		{"a declared function missing", func(r *protocol.InitializeResult) { r.Hooks = []string{"pay", "greet"} }, []string{`does not implement "sum"`}},
		{"an undeclared hook: claims the operator never saw", func(r *protocol.InitializeResult) { r.Hooks = append(r.Hooks, "admin.reset") },
			[]string{`implements "admin.reset", which its manifest does not declare`}},
		{"everything wrong: every problem named", func(r *protocol.InitializeResult) {
			*r = protocol.InitializeResult{Protocol: 0, Name: "x", Version: "0", Hooks: []string{"other"}}
		}, []string{"answered protocol 0", `name is "x"`, `version is "0"`, `does not implement "greet"`, `does not implement "pay"`, `does not implement "sum"`, `implements "other"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := good()
			c.change(&r)
			err := CheckHandshake(m, r)
			if len(c.want) == 0 {
				if err != nil {
					t.Fatalf("CheckHandshake: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrHandshake) {
				t.Fatalf("CheckHandshake = %v, want ErrHandshake", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}
