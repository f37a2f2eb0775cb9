package airlock_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airlock-go/airlock"
)

// The hostile-plugin suite: each case is one attack by a real plugin
// process. For every case the suite checks that the host answers with a
// typed error (or the attack's own failure) within a bounded time, that a
// healthy plugin loaded beside the attacker keeps working, and that the
// attack got nothing it was not granted. TestMain checks that no goroutine
// leaks; TestHostileMemoryBounded checks the host's heap.
//
// docs/SECURITY.md maps each attack to the mechanism that stops it and to
// the case here that proves it.

// attackResult mirrors the test plugin's report of an attack.
type attackResult struct {
	Count int    `json:"count"`
	Data  string `json:"data"`
	Error string `json:"error"`
}

type attackEnv struct {
	t       *testing.T
	h       *airlock.Host
	rec     *recorder
	secret  string // a file in a directory the plugin was not granted
	granted string // a directory the plugin may write to
	addr    string // a TCP listener on loopback
	accepts *int
	mu      *sync.Mutex
	started time.Time // when the attack's input was made, just before the call
	// namespaces is whether the sandbox's namespace layer is on; the
	// suite runs with and without it, so that each layer's refusal is
	// seen (containment_linux_test.go has the other classes).
	namespaces bool
	// acceptsBefore is the listener's count when the attack started.
	acceptsBefore int
}

func (e *attackEnv) acceptCount() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return *e.accepts
}

type attack struct {
	name   string
	fn     string
	input  func(e *attackEnv) any
	grants []string
	limits airlock.Limits
	check  func(e *attackEnv, res attackResult, err error)
	// control, if set, checks the same attack with the sandbox off: it
	// must work, which shows that check's refusal is the sandbox's doing.
	// Attacks that would harm the machine running the tests when they
	// work (fork and memory bombs, signalling or tracing the test itself)
	// have none.
	control func(e *attackEnv, res attackResult, err error)
}

func TestHostilePlugins(t *testing.T) {
	home := t.TempDir() // stands for the host user's home
	secret := filepath.Join(home, ".ssh-id")
	if err := os.WriteFile(secret, []byte("PRIVATE KEY"), 0o600); err != nil {
		t.Fatal(err)
	}
	writable := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var mu sync.Mutex
	accepts := 0
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			accepts++
			mu.Unlock()
			c.Close()
		}
	}()
	healthyDir := buildExample(t, "hello-go")
	pluginDir := testPluginWith(t, nil, []string{"fs.write:" + writable, "fs.read:" + home, "net"})

	for _, mode := range sandboxModes {
		for _, a := range attacks() {
			if mode.off {
				if a.control == nil {
					continue
				}
				a.check = a.control
			}
			t.Run(mode.name+"/"+a.name, func(t *testing.T) {
				runAttack(t, a, mode, hostileSetup{healthyDir, pluginDir, secret, writable, ln.Addr().String(), &accepts, &mu})
			})
		}
	}
}

// hostileSetup is what every hostile case shares.
type hostileSetup struct {
	healthyDir, pluginDir string
	secret, writable      string
	addr                  string
	accepts               *int
	mu                    *sync.Mutex
}

func runAttack(t *testing.T, a attack, mode sandboxMode, s hostileSetup) {
	namespaces := mode.namespaces
	sandbox := airlock.SandboxOn
	if mode.off {
		sandbox = airlock.SandboxOff
	}
	healthyDir, pluginDir, secret, writable := s.healthyDir, s.pluginDir, s.secret, s.writable
	h, rec := newHostWith(t, airlock.Config{Restart: airlock.RestartPolicy{Backoff: airlock.Duration(10 * time.Millisecond)}}, airlock.Options{})
	load(t, h, airlock.PluginConfig{Path: healthyDir, Grants: []string{"log"}})
	limits := a.limits
	if limits.CallTimeout == 0 {
		limits.CallTimeout = airlock.Duration(5 * time.Second)
	}
	load(t, h, airlock.PluginConfig{Path: pluginDir, Grants: append([]string{"log", "kv", "fs.write:" + writable}, a.grants...), Limits: limits, Namespaces: &namespaces, Sandbox: sandbox})
	e := &attackEnv{t: t, h: h, rec: rec, secret: secret, granted: writable, addr: s.addr, accepts: s.accepts, mu: s.mu, namespaces: namespaces}
	var input any
	if a.input != nil {
		input = a.input(e)
	}
	ctx := ctxT(t, 30*time.Second)
	start := time.Now()
	raw, err := h.Call(ctx, "testplugin", a.fn, input)
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("the host took %v to answer", took)
	}
	var res attackResult
	if err == nil {
		_ = json.Unmarshal(raw, &res)
	}
	a.check(e, res, err)
	// The healthy plugin is unaffected.
	out, gerr := greet.Run(ctx, h, map[string]string{"name": "ada"})
	if gerr != nil || out["message"] != "hello, ada" {
		t.Errorf("healthy plugin after the attack: %v, %v", out, gerr)
	}
}

func attacks() []attack {
	hostPID := os.Getpid()
	short := airlock.Limits{CallTimeout: airlock.Duration(300 * time.Millisecond), CancelGrace: airlock.Duration(200 * time.Millisecond)}
	return []attack{
		{name: "busy loop ignoring its deadline", fn: "spin", limits: short, check: wantErr(airlock.ErrDeadline)},
		{name: "blocking forever ignoring cancellation", fn: "hang", limits: short, check: wantErr(airlock.ErrDeadline)},
		{name: "SIGSTOP on itself", fn: "sigstop", limits: short, check: wantErr(airlock.ErrDeadline)},
		{name: "memory bomb", fn: "membomb", limits: airlock.Limits{MaxMemoryBytes: 128 << 20}, check: wantErr(airlock.ErrPluginCrashed,
			// The Go runtime's words, depending on which allocation hits the
			// limit first: the heap's, or its own bookkeeping's.
			"out of memory", "cannot allocate memory")},
		{name: "fork bomb", fn: "forkbomb", check: wantDenied(0, "operation not permitted")},
		{name: "descriptor exhaustion", fn: "fdbomb", limits: airlock.Limits{MaxOpenFiles: 64}, check: func(e *attackEnv, r attackResult, err error) {
			if err != nil || r.Count >= 64 || !strings.Contains(r.Error, "too many open files") {
				e.t.Errorf("opened %d files (%s), err %v; want EMFILE below 64", r.Count, r.Error, err)
			}
		}},
		{name: "file size bomb", fn: "bigfile", limits: airlock.Limits{MaxFileBytes: 1 << 20}, input: func(e *attackEnv) any { return filepath.Join(e.granted, "big") },
			grants: nil, check: func(e *attackEnv, r attackResult, err error) {
				if err != nil || r.Count > 1 || !strings.Contains(r.Error, "file too large") {
					e.t.Errorf("wrote %d MiB (%s), err %v; want EFBIG after 1 MiB", r.Count, r.Error, err)
				}
			}},
		{name: "stderr flood", fn: "stderrflood", input: func(e *attackEnv) any { e.started = time.Now(); return 200000 }, limits: airlock.Limits{LogLinesPerSecond: 50, CallTimeout: airlock.Duration(30 * time.Second)}, // 200k lines read, on a loaded machine
			check: func(e *attackEnv, r attackResult, err error) {
				if err != nil {
					e.t.Fatal(err)
				}
				waitFor(e.t, func() bool { return strings.Contains(e.rec.String(), "over its rate limit") }, "the dropped lines reported")
				// Each flood line is 20 "spam"s; 50 may pass in each
				// one-second window the flood has spanned so far.
				line := strings.TrimSpace(strings.Repeat("spam ", 20))
				allowed := 50 * (int(time.Since(e.started)/time.Second) + 2)
				if n := strings.Count(e.rec.String(), line); n > allowed {
					e.t.Errorf("%d of 200000 flood lines reached the host's log; at 50 a second, at most %d may have", n, allowed)
				}
			}},
		{name: "one enormous log line", fn: "longline", input: func(*attackEnv) any { return 8 << 20 }, limits: airlock.Limits{MaxLogLineBytes: 1024},
			check: func(e *attackEnv, r attackResult, err error) {
				if err != nil {
					e.t.Fatal(err)
				}
				waitFor(e.t, func() bool { return strings.Contains(e.rec.String(), "truncated=true") }, "the truncated line logged")
				if len(e.rec.String()) > 64<<10 {
					e.t.Errorf("host log grew to %d bytes from one line", len(e.rec.String()))
				}
			}},
		{name: "reading the host user's files", fn: "readfile", input: func(e *attackEnv) any { return e.secret }, check: wantDenied(0, "permission denied"),
			control: wantWorked(func(r attackResult) bool { return r.Data == "PRIVATE KEY" })},
		{name: "reading a file its grant allows", fn: "readfile", input: func(e *attackEnv) any { return e.secret }, grants: []string{"fs.read:/"},
			check: func(e *attackEnv, r attackResult, err error) {
				// The control case: with the grant the same read works,
				// so the denial above is the sandbox's doing.
				if err != nil || r.Data != "PRIVATE KEY" {
					e.t.Errorf("granted read: %+v, %v", r, err)
				}
			}},
		{name: "reading /etc/shadow", fn: "readfile", input: func(*attackEnv) any { return "/etc/shadow" }, check: wantDenied(0, "permission denied")},
		{name: "writing outside its grants", fn: "writefile", input: func(e *attackEnv) any { return filepath.Join(filepath.Dir(e.secret), "planted") },
			// The read-only mount refuses before Landlock; without it,
			// Landlock.
			check:   byLayer(wantDenied(0, "read-only file system"), wantDenied(0, "permission denied")),
			control: wantWorked(nil)},
		{name: "opening a TCP connection", fn: "connect", input: func(e *attackEnv) any { e.acceptsBefore = e.acceptCount(); return e.addr },
			check: func(e *attackEnv, r attackResult, err error) {
				wantDenied(0, "operation not permitted")(e, r, err)
				if n := e.acceptCount() - e.acceptsBefore; n != 0 {
					e.t.Errorf("the listener accepted %d connections", n)
				}
			},
			control: wantWorked(nil)},
		{name: "sending UDP", fn: "udp", input: func(*attackEnv) any { return "127.0.0.1:9" }, check: wantDenied(0, "operation not permitted"), control: wantWorked(nil)},
		// In a PID namespace, the plugin's /proc has no host processes.
		{name: "opening the host's /proc fds", fn: "procfd", input: func(*attackEnv) any { return hostPID },
			check:   byLayer(wantDenied(0, "no such file or directory"), wantDenied(0, "permission denied")),
			control: wantWorked(func(r attackResult) bool { return r.Count > 0 })},
		{name: "reading the host's environment", fn: "environ", input: func(*attackEnv) any { return hostPID },
			check:   byLayer(wantDenied(0, "no such file or directory"), wantDenied(0, "permission denied")),
			control: wantWorked(func(r attackResult) bool { return strings.Contains(r.Data, "PATH=") })},
		{name: "signalling the host", fn: "killhost", input: func(*attackEnv) any { return hostPID },
			check: byLayer(wantDenied(0, "no such process"), wantDenied(0, "operation not permitted"))},
		{name: "tracing the host", fn: "ptrace", input: func(*attackEnv) any { return hostPID }, check: wantDenied(0, "operation not permitted")},
		{name: "flooding the host with host calls", fn: "hostcallflood", input: func(*attackEnv) any { return 100000 }, limits: airlock.Limits{HostCallsPerSecond: 100},
			check: func(e *attackEnv, r attackResult, err error) {
				if err != nil || r.Count > 200 || !strings.Contains(r.Error, "too many host function calls") {
					e.t.Errorf("made %d host calls (%s), err %v; want a rate-limit error near 100", r.Count, r.Error, err)
				}
			}},
	}
}

// wantWorked checks a control case: the attack, with the sandbox off, got
// what it wanted (and ok, if given, agrees).
func wantWorked(ok func(attackResult) bool) func(*attackEnv, attackResult, error) {
	return func(e *attackEnv, r attackResult, err error) {
		e.t.Helper()
		if err != nil || r.Error != "" || ok != nil && !ok(r) {
			e.t.Errorf("control (sandbox off): the attack got %+v, %v; want it to work", r, err)
		}
	}
}

// byLayer checks with ns when the namespace layer is on, and with flat
// when it is off.
func byLayer(ns, flat func(*attackEnv, attackResult, error)) func(*attackEnv, attackResult, error) {
	return func(e *attackEnv, r attackResult, err error) {
		e.t.Helper()
		if e.namespaces {
			ns(e, r, err)
		} else {
			flat(e, r, err)
		}
	}
}

// wantErr checks that the attack failed with target, in an error that
// names the plugin and says one of say (if any).
func wantErr(target error, say ...string) func(*attackEnv, attackResult, error) {
	return func(e *attackEnv, r attackResult, err error) {
		e.t.Helper()
		if !errors.Is(err, target) {
			e.t.Fatalf("err = %v (result %+v), want %v", err, r, target)
		}
		if len(say) > 0 && !slices.ContainsFunc(say, func(s string) bool { return strings.Contains(err.Error(), s) }) {
			e.t.Errorf("error %q says none of %q", err, say)
		}
		if !strings.Contains(err.Error(), "plugin testplugin") {
			e.t.Errorf("error %q does not name the plugin", err)
		}
	}
}

// wantDenied checks that the attack ran, got at most max results, and was
// stopped with an error saying say.
func wantDenied(max int, say string) func(*attackEnv, attackResult, error) {
	return func(e *attackEnv, r attackResult, err error) {
		e.t.Helper()
		if err != nil {
			e.t.Fatalf("call failed: %v", err)
		}
		if r.Count > max || !strings.Contains(r.Error, say) {
			e.t.Errorf("attack got %+v; want it refused with %q", r, say)
		}
	}
}

func TestSDKPluginIsNotDumpable(t *testing.T) {
	h, _ := newHost(t, airlock.Options{})
	load(t, h, airlock.PluginConfig{Path: testPlugin(t)})
	v, err := airlock.CallFunc[int](ctxT(t, 10*time.Second), h, "testplugin", "dumpable", nil)
	if err != nil || v != 0 {
		t.Errorf("PR_GET_DUMPABLE in the plugin = %d, %v; want 0, so that same-user processes cannot open its /proc/PID/fd", v, err)
	}
}

func TestHostileOrphanIsKilled(t *testing.T) {
	h, _ := newHostWith(t, airlock.Config{Restart: airlock.RestartPolicy{Backoff: airlock.Duration(10 * time.Millisecond)}}, airlock.Options{})
	load(t, h, airlock.PluginConfig{Path: testPlugin(t), Grants: []string{"spawn"}})
	ctx := ctxT(t, 20*time.Second)
	tag := uniqueTag(t)
	child, err := airlock.CallFunc[int](ctx, h, "testplugin", "orphan", tag)
	if err != nil {
		t.Fatal(err)
	}
	// The plugin exits on its own a moment later, leaving the child; the
	// host kills the plugin's whole process group when it notices.
	waitFor(t, func() bool { return !childAlive(child, tag) }, fmt.Sprintf("the orphan %d killed", child))
}

func TestHostileMemoryBounded(t *testing.T) {
	h, _ := newHost(t, airlock.Options{})
	load(t, h, airlock.PluginConfig{Path: testPlugin(t), Limits: airlock.Limits{MaxMessageBytes: 1 << 20, LogLinesPerSecond: 50}})
	ctx := ctxT(t, 60*time.Second)
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	for range 5 {
		if _, err := h.Call(ctx, "testplugin", "stderrflood", 20000); err != nil {
			t.Fatal(err)
		}
		if _, err := h.Call(ctx, "testplugin", "echo", strings.Repeat("x", 900<<10)); err != nil {
			t.Fatal(err)
		}
	}
	// The host sends nothing over the limit either (docs/PROTOCOL.md, "The
	// size limit"); reading an answer over it is TestProtocolViolations/oversize.
	if _, err := h.Call(ctx, "testplugin", "echo", strings.Repeat("x", 2<<20)); !errors.Is(err, airlock.ErrResourceLimit) {
		t.Fatalf("a 2 MiB input with a 1 MiB limit: err = %v, want ErrResourceLimit", err)
	}
	if grew := int64(heap()) - int64(before); grew > 32<<20 {
		t.Errorf("host heap grew by %d MiB over the floods", grew>>20)
	}
}
