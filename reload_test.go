package airlock_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airlock-go/airlock"
)

// withGreeting is a configuration of the test plugin at dir whose
// greeting setting is g: changing it makes Reload replace the plugin.
func withGreeting(dir, g string) *airlock.Config {
	return &airlock.Config{Plugins: []airlock.PluginConfig{{Path: dir, Config: map[string]any{"greeting": g}}}}
}

func greetingOf(t *testing.T, h *airlock.Host) string {
	t.Helper()
	out, err := airlock.CallFunc[map[string]any](ctxT(t, 10*time.Second), h, "testplugin", "config", nil)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprint(out["greeting"])
}

// 32 callers call the plugin without pause while it is replaced 100 times:
// no call fails, and each reload's new settings are in force after it.
// One caller in four calls a host function from inside its call (as
// examples/plugins/hello-go logs each greeting): the old instance, still
// finishing calls, keeps its grants and its host calls.
func TestReloadUnderLoad(t *testing.T) {
	if runtime.GOOS == "windows" && os.Getenv("AIRLOCK_TEST_PREBUILT") != "" {
		// Seen on 2026-12-03: wine's CreateProcess fails with "Internal
		// error" on the third reload while 32 callers run. The other
		// reload tests run under wine; this one runs on Linux in CI.
		t.Skip("wine cannot spawn plugins reliably under this load")
	}
	dir := testPlugin(t)
	ctx := ctxT(t, 5*time.Minute)
	cfgOf := func(g string) *airlock.Config {
		cfg := withGreeting(dir, g)
		cfg.Plugins[0].Grants = []string{"log"}
		// Callers without pause can outrun the default host call rate
		// (the demo's did): raised, so that only a reload can fail a call.
		cfg.Limits.HostCallsPerSecond = 1_000_000
		return cfg
	}
	h, err := airlock.Open(ctx, cfgOf("g0"), airlock.Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	var calls, failed atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				fn, in := "echo", fmt.Sprintf(`{"caller":%d}`, i)
				want := in
				if i%4 == 0 {
					fn, in, want = "callhost", fmt.Sprintf(`{"fn":"log","input":{"level":"debug","msg":"caller %d"}}`, i), `{"result":null}`
				}
				out, err := h.Call(ctx, "testplugin", fn, json.RawMessage(in))
				calls.Add(1)
				if err != nil || string(out) != want {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("%v (got %s)", err, out))
				}
			}
		}()
	}
	reloads := 100
	if testing.Short() {
		reloads = 10
	}
	for i := 1; i <= reloads; i++ {
		g := fmt.Sprintf("g%d", i)
		if err := h.Reload(ctx, cfgOf(g)); err != nil {
			t.Fatalf("reload %d: %v", i, err)
		}
		if i%25 == 0 {
			if got := greetingOf(t, h); got != g {
				t.Errorf("after reload %d the plugin's greeting is %q, want %q", i, got, g)
			}
		}
	}
	close(stop)
	wg.Wait()
	if failed.Load() != 0 {
		t.Errorf("%d of %d calls failed across %d reloads; first: %v", failed.Load(), calls.Load(), reloads, firstErr.Load())
	}
	if calls.Load() < int64(reloads) {
		t.Errorf("only %d calls ran during %d reloads", calls.Load(), reloads)
	}
	t.Logf("%d calls, none failed, across %d reloads", calls.Load(), reloads)
}

// A call in flight when its plugin is replaced finishes on the old
// instance, which then stops; the new one takes the next calls.
func TestReloadDrainsInFlight(t *testing.T) {
	dir := testPlugin(t)
	ctx := ctxT(t, time.Minute)
	h, err := airlock.Open(ctx, withGreeting(dir, "old"), airlock.Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	before, _ := h.Plugin("testplugin")
	res := make(chan error, 1)
	go func() {
		out, err := h.Call(ctx, "testplugin", "sleep", 400)
		if err == nil && string(out) != `"slept"` {
			err = fmt.Errorf("got %s", out)
		}
		res <- err
	}()
	waitFor(t, func() bool { return inFlight(h) }, "the sleep call to start")
	if err := h.Reload(ctx, withGreeting(dir, "new")); err != nil {
		t.Fatal(err)
	}
	if err := <-res; err != nil {
		t.Errorf("the call in flight during the reload: %v", err)
	}
	after, _ := h.Plugin("testplugin")
	if after.PID == before.PID || after.PID == 0 {
		t.Errorf("pid %d before, %d after: want a new instance", before.PID, after.PID)
	}
	if alive(before.PID) {
		t.Errorf("the old instance (pid %d) still runs after Reload returned", before.PID)
	}
	if got := greetingOf(t, h); got != "new" {
		t.Errorf("greeting %q after reload", got)
	}
}

// inFlight reports whether the test plugin has a call in flight.
func inFlight(h *airlock.Host) bool {
	info, ok := h.Plugin("testplugin")
	return ok && info.InFlight > 0
}

// A plugin whose new version fails to start keeps the old one serving;
// an unchanged plugin keeps its instance; removed plugins stop and added
// ones start.
func TestReloadKeepsAddsRemoves(t *testing.T) {
	dir := testPlugin(t)
	ctx := ctxT(t, time.Minute)
	h, err := airlock.Open(ctx, withGreeting(dir, "one"), airlock.Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	first, _ := h.Plugin("testplugin")

	if err := h.Reload(ctx, withGreeting(dir, "one")); err != nil {
		t.Fatal(err)
	}
	if same, _ := h.Plugin("testplugin"); same.PID != first.PID {
		t.Errorf("an unchanged plugin was restarted: pid %d, then %d", first.PID, same.PID)
	}

	broken := withGreeting(dir, "two")
	broken.Plugins[0].Args = []string{"-name", "impostor"} // fails its handshake
	err = h.Reload(ctx, broken)
	if !errors.Is(err, airlock.ErrHandshake) || !strings.Contains(err.Error(), "plugin testplugin") {
		t.Errorf("reload with a failing plugin: err = %v", err)
	}
	if kept, _ := h.Plugin("testplugin"); kept.PID != first.PID || greetingOf(t, h) != "one" {
		t.Errorf("the old plugin did not keep serving: pid %d (was %d)", kept.PID, first.PID)
	}

	other := testPlugin(t)
	renamed := filepath.Join(t.TempDir(), "other")
	if err := os.Rename(other, renamed); err != nil {
		t.Fatal(err)
	}
	cfg := &airlock.Config{Plugins: []airlock.PluginConfig{{Path: renamed, Name: "testplugin", Args: []string{"-name", "testplugin"}}}}
	if err := h.Reload(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if alive(first.PID) {
		t.Errorf("the replaced plugin (pid %d) still runs", first.PID)
	}
	if err := h.Reload(ctx, &airlock.Config{}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Call(ctx, "testplugin", "echo", nil); !errors.Is(err, airlock.ErrUnknownPlugin) {
		t.Errorf("after removing every plugin: err = %v", err)
	}
}

// A plugin disabled after repeated crashes is started afresh by Enable
// (and by a Reload); the operator chooses per hook whether a disabled
// plugin fails the hook or is skipped.
func TestEnableAndWhenDisabled(t *testing.T) {
	dir := testPlugin(t)
	ctx := ctxT(t, time.Minute)
	cfg := &airlock.Config{
		Restart: airlock.RestartPolicy{MaxCrashes: 1, Backoff: airlock.Duration(10 * time.Millisecond)},
		Plugins: []airlock.PluginConfig{{Path: dir}},
	}
	greet := airlock.NewHook("greet", func(_ context.Context, in greetIn) (greeting, error) {
		return greeting{Message: "default, " + in.Name}, nil
	})
	h, err := airlock.Open(ctx, cfg, airlock.Options{Logger: quietLogger(), Hooks: []airlock.AnyHook{greet}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	disable := func() {
		t.Helper()
		_, _ = h.Call(ctx, "testplugin", "crash", nil)
		waitFor(t, func() bool { info, _ := h.Plugin("testplugin"); return info.State == airlock.StateDisabled }, "the plugin disabled")
	}
	disable()
	// By default a disabled definer is skipped: the default answers.
	if out, err := greet.Run(ctx, h, greetIn{Name: "ada"}); err != nil || out.Message != "default, ada" {
		t.Errorf("skipped by default: %v, %v", out, err)
	}
	if err := h.Enable(ctx, "testplugin"); err != nil {
		t.Fatal(err)
	}
	if out, err := greet.Run(ctx, h, greetIn{Name: "ada"}); err != nil || out.Message != "hello, ada" {
		t.Errorf("after Enable: %v, %v", out, err)
	}

	cfg.Hooks = map[string]airlock.HookPolicy{"greet": {WhenDisabled: airlock.FailDisabled}}
	if err := h.Reload(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	disable()
	if _, err := greet.Run(ctx, h, greetIn{Name: "ada"}); !errors.Is(err, airlock.ErrPluginDisabled) {
		t.Errorf("when_disabled = fail: err = %v, want ErrPluginDisabled", err)
	}
	if err := h.Reload(ctx, cfg); err != nil { // a reload re-enables it too
		t.Fatal(err)
	}
	if info, _ := h.Plugin("testplugin"); info.State != airlock.StateRunning {
		t.Errorf("after a reload the plugin is %s", info.State)
	}
}
