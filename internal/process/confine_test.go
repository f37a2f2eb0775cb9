package process

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/airlock-go/airlock/internal/capability"
	"github.com/airlock-go/airlock/internal/sandbox"
	"github.com/airlock-go/airlock/internal/tier"
)

func TestPolicyFromGrants(t *testing.T) {
	cases := []struct {
		name    string
		grants  []string
		sandbox string
		check   func(t *testing.T, p sandbox.Policy)
	}{
		{"nothing granted", nil, "", func(t *testing.T, p sandbox.Policy) {
			if p.Network || p.Spawn || p.Require {
				t.Errorf("network=%v spawn=%v require=%v, want all false", p.Network, p.Spawn, p.Require)
			}
			if slices.Contains(p.ReadWrite, "/srv/out") || !slices.Contains(p.ReadOnly, "/plugins/x") {
				t.Errorf("read-only %v, read-write %v", p.ReadOnly, p.ReadWrite)
			}
		}},
		{"fs grants", []string{"fs.read:/srv/in", "fs.write:/srv/out"}, "", func(t *testing.T, p sandbox.Policy) {
			if !slices.Contains(p.ReadOnly, "/srv/in") || !slices.Contains(p.ReadWrite, "/srv/out") {
				t.Errorf("read-only %v, read-write %v", p.ReadOnly, p.ReadWrite)
			}
		}},
		{"net", []string{"net"}, "", func(t *testing.T, p sandbox.Policy) {
			if !p.Network {
				t.Error("net grant did not allow the network")
			}
		}},
		{"http", []string{"http:api.example.com"}, "", func(t *testing.T, p sandbox.Policy) {
			if !p.Network {
				t.Error("http grant did not allow the network")
			}
		}},
		{"spawn", []string{"spawn"}, "", func(t *testing.T, p sandbox.Policy) {
			if !p.Spawn {
				t.Error("spawn grant did not allow processes")
			}
		}},
		{"required", nil, tier.SandboxRequired, func(t *testing.T, p sandbox.Policy) {
			if !p.Require {
				t.Error("sandbox = required not passed on")
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			grants, err := capability.NewSet(c.grants)
			if err != nil {
				t.Fatal(err)
			}
			spec := tier.Spec{Dir: "/plugins/x", Grants: grants, Sandbox: c.sandbox, Limits: tier.Limits{MaxMemory: 1 << 20, MaxCPU: 2 * time.Second}.WithDefaults()}
			p := policy(spec, "")
			if p.Memory != 1<<20 || p.CPU != 2*time.Second {
				t.Errorf("limits not passed on: %+v", p)
			}
			c.check(t, p)
		})
	}
}

func TestFindInterpreterSkipsShims(t *testing.T) {
	shims, real := t.TempDir(), t.TempDir()
	write := func(path, text string) {
		if err := os.WriteFile(path, []byte(text), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(shims, "fakepy"), "#!/bin/sh\nexec pyenv exec fakepy \"$@\"\n")
	write(filepath.Join(real, "fakepy"), "\x7fELF not really, but not a script either")
	t.Setenv("PATH", shims+string(os.PathListSeparator)+real)
	got, err := findInterpreter("fakepy")
	if err != nil || got != filepath.Join(real, "fakepy") {
		t.Errorf("findInterpreter = %q, %v; want the real executable in %s", got, err, real)
	}
	// With only a shim, the shim is used.
	t.Setenv("PATH", shims)
	if got, err := findInterpreter("fakepy"); err != nil || got != filepath.Join(shims, "fakepy") {
		t.Errorf("only a shim: %q, %v", got, err)
	}
	if _, err := findInterpreter("no-such-interpreter-xyz"); err == nil {
		t.Error("a missing interpreter was found")
	}
}
