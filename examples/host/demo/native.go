package demo

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/airlock-go/airlock"
)

// peekOutput is what hello-native-c's function peek answers: the process
// the library runs in, as it sees it, and the first line of the file it
// was asked to read or why it could not.
type peekOutput struct {
	PID   int    `json:"pid"`
	Read  string `json:"read"`
	Error string `json:"error"`
}

// costCalls is how many calls the native step times for each isolation.
const costCalls = 200

// native loads hello-native-c, a C shared library, into the host
// (isolation "in-process") and then the same file contained ("process"):
// it asks the library for a file of the host's each way and times a call.
func (d *demo) native(ctx context.Context, h *airlock.Host) error {
	if !slices.Contains(d.built, "hello-native-c") {
		d.say("  (skipped: %s)", d.nativeSkipped)
		return nil
	}
	dir, err := os.MkdirTemp("", "airlock-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	secret := filepath.Join(dir, "ledger-key.txt")
	if err := os.WriteFile(secret, []byte("ledger signing key 7f3a-c0ffee\n"), 0o600); err != nil {
		return err
	}
	d.say("  hello-native-c is a C shared library (.so/.dylib/.dll), loaded without cgo. The host")
	d.say("  keeps a secret in %s; the library's peek tries to read it.", secret)
	for _, iso := range []airlock.Isolation{airlock.IsolationInProcess, airlock.IsolationProcess} {
		if err := d.nativeOnce(ctx, h, iso, secret); err != nil {
			return err
		}
	}
	d.say("  In-process is full trust: no boundary, and the library's crash is the host's. With")
	d.say("  isolation = \"process\" in host.toml (same file, same manifest) it is confined like a")
	d.say("  process plugin, and a crash costs one call.")
	return nil
}

// nativeOnce loads hello-native-c with one isolation, shows where it runs
// and what it could read, times a call, and unloads it.
func (d *demo) nativeOnce(ctx context.Context, h *airlock.Host, iso airlock.Isolation, secret string) error {
	pc := d.nativeConfig()
	pc.Isolation = iso
	if _, err := h.Load(ctx, pc); err != nil {
		d.say("  isolation = %q → %v", iso, err)
		return nil
	}
	defer func() { _ = h.Unload(ctx, "hello-native-c") }()
	out, err := airlock.CallFunc[peekOutput](ctx, h, "hello-native-c", "peek", map[string]string{"path": secret})
	if err != nil {
		return fmt.Errorf("hello-native-c.peek (%s): %w", iso, err)
	}
	info, _ := h.Plugin("hello-native-c")
	d.say("\n  isolation = %q:", iso)
	switch {
	case out.PID == os.Getpid():
		d.say("    the library runs in the host's own process (pid %d)", out.PID)
	case info.PID != 0 && info.PID != out.PID:
		d.say("    the same file runs in a sandboxed child: pid %d to the host, pid %d in its own namespace", info.PID, out.PID)
	case info.PID != 0:
		d.say("    the same file runs in a sandboxed child (pid %d)", info.PID)
	default:
		d.say("    the library runs in pid %d", out.PID)
	}
	if out.Error != "" {
		d.say("    peek(secret) → refused: %s", out.Error)
	} else {
		d.say("    peek(secret) → read %q", out.Read)
	}
	cost, err := d.callCost(ctx, h)
	if err != nil {
		return err
	}
	d.say("    a call costs %v (median of %d)", cost, costCalls)
	return nil
}

// callCost is the median time of a call to hello-native-c's peek with no
// file to read.
func (d *demo) callCost(ctx context.Context, h *airlock.Host) (time.Duration, error) {
	times := make([]time.Duration, costCalls)
	for i := range times {
		start := time.Now()
		if _, err := h.Call(ctx, "hello-native-c", "peek", struct{}{}); err != nil {
			return 0, fmt.Errorf("hello-native-c.peek: %w", err)
		}
		times[i] = time.Since(start)
	}
	slices.Sort(times)
	return times[len(times)/2].Round(100 * time.Nanosecond), nil
}

// nativeConfig is the operator's configuration of hello-native-c, without
// its isolation.
func (d *demo) nativeConfig() airlock.PluginConfig {
	return airlock.PluginConfig{Path: d.plugin("hello-native-c"), Grants: []string{"log"}}
}
