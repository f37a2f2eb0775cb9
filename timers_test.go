package airlock_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airlock-go/airlock"
	"github.com/airlock-go/airlock/internal/testutil"
	"github.com/airlock-go/airlock/sdk/go/plugin"
)

const timerGuestManifest = `
name = "timerguest"
version = "1.0.0"
tier = %q
protocol = 1
%s
functions = ["arm", "tick", "crash"]
[capabilities]
optional = ["timer", "log"]
`

// timerLimits are short enough for tests.
var timerLimits = airlock.Limits{TimerMinPeriod: airlock.Duration(20 * time.Millisecond), TimerMax: 3, LogLinesPerSecond: 10000}

// timerGuestBuiltin is testdata/plugins/timerguest as a builtin, which
// also counts the tick runs in progress (active) and their most (peak).
func timerGuestBuiltin(name string, active, peak *atomic.Int32) airlock.Builtin {
	p := plugin.New(name, "1.0.0")
	plugin.Handle(p, "arm", func(ctx context.Context, h *plugin.Host, in struct {
		Fn   string          `json:"fn"`
		Args json.RawMessage `json:"args"`
	}) (json.RawMessage, error) {
		var out json.RawMessage
		err := h.Call(ctx, in.Fn, in.Args, &out)
		return out, err
	})
	plugin.Handle(p, "tick", func(ctx context.Context, h *plugin.Host, in string) (any, error) {
		n := active.Add(1)
		defer active.Add(-1)
		for old := peak.Load(); n > old && !peak.CompareAndSwap(old, n); old = peak.Load() {
		}
		if err := h.Call(ctx, "log", map[string]string{"msg": "tick " + in}, nil); err != nil {
			return nil, err
		}
		switch {
		case strings.HasPrefix(in, "slow"):
			time.Sleep(300 * time.Millisecond)
		case strings.HasPrefix(in, "fail"):
			return nil, errors.New("tick failed on purpose")
		}
		return nil, nil
	})
	plugin.Handle(p, "crash", func(context.Context, *plugin.Host, any) (any, error) { return nil, nil })
	return airlock.Builtin{Plugin: p, Manifest: strings.Replace(fmt.Sprintf(timerGuestManifest, "builtin", ""), `"timerguest"`, fmt.Sprintf("%q", name), 1)}
}

// timerGuest returns how to load the timer guest in tier: a host option
// (builtins) and the plugin's configuration.
func timerGuest(t *testing.T, tier string) (airlock.Options, airlock.PluginConfig) {
	t.Helper()
	conf := airlock.PluginConfig{Grants: []string{"timer", "log"}, Limits: timerLimits}
	switch tier {
	case "builtin":
		conf.Builtin = "timerguest"
		return airlock.Options{Builtins: map[string]airlock.Builtin{"timerguest": timerGuestBuiltin("timerguest", new(atomic.Int32), new(atomic.Int32))}}, conf
	case "process":
		bin := testutil.GoBinary(t, "testdata/plugins/timerguest")
		m := fmt.Sprintf(timerGuestManifest, "process", fmt.Sprintf("entry = %q", exe("bin/timerguest")))
		conf.Path = testutil.PluginDir(t, m, map[string]string{exe("bin/timerguest"): bin})
	case "wasm":
		module := testutil.GoWasm(t, "testdata/plugins/timerguest")
		m := fmt.Sprintf(timerGuestManifest, "wasm", `entry = "timerguest.wasm"`)
		conf.Path = testutil.PluginDir(t, m, map[string]string{"timerguest.wasm": module})
	}
	return airlock.Options{}, conf
}

// arm calls a timer host function as plugin.
func arm(h *airlock.Host, plugin, fn string, args any) (map[string]any, error) {
	return airlock.CallFunc[map[string]any](context.Background(), h, plugin, "arm", map[string]any{"fn": fn, "args": args})
}

func mustArm(t *testing.T, h *airlock.Host, plugin, fn string, args any) map[string]any {
	t.Helper()
	out, err := arm(h, plugin, fn, args)
	if err != nil {
		t.Fatalf("%s %v: %v", fn, args, err)
	}
	return out
}

// settle waits until the host's timers have moved on by delay for plugin:
// it arms a one-shot timer and waits for its run. Runs that should not
// happen (of a cancelled or orphaned timer) are counted across a settle
// rather than a sleep, so that on a loaded machine the wait is measured by
// the scheduler under test and not by the test's own clock.
func settle(t *testing.T, h *airlock.Host, rec *recorder, plugin string, delay time.Duration) {
	t.Helper()
	label := fmt.Sprintf("settle-%d", time.Now().UnixNano())
	mustArm(t, h, plugin, "timer.after", map[string]any{"delay_ms": delay.Milliseconds(), "function": "tick", "input": label})
	waitFor(t, func() bool { return ticks(rec, label) == 1 }, "a one-shot timer of "+delay.String())
}

// ticks counts the runs of tick with input in the host's log.
func ticks(rec *recorder, input string) int {
	return strings.Count(rec.String(), `msg="tick `+input+`"`)
}

// A timer calls the plugin's function in every tier: once after a delay,
// or every period until it is cancelled; unloading cancels the plugin's
// timers, so that a plugin loaded again under the same name gets no
// callbacks from the old one's.
func TestTimers(t *testing.T) {
	for _, tier := range []string{"builtin", "process", "wasm"} {
		t.Run(tier, func(t *testing.T) {
			opts, conf := timerGuest(t, tier)
			h, rec := newHost(t, opts)
			load(t, h, conf)

			mustArm(t, h, "timerguest", "timer.after", map[string]any{"delay_ms": 30, "function": "tick", "input": "once"})
			waitFor(t, func() bool { return ticks(rec, "once") == 1 }, "the one-shot timer")

			id := mustArm(t, h, "timerguest", "timer.every", map[string]any{"period_ms": 25, "function": "tick", "input": "every"})["id"]
			waitFor(t, func() bool { return ticks(rec, "every") >= 3 }, "three periodic runs")
			if out := mustArm(t, h, "timerguest", "timer.cancel", map[string]any{"id": id}); out["cancelled"] != true {
				t.Errorf("cancel %v: %v", id, out)
			}
			settle(t, h, rec, "timerguest", 100*time.Millisecond) // a run in progress ends
			n := ticks(rec, "every")
			settle(t, h, rec, "timerguest", 200*time.Millisecond) // eight periods
			if got := ticks(rec, "every"); got != n {
				t.Errorf("%d runs after the cancel", got-n)
			}
			if got := ticks(rec, "once"); got != 1 {
				t.Errorf("the one-shot timer ran %d times", got)
			}

			mustArm(t, h, "timerguest", "timer.every", map[string]any{"period_ms": 25, "function": "tick", "input": "unload"})
			waitFor(t, func() bool { return ticks(rec, "unload") >= 1 }, "a periodic run before the unload")
			if err := h.Unload(context.Background(), "timerguest"); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(rec.String(), "plugin timers cancelled") {
				t.Error("unloading did not cancel the plugin's timers")
			}
			load(t, h, conf)
			n = ticks(rec, "unload")
			settle(t, h, rec, "timerguest", 200*time.Millisecond)
			if got := ticks(rec, "unload"); got != n {
				t.Errorf("the unloaded plugin's timer ran %d times in its successor", got-n)
			}
			if strings.Contains(rec.String(), "timer callback failed") {
				t.Errorf("a callback failed:\n%s", rec)
			}
		})
	}
}

// What a plugin may ask is bounded: the count of its timers, their
// period (and a one-shot delay), the functions (its manifest's), and only
// its own timers can be cancelled.
func TestTimerLimits(t *testing.T) {
	var active, peak atomic.Int32
	h, _ := newHost(t, airlock.Options{Builtins: map[string]airlock.Builtin{
		"alpha": timerGuestBuiltin("alpha", &active, &peak),
		"beta":  timerGuestBuiltin("beta", &active, &peak),
	}})
	load(t, h, airlock.PluginConfig{Builtin: "alpha", Grants: []string{"timer", "log"}, Limits: timerLimits})
	load(t, h, airlock.PluginConfig{Builtin: "beta", Grants: []string{"log"}, Limits: timerLimits})
	every := func(ms int, fn string) map[string]any {
		return map[string]any{"period_ms": ms, "function": fn, "input": "limits"}
	}
	for _, c := range []struct {
		fn   string
		args any
		want string
	}{
		{"timer.every", every(19, "tick"), "timer_min_period"},
		{"timer.after", map[string]any{"delay_ms": 5, "function": "tick"}, "timer_min_period"},
		{"timer.after", map[string]any{"delay_ms": -1, "function": "tick"}, "timer_min_period"},
		{"timer.every", every(1<<62, "tick"), "over a year"},
		{"timer.every", every(1000, "hidden"), `the manifest declares no function "hidden"`},
		{"timer.every", every(1000, "arm.x"), `no function "arm.x"`},
	} {
		_, err := arm(h, "alpha", c.fn, c.args)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "plugin alpha") {
			t.Errorf("%s %v: %v, want an error naming plugin alpha and %q", c.fn, c.args, err, c.want)
		}
	}
	var ids []any
	for range 3 {
		ids = append(ids, mustArm(t, h, "alpha", "timer.every", every(10000, "tick"))["id"])
	}
	if _, err := arm(h, "alpha", "timer.after", map[string]any{"delay_ms": 10000, "function": "tick"}); err == nil || !strings.Contains(err.Error(), "timer_max") {
		t.Errorf("a fourth timer over timer_max 3: %v", err)
	}
	if _, err := arm(h, "beta", "timer.cancel", map[string]any{"id": ids[0]}); err == nil || !strings.Contains(err.Error(), `capability "timer" not granted to plugin beta`) {
		t.Errorf("timer.cancel without the grant: %v", err)
	}
	h.Unload(context.Background(), "beta")
	load(t, h, airlock.PluginConfig{Builtin: "beta", Grants: []string{"timer", "log"}, Limits: timerLimits})
	if out := mustArm(t, h, "beta", "timer.cancel", map[string]any{"id": ids[0]}); out["cancelled"] != false {
		t.Errorf("beta cancelled alpha's timer: %v", out)
	}
	if out := mustArm(t, h, "alpha", "timer.cancel", map[string]any{"id": ids[0]}); out["cancelled"] != true {
		t.Errorf("alpha could not cancel its own timer: %v", out)
	}
	mustArm(t, h, "alpha", "timer.every", every(10000, "tick")) // room again
}

// The runs of one periodic timer never overlap: a run due while the last
// is still going is skipped, and the skip logged.
func TestTimerRunsNeverOverlap(t *testing.T) {
	var active, peak atomic.Int32
	h, rec := newHost(t, airlock.Options{Builtins: map[string]airlock.Builtin{"timerguest": timerGuestBuiltin("timerguest", &active, &peak)}})
	load(t, h, airlock.PluginConfig{Builtin: "timerguest", Grants: []string{"timer", "log"}, Limits: timerLimits})
	start := time.Now()
	mustArm(t, h, "timerguest", "timer.every", map[string]any{"period_ms": 20, "function": "tick", "input": "slow"})
	// Three runs of 300ms, with runs due every 20ms meanwhile: skipped.
	waitFor(t, func() bool { return ticks(rec, "slow") >= 3 }, "three runs of the slow timer")
	n, took := ticks(rec, "slow"), time.Since(start)
	if p := peak.Load(); p != 1 {
		t.Errorf("%d runs of one timer at once", p)
	}
	// Runs one after another: at most one started every 300ms, however
	// slowly the machine let them run.
	if most := int(took/(300*time.Millisecond)) + 1; n > most {
		t.Errorf("%d runs of 300ms in %v", n, took)
	}
	if !strings.Contains(rec.String(), "timer run skipped: the previous run is still going") {
		t.Error("no skipped run logged")
	}
}

// A failing callback is logged with the plugin and the function named.
func TestTimerCallbackErrorIsLogged(t *testing.T) {
	opts, conf := timerGuest(t, "builtin")
	h, rec := newHost(t, opts)
	load(t, h, conf)
	mustArm(t, h, "timerguest", "timer.after", map[string]any{"delay_ms": 20, "function": "tick", "input": "fail"})
	waitFor(t, func() bool { return strings.Contains(rec.String(), "timer callback failed") }, "the failure logged")
	line := ""
	for l := range strings.Lines(rec.String()) {
		if strings.Contains(l, "timer callback failed") {
			line = l
		}
	}
	for _, want := range []string{"plugin=timerguest", "function=tick", "tick failed on purpose"} {
		if !strings.Contains(line, want) {
			t.Errorf("the log line %q does not say %q", line, want)
		}
	}
}

// A plugin that crashes loses its timers, whether it is restarted (it
// sets its own again) or disabled after too many crashes.
func TestTimersEndWithACrash(t *testing.T) {
	for _, c := range []struct {
		name       string
		maxCrashes int
		state      airlock.State
	}{
		{"restarted", 3, airlock.StateRunning},
		{"disabled", 1, airlock.StateDisabled},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, conf := timerGuest(t, "process")
			h, rec := newHostWith(t, airlock.Config{Restart: airlock.RestartPolicy{MaxCrashes: c.maxCrashes, Backoff: airlock.Duration(10 * time.Millisecond)}}, airlock.Options{})
			load(t, h, conf)
			mustArm(t, h, "timerguest", "timer.every", map[string]any{"period_ms": 25, "function": "tick", "input": "crash"})
			waitFor(t, func() bool { return ticks(rec, "crash") >= 2 }, "two runs")
			h.Call(context.Background(), "timerguest", "crash", nil)
			waitFor(t, func() bool {
				info, _ := h.Plugin("timerguest")
				return info.State == c.state && (c.state != airlock.StateRunning || info.Restarts == 1)
			}, "the plugin "+c.name)
			if c.state == airlock.StateDisabled { // its successor must not inherit the timer either
				if err := h.Enable(context.Background(), "timerguest"); err != nil {
					t.Fatal(err)
				}
			}
			n := ticks(rec, "crash")
			settle(t, h, rec, "timerguest", 250*time.Millisecond) // ten periods
			if got := ticks(rec, "crash"); got != n {
				t.Errorf("%d runs after the crash", got-n)
			}
			if !strings.Contains(rec.String(), "plugin timers cancelled") {
				t.Error("the cancellation is not logged")
			}
		})
	}
}
