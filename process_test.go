package airlock_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/airlock-go/airlock"
	"github.com/airlock-go/airlock/internal/testutil"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testutil.Cleanup()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutines leaked:", err)
			code = 1
		}
	}
	os.Exit(code)
}

const testManifest = `
name = "testplugin"
version = "1.0.0"
tier = "process"
protocol = 1
entry = "bin/testplugin"
functions = ["traceparent", "echo", "config", "settings", "grants", "fail", "crash", "hang", "sleep", "callhost", "info", "print", "spawn", "fds",
  "spin", "membomb", "forkbomb", "fdbomb", "stderrflood", "longline", "readfile", "writefile", "bigfile", "connect", "udp",
  "procfd", "environ", "orphan", "sigstop", "killhost", "ptrace", "hostcallflood", "dumpable", "escape"]
hooks = ["greet"]

[platform.windows]
entry = "bin/testplugin.exe"

[capabilities]
required = [%s]
optional = [%s]

[config.greeting]
type = "string"
default = "hello"

[config.retries]
type = "number"
min = 0
max = 5
default = 1

[config.workers]
type = "integer"
min = 1
default = 2
`

// testPlugin lays out the Go test plugin with the given required
// capabilities.
func testPlugin(t *testing.T, required ...string) string {
	t.Helper()
	return testPluginWith(t, required, nil)
}

// benchPlugin lays out the test plugin for a benchmark.
func benchPlugin(b *testing.B) string {
	bin := testutil.GoBinary(b, "testdata/plugins/testplugin")
	m := fmt.Sprintf(testManifest, "", "")
	return testutil.PluginDir(b, m, map[string]string{exe("bin/testplugin"): bin})
}

// testPluginWith lays out the Go test plugin with the given required and
// extra optional capabilities.
func testPluginWith(t *testing.T, required, optional []string) string {
	t.Helper()
	// When memory runs out, depending on the binary's layout, a cgo build
	// can die of a thread it fails to create ("pthread_create failed"),
	// and Go 1.26's new garbage collector of a nil pointer
	// (runtime.(*spanQueue).tryDrain), instead of saying "out of memory":
	// the memory bomb's check wants the runtime's words, so the test
	// plugin is built without cgo and with the previous collector.
	bin := testutil.GoBinary(t, "testdata/plugins/testplugin", "CGO_ENABLED=0", "GOEXPERIMENT=nogreenteagc")
	var req, opt []string
	for _, c := range required {
		req = append(req, fmt.Sprintf("%q", c))
	}
	for _, c := range append([]string{"log", "kv", "secret.read", "env:AIRLOCK_TEST_GRANTED", "spawn"}, optional...) {
		if !slices.Contains(required, c) {
			opt = append(opt, fmt.Sprintf("%q", c))
		}
	}
	m := fmt.Sprintf(testManifest, strings.Join(req, ", "), strings.Join(opt, ", "))
	return testutil.PluginDir(t, m, map[string]string{exe("bin/testplugin"): bin})
}

// exe adds the executable suffix of this platform.
func exe(name string) string {
	if runtime.GOOS == "windows" {
		return name + ".exe"
	}
	return name
}

// recorder collects log records and audit events.
type recorder struct {
	mu     sync.Mutex
	logs   bytes.Buffer
	audits []airlock.AuditEvent
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.logs.Write(p)
}

func (r *recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.logs.String()
}

func (r *recorder) events() []airlock.AuditEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.audits)
}

func newHost(t *testing.T, opts airlock.Options) (*airlock.Host, *recorder) {
	t.Helper()
	return newHostWith(t, airlock.Config{}, opts)
}

// newHostWith is newHost with the operator's policy (limits, restart,
// trust) from cfg, which lists no plugins.
func newHostWith(t *testing.T, cfg airlock.Config, opts airlock.Options) (*airlock.Host, *recorder) {
	t.Helper()
	rec := &recorder{}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(rec, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if opts.KVPath == "" && opts.KVStore == nil { // kv.go: never the user's own store
		opts.KVPath = filepath.Join(t.TempDir(), "kv.db")
	}
	opts.OnAudit = func(ev airlock.AuditEvent) {
		rec.mu.Lock()
		rec.audits = append(rec.audits, ev)
		rec.mu.Unlock()
	}
	h, err := airlock.Open(context.Background(), &cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	return h, rec
}

func load(t *testing.T, h *airlock.Host, conf airlock.PluginConfig) {
	t.Helper()
	if _, err := h.Load(context.Background(), conf); err != nil {
		t.Fatalf("load: %v", err)
	}
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

var greet = airlock.NewHook[map[string]string, map[string]string]("greet", nil)

func TestGreetRoundTripAllLanguages(t *testing.T) {
	root := testutil.Root()
	cases := []struct {
		name, dir, needs string
	}{
		{"hello-go", buildExample(t, "hello-go"), ""},
		{"hello-python", filepath.Join(root, "examples/plugins/hello-python"), "python3"},
		{"hello-node", filepath.Join(root, "examples/plugins/hello-node"), "node"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.needs != "" {
				requireProgram(t, c.needs)
			}
			h, rec := newHost(t, airlock.Options{})
			load(t, h, airlock.PluginConfig{Path: c.dir, Grants: []string{"log"}})
			ctx := ctxT(t, 20*time.Second)
			out, err := greet.Run(ctx, h, map[string]string{"name": "ada"})
			if err != nil {
				t.Fatal(err)
			}
			if out["message"] != "hello, ada" {
				t.Errorf("greet = %q, want %q", out["message"], "hello, ada")
			}
			// The plugin called the host's log function.
			if !strings.Contains(rec.String(), "plugin="+c.name) {
				t.Errorf("no log record from the plugin; logs:\n%s", rec)
			}
		})
	}
}

func TestSettingReachesPlugin(t *testing.T) {
	h, _ := newHost(t, airlock.Options{})
	load(t, h, airlock.PluginConfig{Path: testPlugin(t), Config: map[string]any{"greeting": "bonjour"}})
	out, err := airlock.CallFunc[map[string]any](ctxT(t, 10*time.Second), h, "testplugin", "config", nil)
	if err != nil {
		t.Fatal(err)
	}
	if out["greeting"] != "bonjour" || out["retries"] != float64(1) {
		t.Errorf("config seen by plugin = %v, want greeting=bonjour and default retries=1", out)
	}
}

// The Go SDK decodes settings into a struct, integers as integers; a
// fraction for an integer setting never reaches the plugin.
func TestTypedSettingsReachPlugin(t *testing.T) {
	h, _ := newHost(t, airlock.Options{})
	load(t, h, airlock.PluginConfig{Path: testPlugin(t), Config: map[string]any{"workers": int64(16)}})
	type settings struct {
		Greeting string  `json:"greeting"`
		Retries  float64 `json:"retries"`
		Workers  int     `json:"workers"`
	}
	got, err := airlock.CallFunc[settings](ctxT(t, 10*time.Second), h, "testplugin", "settings", nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := (settings{Greeting: "hello", Retries: 1, Workers: 16}); got != want {
		t.Errorf("settings decoded by the plugin = %+v, want %+v", got, want)
	}
	_, err = h.Load(ctxT(t, 10*time.Second), airlock.PluginConfig{Path: testPlugin(t), Config: map[string]any{"workers": 2.5}})
	if !errors.Is(err, airlock.ErrInvalidConfig) || !strings.Contains(err.Error(), `setting "workers": got number, want integer`) {
		t.Errorf("a fraction for an integer setting: err = %v", err)
	}
}

func TestHostFunctionGrantedAndDenied(t *testing.T) {
	var mu sync.Mutex
	var callers []string
	secret := airlock.NewFunc("secret.read", "secret.read", func(_ context.Context, c airlock.Caller, in struct {
		Key string `json:"key"`
	}) (string, error) {
		mu.Lock()
		callers = append(callers, c.Plugin())
		mu.Unlock()
		return "value-of-" + in.Key, nil
	})
	cases := []struct {
		name       string
		grants     []string
		wantDenied bool
	}{
		{"granted", []string{"secret.read"}, false},
		{"denied", []string{"log"}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			callers = nil
			h, rec := newHost(t, airlock.Options{Functions: []airlock.Function{secret}})
			load(t, h, airlock.PluginConfig{Path: testPlugin(t), Grants: c.grants})
			out, err := airlock.CallFunc[map[string]any](ctxT(t, 10*time.Second), h, "testplugin", "callhost",
				map[string]any{"fn": "secret.read", "input": map[string]string{"key": "k1"}})
			if err != nil {
				t.Fatal(err)
			}
			if c.wantDenied {
				if out["denied"] != true || out["code"] != float64(-32001) {
					t.Errorf("plugin saw %v, want a denial with code -32001", out)
				}
				if len(callers) != 0 {
					t.Errorf("host function ran for %v despite the denial", callers)
				}
				ev := rec.events()
				if len(ev) != 1 || ev[0].Plugin != "testplugin" || ev[0].Function != "secret.read" || ev[0].Capability != "secret.read" {
					t.Errorf("audit events = %+v, want one for testplugin/secret.read/secret.read", ev)
				}
				if !strings.Contains(rec.String(), "airlock audit") {
					t.Errorf("denial not in the log:\n%s", rec)
				}
				return
			}
			if out["result"] != "value-of-k1" {
				t.Errorf("plugin saw %v, want result value-of-k1", out)
			}
			if !slices.Equal(callers, []string{"testplugin"}) {
				t.Errorf("host function callers = %v", callers)
			}
			if ev := rec.events(); len(ev) != 0 {
				t.Errorf("unexpected audit events %+v", ev)
			}
		})
	}
}

func TestUnknownHostFunction(t *testing.T) {
	h, rec := newHost(t, airlock.Options{})
	load(t, h, airlock.PluginConfig{Path: testPlugin(t)})
	out, err := airlock.CallFunc[map[string]any](ctxT(t, 10*time.Second), h, "testplugin", "callhost", map[string]any{"fn": "does.not.exist"})
	if err != nil {
		t.Fatal(err)
	}
	if out["code"] != float64(-32601) {
		t.Errorf("plugin saw %v, want method-not-found", out)
	}
	if ev := rec.events(); len(ev) != 1 || ev[0].Function != "does.not.exist" {
		t.Errorf("audit = %+v", ev)
	}
}

func TestGrantsArePassedNarrowed(t *testing.T) {
	h, _ := newHost(t, airlock.Options{})
	// The operator grants more than the plugin declares: kv is declared
	// optional; fs.read:/ and net are not declared at all.
	load(t, h, airlock.PluginConfig{Path: testPlugin(t, "log"), Grants: []string{"log", "kv", "fs.read:/", "net"}})
	got, err := airlock.CallFunc[[]string](ctxT(t, 10*time.Second), h, "testplugin", "grants", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{"log", "kv"}) {
		t.Errorf("plugin holds %v, want exactly [log kv]", got)
	}
}

// markerDir returns a directory a plugin may be granted to write to.
func markerDir(t *testing.T) (dir, grant string) {
	dir = t.TempDir()
	return dir, "fs.write:" + dir
}

func TestMissingGrantNeverStarts(t *testing.T) {
	mdir, write := markerDir(t)
	dir := testPluginWith(t, []string{"log", "kv", "env:HOME"}, []string{write})
	marker := filepath.Join(mdir, "started")
	h, _ := newHost(t, airlock.Options{})
	_, err := h.Load(context.Background(), airlock.PluginConfig{Path: dir, Grants: []string{"kv"}, Args: []string{"-touch", marker}})
	if !errors.Is(err, airlock.ErrMissingGrant) {
		t.Fatalf("err = %v, want ErrMissingGrant", err)
	}
	for _, want := range []string{"plugin testplugin", "log, env:HOME"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if strings.Contains(strings.SplitN(err.Error(), "(", 2)[0], "kv") {
		t.Errorf("error %q lists kv, which was granted", err)
	}
	if _, statErr := os.Stat(marker); !errors.Is(statErr, os.ErrNotExist) {
		t.Errorf("the plugin was started (marker exists)")
	}
	if len(h.Plugins()) != 0 {
		t.Errorf("plugin registered despite the error")
	}
	// With the grants, the same plugin starts (and so touches its marker).
	load(t, h, airlock.PluginConfig{Path: dir, Grants: []string{"kv", "log", "env:HOME", write}, Args: []string{"-touch", marker}})
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("plugin did not start with its grants: %v", err)
	}
}

func TestInvalidSettings(t *testing.T) {
	cases := []struct {
		name   string
		config map[string]any
		want   []string
	}{
		{"wrong type", map[string]any{"greeting": 42}, []string{`setting "greeting"`, "string"}},
		{"over max", map[string]any{"retries": 9}, []string{`setting "retries"`, "5"}},
		{"unknown", map[string]any{"colour": "red"}, []string{`setting "colour"`, "unknown", "greeting, retries"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h, _ := newHost(t, airlock.Options{})
			_, err := h.Load(context.Background(), airlock.PluginConfig{Path: testPlugin(t), Config: c.config})
			if !errors.Is(err, airlock.ErrInvalidConfig) {
				t.Fatalf("err = %v, want ErrInvalidConfig", err)
			}
			for _, w := range append(c.want, "plugin testplugin") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestEnvironmentIsStripped(t *testing.T) {
	t.Setenv("AIRLOCK_TEST_SECRET", "hunter2")
	t.Setenv("AIRLOCK_TEST_GRANTED", "yes")
	dir := testPlugin(t)
	h, _ := newHost(t, airlock.Options{})
	load(t, h, airlock.PluginConfig{Path: dir, Grants: []string{"env:AIRLOCK_TEST_GRANTED"}})
	info, err := airlock.CallFunc[struct {
		Env []string
		Wd  string
	}](ctxT(t, 10*time.Second), h, "testplugin", "info", nil)
	if err != nil {
		t.Fatal(err)
	}
	env := info.Env
	if runtime.GOOS == "windows" {
		// Windows programs get SystemRoot, SystemDrive and WINDIR (Go
		// and Windows add them); wine adds its own WINE* variables to
		// every process it starts.
		env = slices.DeleteFunc(env, func(kv string) bool {
			k := strings.ToUpper(kv)
			return strings.TrimSpace(kv) == "" || strings.HasPrefix(k, "WINE") || strings.HasPrefix(k, "SYSTEMROOT=") ||
				strings.HasPrefix(k, "SYSTEMDRIVE=") || strings.HasPrefix(k, "WINDIR=")
		})
	}
	if !slices.Equal(env, []string{"AIRLOCK_TEST_GRANTED=yes"}) {
		t.Errorf("plugin environment = %v, want only the granted variable", info.Env)
	}
	if real, _ := filepath.EvalSymlinks(dir); info.Wd != dir && info.Wd != real {
		t.Errorf("plugin working directory = %q, want %q", info.Wd, dir)
	}
}

func TestNoInheritedDescriptors(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc/self/fd")
	}
	// A descriptor the host has open must not leak into the plugin.
	secret := filepath.Join(t.TempDir(), "host-secret-file")
	if err := os.WriteFile(secret, []byte("s3cret"), 0o600); err != nil {
		t.Fatal(err)
	}
	leak, err := os.Open(secret)
	if err != nil {
		t.Fatal(err)
	}
	defer leak.Close()
	h, _ := newHost(t, airlock.Options{})
	load(t, h, airlock.PluginConfig{Path: testPlugin(t)})
	fds, err := airlock.CallFunc[[]string](ctxT(t, 10*time.Second), h, "testplugin", "fds", nil)
	if err != nil {
		t.Fatal(err)
	}
	pipes := 0
	for _, fd := range fds {
		if strings.Contains(fd, "host-secret-file") {
			t.Errorf("plugin inherited the host's descriptor %s", fd)
		}
		if strings.Contains(fd, "pipe:") {
			pipes++
		}
	}
	// stdin, stdout (now the log), stderr, and the SDK's private
	// protocol descriptor.
	if pipes != 4 {
		t.Errorf("plugin has %d pipes, want 4: %v", pipes, fds)
	}
}

func TestStrayPrintDoesNotCorruptProtocol(t *testing.T) {
	h, rec := newHost(t, airlock.Options{})
	load(t, h, airlock.PluginConfig{Path: testPlugin(t)})
	ctx := ctxT(t, 10*time.Second)
	got, err := airlock.CallFunc[string](ctx, h, "testplugin", "print", nil)
	if err != nil || got != "printed" {
		t.Fatalf("print = %q, %v", got, err)
	}
	if _, err := h.Call(ctx, "testplugin", "echo", 1); err != nil {
		t.Fatalf("plugin unusable after a stray print: %v", err)
	}
	waitFor(t, func() bool { return strings.Contains(rec.String(), "stray print") }, "the stray print in the plugin's log")
}

func TestCrashRestartThenDisable(t *testing.T) {
	h, rec := newHostWith(t, airlock.Config{Restart: airlock.RestartPolicy{MaxCrashes: 3, Window: airlock.Duration(time.Minute), Backoff: airlock.Duration(10 * time.Millisecond)}}, airlock.Options{})
	load(t, h, airlock.PluginConfig{Path: testPlugin(t)})
	ctx := ctxT(t, 30*time.Second)
	for i := 1; i <= 3; i++ {
		_, err := h.Call(ctx, "testplugin", "crash", nil)
		if !errors.Is(err, airlock.ErrPluginCrashed) {
			t.Fatalf("crash %d: err = %v, want ErrPluginCrashed", i, err)
		}
		var pe *airlock.PluginError
		if !errors.As(err, &pe) || pe.Plugin != "testplugin" || pe.Name != "crash" {
			t.Errorf("crash %d: error %v does not name the plugin and function", i, err)
		}
		for _, want := range []string{"exited with status 3", "crashing on purpose"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("crash %d: error %q does not say %q", i, err, want)
			}
		}
		if i < 3 {
			// The next call waits for the restart and succeeds.
			if _, err := h.Call(ctx, "testplugin", "echo", i); err != nil {
				t.Fatalf("after crash %d: %v", i, err)
			}
		}
	}
	waitFor(t, func() bool { info, _ := h.Plugin("testplugin"); return info.State == "disabled" }, "the plugin disabled")
	_, err := h.Call(ctx, "testplugin", "echo", 1)
	if !errors.Is(err, airlock.ErrPluginDisabled) {
		t.Errorf("after 3 crashes: err = %v, want ErrPluginDisabled", err)
	}
	if info, _ := h.Plugin("testplugin"); info.Restarts != 2 {
		t.Errorf("restarts = %d, want 2", info.Restarts)
	}
	waitFor(t, func() bool { return strings.Contains(rec.String(), "plugin disabled") }, "the disabling logged")
}

func TestDeadlineKillsPluginThatIgnoresIt(t *testing.T) {
	h, _ := newHostWith(t, airlock.Config{Restart: airlock.RestartPolicy{Backoff: airlock.Duration(10 * time.Millisecond)}}, airlock.Options{})
	load(t, h, airlock.PluginConfig{Path: testPlugin(t), Limits: airlock.Limits{
		CallTimeout: airlock.Duration(200 * time.Millisecond),
		CancelGrace: airlock.Duration(200 * time.Millisecond),
	}})
	ctx := ctxT(t, 20*time.Second)
	if _, err := h.Call(ctx, "testplugin", "echo", 1); err != nil {
		t.Fatal(err)
	}
	before := pluginPID(t, h)
	start := time.Now()
	_, err := h.Call(ctx, "testplugin", "hang", nil)
	if !errors.Is(err, airlock.ErrDeadline) {
		t.Fatalf("err = %v, want ErrDeadline", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the call took %v to fail with a 200ms deadline", took)
	}
	// The plugin ignored the cancellation: it is killed and replaced.
	waitFor(t, func() bool { return !alive(before) }, "the hung plugin killed")
	if _, err := h.Call(ctx, "testplugin", "echo", 1); err != nil {
		t.Fatal(err)
	}
	if after := pluginPID(t, h); after == before {
		t.Errorf("still the same process after it ignored its deadline")
	}
}

func TestCooperativeCancellationKeepsPlugin(t *testing.T) {
	h, _ := newHost(t, airlock.Options{})
	load(t, h, airlock.PluginConfig{Path: testPlugin(t), Limits: airlock.Limits{CancelGrace: airlock.Duration(300 * time.Millisecond)}})
	ctx := ctxT(t, 20*time.Second)
	before := pluginPID(t, h)
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	_, err := h.Call(short, "testplugin", "sleep", 60000)
	if !errors.Is(err, airlock.ErrDeadline) {
		t.Fatalf("err = %v, want ErrDeadline", err)
	}
	// It honoured the cancel, so it is not killed: a call that outlasts
	// the grace period is answered on the same connection, which a kill
	// for an unanswered cancel would have ended (the call would fail).
	if _, err := h.Call(ctx, "testplugin", "sleep", 1000); err != nil {
		t.Fatalf("a call spanning the grace period: %v", err)
	}
	if after := pluginPID(t, h); after != before {
		t.Errorf("a plugin that honoured cancellation was restarted")
	}
}

func TestPluginErrorIsRemoteError(t *testing.T) {
	h, _ := newHost(t, airlock.Options{})
	load(t, h, airlock.PluginConfig{Path: testPlugin(t)})
	_, err := h.Call(ctxT(t, 10*time.Second), "testplugin", "fail", nil)
	var re *airlock.RemoteError
	if !errors.As(err, &re) || re.Code != -32000 || !strings.Contains(re.Message, "always fails") {
		t.Fatalf("err = %v, want a RemoteError from the plugin", err)
	}
	if !errors.Is(err, airlock.ErrPluginFailed) {
		t.Errorf("errors.Is(err, ErrPluginFailed) = false")
	}
	_, err = h.Call(ctxT(t, 10*time.Second), "testplugin", "nope", nil)
	if !errors.Is(err, airlock.ErrNotImplemented) {
		t.Errorf("undeclared function: err = %v, want ErrNotImplemented", err)
	}
}

func TestConcurrentCalls(t *testing.T) {
	h, _ := newHost(t, airlock.Options{})
	load(t, h, airlock.PluginConfig{Path: testPlugin(t), Limits: airlock.Limits{MaxInflight: 8}})
	ctx := ctxT(t, 60*time.Second)
	const goroutines, calls = 16, 50
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*calls)
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range calls {
				want := fmt.Sprintf("g%d-i%d-%s", g, i, strings.Repeat("x", i*13))
				got, err := airlock.CallFunc[string](ctx, h, "testplugin", "echo", want)
				if err != nil {
					errs <- err
					return
				}
				if got != want {
					errs <- fmt.Errorf("echo(%q) = %q", want, got)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestChildProcessesDieWithPlugin(t *testing.T) {
	// Unix: the process group; Windows: the job object.
	h, _ := newHost(t, airlock.Options{})
	load(t, h, airlock.PluginConfig{Path: testPlugin(t), Grants: []string{"spawn"}})
	ctx := ctxT(t, 20*time.Second)
	tag := uniqueTag(t)
	child, err := airlock.CallFunc[int](ctx, h, "testplugin", "spawn", tag)
	if err != nil {
		t.Fatal(err)
	}
	if !childAlive(child, tag) {
		t.Fatalf("child %d not running", child)
	}
	if err := h.Unload(ctx, "testplugin"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return !childAlive(child, tag) }, "the plugin's child killed")
}

// Protocol violations: each plugin breaks the protocol in one way; the
// call fails with a typed error naming the plugin, and the plugin is
// stopped (then restarted) rather than trusted further.
// rawManifest is the manifest of testdata/plugins/raw.
const rawManifest = `
name = "raw"
version = "1.0.0"
tier = "process"
protocol = 1
entry = "raw"
functions = ["poke"]
[platform.windows]
entry = "raw.exe"
`

func TestProtocolViolations(t *testing.T) {
	bin := testutil.GoBinary(t, "testdata/plugins/raw")
	cases := []struct {
		mode    string
		loadErr error // nil: the handshake succeeds and the call fails
		callErr error
		say     string
	}{
		{"garbage-before-handshake", airlock.ErrHandshake, nil, "not a JSON-RPC message"},
		{"exit-during-handshake", airlock.ErrHandshake, nil, "exited with status 7"},
		{"hang-handshake", airlock.ErrHandshake, nil, "no answer within"},
		{"wrong-name", airlock.ErrHandshake, nil, `says its name is "someone-else"`},
		{"extra-hook", airlock.ErrHandshake, nil, `"steal", which its manifest does not declare`},
		{"oversize", nil, airlock.ErrProtocol, "exceeds the limit"},
		{"unknown-id", nil, airlock.ErrProtocol, "unknown or already answered id"},
		{"invalid-json", nil, airlock.ErrProtocol, "invalid JSON"},
		{"invalid-utf8", nil, airlock.ErrProtocol, "not valid UTF-8"},
		{"duplicate-id", nil, airlock.ErrProtocol, "unknown or already answered id"},
		{"flood-no-newline", nil, airlock.ErrProtocol, "exceeds the limit"},
		{"deep-json", nil, airlock.ErrProtocol, "invalid JSON"},
	}
	for _, c := range cases {
		t.Run(c.mode, func(t *testing.T) {
			t.Parallel()
			dir := testutil.PluginDir(t, rawManifest, map[string]string{exe("raw"): bin})
			h, _ := newHost(t, airlock.Options{})
			conf := airlock.PluginConfig{Path: dir, Args: []string{c.mode}, Limits: airlock.Limits{
				StartTimeout: airlock.Duration(time.Second), MaxMessageBytes: 1 << 20,
			}}
			start := time.Now()
			_, err := h.Load(context.Background(), conf)
			if c.loadErr != nil {
				checkErr(t, err, c.loadErr, c.say)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			_, err = h.Call(ctxT(t, 10*time.Second), "raw", "poke", nil)
			checkErr(t, err, c.callErr, c.say)
			if time.Since(start) > 8*time.Second {
				t.Errorf("took %v", time.Since(start))
			}
		})
	}
}

// A plugin that ignores shutdown and the end of its input, and writes
// nothing, is killed once the stop timeout has passed: Unload returns
// even with no deadline of its own (Linux, and Windows under wine).
func TestStubbornPluginIsKilledAtStop(t *testing.T) {
	bin := testutil.GoBinary(t, "testdata/plugins/raw")
	dir := testutil.PluginDir(t, rawManifest, map[string]string{exe("raw"): bin})
	h, _ := newHost(t, airlock.Options{})
	load(t, h, airlock.PluginConfig{Path: dir, Args: []string{"stubborn"}, Limits: airlock.Limits{
		StopTimeout: airlock.Duration(300 * time.Millisecond),
	}})
	if _, err := h.Call(ctxT(t, 10*time.Second), "raw", "poke", nil); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- h.Unload(context.Background(), "raw") }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Unload still waits for a plugin that ignores shutdown, 30 s after it was asked to stop")
	}
}

func checkErr(t *testing.T, err, want error, say string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want %v", err, want)
	}
	if !strings.Contains(err.Error(), say) || !strings.Contains(err.Error(), "plugin raw") {
		t.Errorf("error %q does not name the plugin and say %q", err, say)
	}
}

func TestStartErrorsExplainWhy(t *testing.T) {
	cases := []struct {
		name, manifest string
		files          map[string]string
		say            string
	}{
		{"missing entry", "entry = \"bin/nothing\"\n[build]\ncommand = [\"make\"]", nil, "entry bin/nothing not found (build it first"},
		{"not executable", "entry = \"data.txt\"", map[string]string{"data.txt": "process_test.go"}, "is not executable"},
		{"missing interpreter", "entry = \"main.py\"\ninterpreter = [\"no-such-python-xyz\"]", map[string]string{"main.py": "process_test.go"}, `interpreter "no-such-python-xyz" not found`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			files := map[string]string{}
			for dst, src := range c.files {
				files[dst] = filepath.Join(testutil.Root(), src)
			}
			m := "name = \"broken\"\nversion = \"1.0.0\"\ntier = \"process\"\nprotocol = 1\n" + c.manifest
			dir := testutil.PluginDir(t, m, files)
			if c.name == "not executable" {
				if runtime.GOOS == "windows" {
					t.Skip("Windows has no executable bit")
				}
				os.Chmod(filepath.Join(dir, "data.txt"), 0o644)
			}
			h, _ := newHost(t, airlock.Options{})
			_, err := h.Load(context.Background(), airlock.PluginConfig{Path: dir})
			if !errors.Is(err, airlock.ErrStart) || !strings.Contains(err.Error(), c.say) || !strings.Contains(err.Error(), "plugin broken") {
				t.Errorf("err = %v, want ErrStart saying %q", err, c.say)
			}
		})
	}
}

func TestCloseStopsPlugins(t *testing.T) {
	h, _ := newHost(t, airlock.Options{})
	load(t, h, airlock.PluginConfig{Path: testPlugin(t)})
	ctx := ctxT(t, 20*time.Second)
	pid := pluginPID(t, h)
	if err := h.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if alive(pid) {
		t.Errorf("plugin process %d alive after Close", pid)
	}
	if _, err := h.Call(ctx, "testplugin", "echo", 1); !errors.Is(err, airlock.ErrClosed) {
		t.Errorf("call after Close: err = %v, want ErrClosed", err)
	}
}

// buildExample builds one of examples/plugins with the CLI's build step
// semantics (the manifest's entry path) and returns a directory holding it.
func buildExample(t *testing.T, name string) string {
	t.Helper()
	src := filepath.Join(testutil.Root(), "examples", "plugins", name)
	bin := testutil.GoBinary(t, "examples/plugins/"+name)
	manifest, err := os.ReadFile(filepath.Join(src, "plugin.toml"))
	if err != nil {
		t.Fatal(err)
	}
	return testutil.PluginDir(t, string(manifest), map[string]string{exe("bin/" + name): bin})
}

func requireProgram(t *testing.T, name string) {
	t.Helper()
	if runtime.GOOS == "windows" && os.Getenv("AIRLOCK_TEST_PREBUILT") != "" {
		t.Skipf("%s: the Windows tests run under wine, which has no Windows %s", name, name)
	}
	if _, err := exec.LookPath(name); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is required in CI: %v", name, err)
		}
		t.Skipf("%s not installed", name)
	}
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// The Python example ships a copy of the SDK (a plugin reads nothing
// outside its directory); it must not drift from the SDK.
func TestPythonExampleSDKIsCurrent(t *testing.T) {
	sdk, err := os.ReadFile(filepath.Join(testutil.Root(), "sdk/python/airlock_plugin.py"))
	if err != nil {
		t.Fatal(err)
	}
	copied, err := os.ReadFile(filepath.Join(testutil.Root(), "examples/plugins/hello-python/airlock_plugin.py"))
	if err != nil {
		t.Fatal(err)
	}
	if string(sdk) != string(copied) {
		t.Error("examples/plugins/hello-python/airlock_plugin.py differs from sdk/python/airlock_plugin.py: copy the SDK again")
	}
}

// The operator may run a plugin's executable from elsewhere (Android's
// nativeLibraryDir); the manifest may not.
func TestOperatorEntryOverride(t *testing.T) {
	bin := testutil.GoBinary(t, "testdata/plugins/testplugin")
	dir := testutil.PluginDir(t, fmt.Sprintf(testManifest, "", ""), nil) // no executable beside the manifest
	h, _ := newHost(t, airlock.Options{})
	if _, err := h.Load(ctxT(t, 10*time.Second), airlock.PluginConfig{Path: dir}); !errors.Is(err, airlock.ErrStart) {
		t.Fatalf("without the override: err = %v, want ErrStart", err)
	}
	load(t, h, airlock.PluginConfig{Path: dir, Entry: bin})
	if out, err := airlock.CallFunc[string](ctxT(t, 10*time.Second), h, "testplugin", "echo", "elsewhere"); err != nil || out != "elsewhere" {
		t.Errorf("echo = %q, %v", out, err)
	}
	if _, err := airlock.ParseConfig("host.toml", []byte("[[plugin]]\npath = \"p\"\nentry = \"relative/bin\"")); err == nil {
		t.Error("a relative entry override was accepted")
	}
}

// uniqueTag marks a plugin's child process for childAlive.
func uniqueTag(t *testing.T) string {
	return fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano())
}

// pluginPID is the test plugin's process as the host sees it.
func pluginPID(t *testing.T, h *airlock.Host) int {
	t.Helper()
	for _, p := range h.Plugins() {
		if p.Name == "testplugin" && p.PID > 0 {
			return p.PID
		}
	}
	t.Fatalf("no running testplugin in %+v", h.Plugins())
	return 0
}
