package wasm

import (
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/airlock-go/airlock/internal/tier"
)

// The variable evil.c reads when an instance starts, and its grant.
const (
	atStart      = "EVIL_AT_START"
	atStartGrant = "env:" + atStart
)

// assertQuiet fails t if goroutines beyond before are left, or if the
// process keeps a core busy: a guest still spinning after its deadline.
func assertQuiet(t *testing.T, before goleak.Option) {
	t.Helper()
	if err := goleak.Find(before); err != nil {
		t.Errorf("goroutines left behind: %v", err)
	}
	used0, ok := cpuTime()
	time.Sleep(500 * time.Millisecond)
	used1, _ := cpuTime()
	if ok && used1-used0 > 250*time.Millisecond {
		t.Errorf("the process used %v of CPU in 500ms after the failure: a guest is still running", used1-used0)
	}
}

// A guest that never returns from what wazero runs at instantiation, or
// from airlock_protocol, makes Start fail within about the start timeout,
// and nothing keeps running.
func TestStartFunctionsRunUnderStartTimeout(t *testing.T) {
	s := newStarter(t)
	limits := tier.Limits{StartTimeout: 300 * time.Millisecond}
	cases := []struct {
		name, at, stage string
		module          func(*testing.T) string
	}{
		{"spin in _initialize", "spin", "_initialize", func(t *testing.T) string { return evil(t) }},
		{"sleep in _initialize", "sleep", "_initialize", func(t *testing.T) string { return evil(t) }},
		{"spin in airlock_protocol", "protocol", "airlock_protocol", func(t *testing.T) string { return evil(t) }},
		{"spin in the start section", "", "start section", startSectionModule},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			module := c.module(t)
			t.Setenv(atStart, c.at)
			before := goleak.IgnoreCurrent()
			begin := time.Now()
			_, _, err := start(t, s, evilManifest, module, []string{atStartGrant}, limits)
			took := time.Since(begin)
			if !errors.Is(err, tier.ErrStart) || !errors.Is(err, tier.ErrDeadline) || !strings.Contains(err.Error(), c.stage) {
				t.Fatalf("err = %v, want ErrStart and ErrDeadline naming %s", err, c.stage)
			}
			t.Logf("Start: %v (after %v)", err, took.Round(time.Millisecond))
			// The start timeout, plus compiling the module (cached after
			// the first case) on a loaded machine.
			if took > 3*time.Second {
				t.Errorf("Start took %v with a start timeout of 300ms", took)
			}
			assertQuiet(t, before)
		})
	}
}

// An instance created for a call is created under that call's deadline:
// a start function that never returns fails the call on time.
func TestInstanceForCallRunsUnderCallDeadline(t *testing.T) {
	s := newStarter(t)
	t.Setenv(atStart, "")
	inst, _, err := start(t, s, evilManifest, evil(t), []string{atStartGrant}, tier.Limits{MaxInflight: 1})
	if err != nil {
		t.Fatal(err)
	}
	// A trap discards the only instance: the next call needs a new one.
	if _, err := call(inst, "trap", nil, 5*time.Second); !errors.Is(err, tier.ErrCrashed) {
		t.Fatalf("trap: %v", err)
	}
	for _, at := range []string{"spin", "sleep"} {
		t.Setenv(atStart, at)
		before := goleak.IgnoreCurrent()
		begin := time.Now()
		_, err = call(inst, "fine", nil, 300*time.Millisecond)
		if took := time.Since(begin); !errors.Is(err, tier.ErrDeadline) || took > 1500*time.Millisecond {
			t.Errorf("%s at start: the call took %v and failed with %v, want ErrDeadline after about 300ms", at, took, err)
		}
		assertQuiet(t, before)
	}
	t.Setenv(atStart, "")
	if out, err := call(inst, "fine", nil, 5*time.Second); err != nil || string(out) != `"ok"` {
		t.Errorf("after the failed starts: %s, %v", out, err)
	}
}
