package airlock_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/airlock-go/airlock"

	"github.com/airlock-go/airlock/internal/capability"
	"github.com/airlock-go/airlock/internal/manifest"
	"github.com/airlock-go/airlock/internal/process"
	"github.com/airlock-go/airlock/internal/tier"
	"github.com/airlock-go/airlock/protocol"
)

// The sandbox's explain mode (docs/SECURITY.md, "Why was my plugin
// refused?"): a real plugin process makes calls the sandbox refuses; the
// host's log must name the rule and the grant that would allow each, and
// each call must still fail as it does without explain mode. The plugin
// is started through the process tier directly, with explain mode in its
// spec, in both sandbox modes.

// explained is one plugin started for these tests.
type explained struct {
	t    *testing.T
	inst tier.Instance
	rec  *recorder
}

// startExplained starts the test plugin in the sandbox with the given
// grants, in explain mode or not.
func startExplained(t *testing.T, dir string, grants []string, explain, namespaces bool) *explained {
	t.Helper()
	man, err := manifest.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	set, err := capability.NewSet(grants)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	spec := tier.Spec{
		Manifest: man, Dir: dir, Name: man.Name, Grants: set,
		Limits:       tier.Limits{}.WithDefaults(),
		Log:          slog.New(slog.NewTextHandler(rec, &slog.HandlerOptions{Level: slog.LevelDebug})).With("plugin", man.Name),
		Sandbox:      tier.SandboxOn,
		NoNamespaces: !namespaces,
		Explain:      explain,
		Host: func(context.Context, string, json.RawMessage) (json.RawMessage, error) {
			return nil, errors.New("no host functions here")
		},
	}
	inst, err := process.Starter{}.Start(ctxT(t, 20*time.Second), spec)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() { inst.Stop(context.Background()) })
	return &explained{t: t, inst: inst, rec: rec}
}

// probe runs one of the test plugin's probes (probe_linux.go).
func (e *explained) probe(attack string, in map[string]any) attackResult {
	e.t.Helper()
	if in == nil {
		in = map[string]any{}
	}
	in["attack"] = attack
	raw, _ := json.Marshal(in)
	out, err := e.inst.Call(ctxT(e.t, 20*time.Second), protocol.CallParams{Name: "escape", Input: raw})
	if err != nil {
		e.t.Fatalf("%s: %v (log: %s)", attack, err, e.rec)
	}
	var r attackResult
	if err := json.Unmarshal(out, &r); err != nil {
		e.t.Fatal(err)
	}
	return r
}

// logged waits briefly for the log to hold want: the host logs a path's
// refusal after it has let the call go on.
func (e *explained) logged(want string) bool {
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if strings.Contains(e.rec.String(), want) {
			return true
		}
	}
	return false
}

type explainCase struct {
	name   string
	attack string
	input  func(f *explainFixture) map[string]any
	// refused is what the call's error says, in explain mode and without.
	refused []string
	// explanation is the line explain mode logs.
	explanation func(f *explainFixture) string
	// needsMemory: the explanation is read from the plugin's memory,
	// which an unprivileged host cannot do without the namespace layer
	// (the plugin is not dumpable).
	needsMemory bool
}

// explainFixture is what the cases work on.
type explainFixture struct {
	secret  string // a readable file in a directory not granted
	outside string // a directory not granted
	victim  int    // a process of the same user
}

func explainCases() []explainCase {
	return []explainCase{
		{
			name: "socket", attack: "probe-socket-inet",
			refused: []string{"operation not permitted"},
			explanation: func(*explainFixture) string {
				return `sandbox refused socket(AF_INET): rule \"network\" (no net grant); grant \"net\" would allow it`
			},
		},
		{
			name: "path read", attack: "probe-read", needsMemory: true,
			input:   func(f *explainFixture) map[string]any { return map[string]any{"path": f.secret} },
			refused: []string{"permission denied"},
			explanation: func(f *explainFixture) string {
				return fmt.Sprintf(`sandbox refused openat(\"%s\", read): no fs.read grant covers it; grant \"fs.read:%s\" would allow it`, f.secret, f.secret)
			},
		},
		{
			name: "path write", attack: "probe-write", needsMemory: true,
			input:   func(f *explainFixture) map[string]any { return map[string]any{"path": filepath.Join(f.outside, "out")} },
			refused: []string{"permission denied", "read-only file system"},
			explanation: func(f *explainFixture) string {
				return fmt.Sprintf(`sandbox refused openat(\"%s/out\", create): no fs.write grant covers %s; grant \"fs.write:%s\" would allow it`, f.outside, f.outside, f.outside)
			},
		},
		{
			name: "ptrace", attack: "probe-ptrace",
			input:   func(f *explainFixture) map[string]any { return map[string]any{"pid": f.victim} },
			refused: []string{"operation not permitted"},
			explanation: func(*explainFixture) string {
				return `sandbox refused ptrace: rule \"other processes' memory\" (refused to every plugin); no grant allows it`
			},
		},
	}
}

func newExplainFixture(t *testing.T) *explainFixture {
	real := func(p string) string {
		r, err := filepath.EvalSymlinks(p)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	f := &explainFixture{outside: real(t.TempDir())}
	f.secret = filepath.Join(real(t.TempDir()), "id_ed25519")
	if err := os.WriteFile(f.secret, []byte("PRIVATE KEY"), 0o600); err != nil {
		t.Fatal(err)
	}
	victim := exec.Command("sleep", "300")
	victim.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := victim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { victim.Process.Kill(); victim.Wait() })
	f.victim = victim.Process.Pid
	return f
}

func TestExplainMode(t *testing.T) {
	dir := testPluginWith(t, nil, nil)
	f := newExplainFixture(t)
	for _, mode := range sandboxModes[:2] {
		for _, c := range explainCases() {
			t.Run(mode.name+"/"+c.name, func(t *testing.T) {
				var in map[string]any
				if c.input != nil {
					in = c.input(f)
				}
				e := startExplained(t, dir, []string{"log"}, true, mode.namespaces)
				r := e.probe(c.attack, in)
				// The refused call still fails: explain mode answers it
				// as the policy does, and lets Landlock decide paths.
				if r.Error == "" || !containsAny(r.Error, c.refused) {
					t.Errorf("in explain mode the call got %+v; want it refused with one of %q", r, c.refused)
				}
				want := c.explanation(f)
				if c.needsMemory && !mode.namespaces && os.Geteuid() != 0 {
					want = "cannot read the plugin's memory"
				}
				if !e.logged(want) {
					t.Errorf("log lacks %s\nlog:\n%s", want, e.rec)
				}
			})
		}
	}
}

// Without explain mode the same calls fail the same way, and nothing
// is explained.
func TestExplainModeOff(t *testing.T) {
	dir := testPluginWith(t, nil, nil)
	f := newExplainFixture(t)
	for _, mode := range sandboxModes[:2] {
		t.Run(mode.name, func(t *testing.T) {
			e := startExplained(t, dir, []string{"log"}, false, mode.namespaces)
			for _, c := range explainCases() {
				var in map[string]any
				if c.input != nil {
					in = c.input(f)
				}
				if r := e.probe(c.attack, in); r.Error == "" || !containsAny(r.Error, c.refused) {
					t.Errorf("%s: got %+v; want it refused with one of %q", c.name, r, c.refused)
				}
			}
			time.Sleep(100 * time.Millisecond)
			if log := e.rec.String(); strings.Contains(log, "sandbox refused") || strings.Contains(log, "explain") {
				t.Errorf("explained without explain mode:\n%s", log)
			}
		})
	}
}

// A grant the explanation names does allow the call: the suggestion is
// the right one.
func TestExplainedGrantAllows(t *testing.T) {
	f := newExplainFixture(t)
	dir := testPluginWith(t, nil, []string{"net", "fs.read:" + f.secret})
	e := startExplained(t, dir, []string{"log", "net", "fs.read:" + f.secret}, true, true)
	if r := e.probe("probe-socket-inet", nil); r.Error != "" {
		t.Errorf("socket with the net grant: %+v", r)
	}
	if r := e.probe("probe-read", map[string]any{"path": f.secret}); r.Error != "" || r.Data != "PRIVATE KEY" {
		t.Errorf("read with the fs.read grant: %+v", r)
	}
	if log := e.rec.String(); strings.Contains(log, "sandbox refused socket") || strings.Contains(log, f.secret) {
		t.Errorf("a granted call was explained as refused:\n%s", log)
	}
}

// A plugin flooding refused calls is answered for every one, logs one
// line for them, and slows only itself.
func TestExplainFlood(t *testing.T) {
	dir := testPluginWith(t, nil, nil)
	e := startExplained(t, dir, []string{"log"}, true, true)
	const n = 20000
	start := time.Now()
	r := e.probe("probe-flood", map[string]any{"pid": n})
	if r.Count != n || r.Data != "operation not permitted" {
		t.Fatalf("flood: %+v; want %d calls refused with EPERM", r, n)
	}
	// The pace is 5000 notifications a second after a burst of as many.
	if d := time.Since(start); d < time.Second || d > 15*time.Second {
		t.Errorf("flood of %d took %v; want it paced (about 3s)", n, d)
	}
	if got := strings.Count(e.rec.String(), "sandbox refused socket(AF_INET)"); got != 1 {
		t.Errorf("%d log lines for the flood; want 1", got)
	}
	e.inst.Stop(context.Background())
	if !e.logged("more refusals not logged") {
		t.Errorf("no count of the refusals not logged:\n%s", e.rec)
	}
}

// The notification loop and its descriptors are gone once the plugin is,
// whether it was stopped or crashed.
func TestExplainLoopEnds(t *testing.T) {
	dir := testPluginWith(t, nil, nil)
	// Warm up: the first start opens descriptors the process keeps.
	settled := goleak.IgnoreCurrent()
	w := startExplained(t, dir, []string{"log"}, true, true)
	w.inst.Stop(context.Background())
	// Its goroutines, and the descriptors they close as they end, are gone.
	goleak.VerifyNone(t, settled)
	before := openFDs(t)
	ignore := goleak.IgnoreCurrent()
	for _, how := range []string{"stop", "crash"} {
		e := startExplained(t, dir, []string{"log"}, true, true)
		e.probe("probe-socket-inet", nil)
		if how == "crash" {
			e.inst.Call(ctxT(t, 10*time.Second), protocol.CallParams{Name: "crash", Input: json.RawMessage("null")})
			<-e.inst.Done()
		}
		e.inst.Stop(context.Background())
	}
	goleak.VerifyNone(t, ignore)
	if after := openFDs(t); after > before {
		t.Errorf("%d descriptors open after the plugins ended; %d before", after, before)
	}
}

// openFDs counts the process's open descriptors. Callers wait for the
// goroutines that close them to end first (goleak.VerifyNone).
func openFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

// A plugin killed by the ABI filter is said to be: explain mode or not,
// it cannot be answered, only killed.
func TestSIGSYSIsExplained(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("the i386 probe is for amd64")
	}
	dir := testPluginWith(t, nil, nil)
	for _, explain := range []bool{false, true} {
		e := startExplained(t, dir, []string{"log"}, explain, true)
		raw, _ := json.Marshal(map[string]any{"attack": "i386-socket"})
		_, err := e.inst.Call(ctxT(t, 20*time.Second), protocol.CallParams{Name: "escape", Input: raw})
		if err == nil || !strings.Contains(err.Error(), "killed by the sandbox's system call filter (SIGSYS)") {
			t.Errorf("explain=%v: err = %v; want it to say the system call filter killed the plugin", explain, err)
		}
	}
}

// The host configuration's explain key turns explain mode on, and nothing
// is explained without it. The refusal is logged before the plugin sees
// it, so the log is read as soon as the call returns.
func TestExplainThroughConfig(t *testing.T) {
	plugin := testPluginWith(t, nil, nil)
	for _, explain := range []bool{true, false} {
		h, rec := newHost(t, airlock.Options{})
		cfg, err := airlock.ParseConfig("h.toml", []byte(fmt.Sprintf("[[plugin]]\npath = %q\ngrants = [\"log\"]\nexplain = %v\n", plugin, explain)))
		if err != nil {
			t.Fatal(err)
		}
		load(t, h, cfg.Plugins[0])
		raw, err := h.Call(ctxT(t, 10*time.Second), "testplugin", "escape", map[string]any{"attack": "probe-socket-inet"})
		if err != nil || !strings.Contains(string(raw), "operation not permitted") {
			t.Fatalf("%s %v", raw, err)
		}
		got := strings.Contains(rec.String(), `sandbox refused socket(AF_INET): rule \"network\" (no net grant); grant \"net\" would allow it`)
		if got != explain {
			t.Errorf("explain=%v: logged=%v\n%s", explain, got, rec)
		}
	}
}
