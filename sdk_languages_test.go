package airlock_test

// The TypeScript and Rust SDKs (sdk/typescript, sdk/rust) through a real
// host: their example plugins, built by their manifests' [build] steps as
// `airlock build` runs them, and their conformance plugins (one handler per
// protocol point, the same in both languages), loaded, granted, called,
// cancelled and hammered like the Go test plugin. Each SDK's own tests
// (node --test, cargo test) check the wire protocol point by point; these
// check that the host agrees.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airlock-go/airlock"
	"github.com/airlock-go/airlock/internal/build"
	"github.com/airlock-go/airlock/internal/manifest"
	"github.com/airlock-go/airlock/internal/testutil"
)

// sdkTool finds a program an SDK's build needs, or skips the test: cargo
// is also looked for where rustup puts it, which is not always on PATH
// (its directory is then added to PATH for the test).
func sdkTool(t testing.TB, name, why string) string {
	t.Helper()
	if runtime.GOOS == "windows" && os.Getenv("AIRLOCK_TEST_PREBUILT") != "" {
		t.Skipf("%s: the Windows tests run under wine, which has no Windows %s", why, name)
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	var dirs []string
	if d := os.Getenv("CARGO_HOME"); d != "" {
		dirs = append(dirs, filepath.Join(d, "bin"))
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, ".cargo", "bin"))
	}
	for _, d := range dirs {
		if p := filepath.Join(d, exe(name)); fileExists(p) {
			t.Setenv("PATH", d+string(os.PathListSeparator)+os.Getenv("PATH"))
			return p
		}
	}
	t.Skipf("%s not installed: %s (bash .ci/sdk-tests installs it)", name, why)
	return ""
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// mirrorTree copies repository directories (relative to the root) into a
// fresh directory with the same layout, leaving out build outputs, so that
// a build with relative paths between them (an example and its SDK) runs
// there and not in the source tree.
func mirrorTree(t testing.TB, dirs ...string) string {
	t.Helper()
	dst := t.TempDir()
	skip := map[string]bool{"node_modules": true, "target": true, "dist": true, "bin": true}
	for _, d := range dirs {
		src := filepath.Join(testutil.Root(), filepath.FromSlash(d))
		err := filepath.WalkDir(src, func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(src, p)
			if e.IsDir() && skip[e.Name()] && p != src {
				return filepath.SkipDir
			}
			target := filepath.Join(dst, filepath.FromSlash(d), rel)
			if e.IsDir() {
				return os.MkdirAll(target, 0o755)
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(target, data, 0o644)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// buildWithManifest builds examples/plugins/NAME the way `airlock build`
// does (the manifest's [build] command, run by internal/build) in a mirror
// of the example and its SDK, and returns the plugin's directory.
func buildWithManifest(t testing.TB, name, sdk string) string {
	t.Helper()
	root := mirrorTree(t, "sdk/"+sdk, "examples/plugins/"+name)
	dir := filepath.Join(root, "examples", "plugins", name)
	man, err := manifest.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var out bytes.Buffer
	start := time.Now()
	if err := build.Run(ctx, man, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	t.Logf("built %s in %v", name, time.Since(start).Round(time.Millisecond))
	return dir
}

// The examples do what hello-python does, built as `airlock build` builds
// them: the greet hook with its setting and its log call, its failure, and
// its required grant.
func TestSDKExamples(t *testing.T) {
	cases := []struct {
		name, sdk string
		tools     []string
	}{
		{"hello-ts", "typescript", []string{"node", "npm"}},
		{"hello-rust", "rust", []string{"cargo"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, tool := range c.tools {
				sdkTool(t, tool, "the "+c.sdk+" SDK's example is built and run with it")
			}
			dir := buildWithManifest(t, c.name, c.sdk)
			ctx := ctxT(t, 30*time.Second)

			h, rec := newHost(t, airlock.Options{})
			load(t, h, airlock.PluginConfig{Path: dir, Grants: []string{"log"}})
			out, err := greet.Run(ctx, h, map[string]string{"name": " ada "})
			if err != nil {
				t.Fatal(err)
			}
			if out["message"] != "hello, ada" {
				t.Errorf("greet = %q, want %q", out["message"], "hello, ada")
			}
			if !strings.Contains(rec.String(), "plugin="+c.name) || !strings.Contains(rec.String(), "greeting someone") {
				t.Errorf("no log record from the plugin; logs:\n%s", rec)
			}
			_, err = greet.Run(ctx, h, map[string]string{"name": ""})
			var re *airlock.RemoteError
			if !errors.As(err, &re) || re.Code != -32000 || !strings.Contains(re.Message, "greet: name is empty") {
				t.Errorf("greet with no name: err = %v, want the plugin's -32000 \"greet: name is empty\"", err)
			}

			h2, _ := newHost(t, airlock.Options{})
			load(t, h2, airlock.PluginConfig{Path: dir, Grants: []string{"log"}, Config: map[string]any{"greeting": "hola"}})
			if out, err := greet.Run(ctx, h2, map[string]string{"name": "ada"}); err != nil || out["message"] != "hola, ada" {
				t.Errorf("greet with greeting=hola = %v, %v; want \"hola, ada\"", out, err)
			}

			h3, _ := newHost(t, airlock.Options{})
			if _, err := h3.Load(ctx, airlock.PluginConfig{Path: dir, Grants: []string{"kv"}}); !errors.Is(err, airlock.ErrMissingGrant) {
				t.Errorf("load without log: err = %v, want ErrMissingGrant", err)
			}
		})
	}
}

// The examples have hello-python's shape: the same hooks, functions,
// capabilities and settings; only how they run differs.
func TestSDKExampleManifestsMatchPython(t *testing.T) {
	load := func(name string) *manifest.Manifest {
		m, err := manifest.Load(filepath.Join(testutil.Root(), "examples", "plugins", name))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	py := load("hello-python")
	for _, name := range []string{"hello-ts", "hello-rust"} {
		m := load(name)
		if m.Name != name || m.Version != py.Version || m.Tier != py.Tier || m.Protocol != py.Protocol {
			t.Errorf("%s: identity %s %s %s %d, want %s %s %s %d", name, m.Name, m.Version, m.Tier, m.Protocol, name, py.Version, py.Tier, py.Protocol)
		}
		if !slices.Equal(m.Hooks, py.Hooks) || !slices.Equal(m.Functions, py.Functions) {
			t.Errorf("%s: hooks %v functions %v, want %v %v", name, m.Hooks, m.Functions, py.Hooks, py.Functions)
		}
		if fmt.Sprint(m.Capabilities) != fmt.Sprint(py.Capabilities) || fmt.Sprint(m.Config) != fmt.Sprint(py.Config) {
			t.Errorf("%s: capabilities %v config %v, want %v %v", name, m.Capabilities, m.Config, py.Capabilities, py.Config)
		}
		if m.Build == nil {
			t.Errorf("%s: no [build] step", name)
		}
	}
}

const conformanceManifest = `
name = "conformance"
version = "1.0.0"
tier = "process"
protocol = 1
entry = %q
%s
hooks = ["greet"]
functions = ["barrier", "big", "callhost", "callhost2", "config", "context", "echo", "fail", "failcode", "grants", "hang",
  "kv", "log", "observe", "panic", "parsed", "print", "sleep", "surrogate"]

[capabilities]
required = ["log"]
optional = ["kv", "secret.read", "test.block"]

[config.greeting]
type = "string"
default = "hello"

[config.retries]
type = "number"
min = 0
max = 5
default = 1
`

var (
	conformanceOnce sync.Map // language -> *conformanceBuild
)

type conformanceBuild struct {
	once sync.Once
	dir  string // a directory holding the built plugin, kept for the test process
	err  error
}

// conformancePlugin lays out the conformance plugin of one SDK in a fresh
// plugin directory: for TypeScript the SDK's files as node_modules would
// hold them, for Rust the example built with cargo (once per process).
func conformancePlugin(t *testing.T, lang string) string {
	t.Helper()
	return conformancePluginTB(t, lang)
}

func conformancePluginTB(t testing.TB, lang string) string {
	t.Helper()
	root := testutil.Root()
	switch lang {
	case "typescript":
		sdkTool(t, "node", "the TypeScript SDK runs on it")
		ts := filepath.Join(root, "sdk", "typescript")
		m := fmt.Sprintf(conformanceManifest, "main.mjs", `interpreter = ["node"]`)
		return testutil.PluginDir(t, m, map[string]string{
			"main.mjs": filepath.Join(ts, "testdata", "conformance.mjs"),
			"node_modules/@airlock-go/plugin/package.json": filepath.Join(ts, "package.json"),
			"node_modules/@airlock-go/plugin/index.js":     filepath.Join(ts, "index.js"),
		})
	case "rust":
		cargo := sdkTool(t, "cargo", "the Rust SDK is built with it")
		v, _ := conformanceOnce.LoadOrStore(lang, &conformanceBuild{})
		b := v.(*conformanceBuild)
		b.once.Do(func() {
			b.dir, b.err = os.MkdirTemp("", "airlock-sdk-rust-")
			if b.err != nil {
				return
			}
			cmd := exec.Command(cargo, "build", "--offline", "--example", "conformance", "--target-dir", b.dir)
			cmd.Dir = filepath.Join(root, "sdk", "rust")
			if out, err := cmd.CombinedOutput(); err != nil {
				b.err = fmt.Errorf("cargo build --example conformance: %v\n%s", err, out)
			}
		})
		if b.err != nil {
			t.Fatal(b.err)
		}
		m := fmt.Sprintf(conformanceManifest, exe("conformance"), "")
		return testutil.PluginDir(t, m, map[string]string{exe("conformance"): filepath.Join(b.dir, "debug", "examples", exe("conformance"))})
	}
	t.Fatalf("no conformance plugin for %s", lang)
	return ""
}

func cleanupConformanceBuilds() {
	conformanceOnce.Range(func(_, v any) bool {
		if b := v.(*conformanceBuild); b.dir != "" {
			os.RemoveAll(b.dir)
		}
		return true
	})
}

// conformancePID is the conformance plugin's process as the host sees it.
func conformancePID(t testing.TB, h *airlock.Host) int {
	t.Helper()
	for _, p := range h.Plugins() {
		if p.Name == "conformance" && p.PID > 0 {
			return p.PID
		}
	}
	t.Fatalf("no running conformance plugin in %+v", h.Plugins())
	return 0
}

// Each SDK's conformance plugin through a real host: settings, grants, host
// functions granted and denied, cancellation reaching the handler and the
// host calls it made, concurrency, errors, stray prints, size limits.
func TestSDKConformance(t *testing.T) {
	t.Cleanup(cleanupConformanceBuilds)
	for _, lang := range []string{"typescript", "rust"} {
		t.Run(lang, func(t *testing.T) {
			dir := conformancePlugin(t, lang)
			t.Run("setting", func(t *testing.T) {
				h, _ := newHost(t, airlock.Options{})
				load(t, h, airlock.PluginConfig{Path: dir, Grants: []string{"log"}, Config: map[string]any{"greeting": "bonjour"}})
				ctx := ctxT(t, 20*time.Second)
				cfg, err := airlock.CallFunc[map[string]any](ctx, h, "conformance", "config", nil)
				if err != nil {
					t.Fatal(err)
				}
				if cfg["greeting"] != "bonjour" || cfg["retries"] != float64(1) {
					t.Errorf("config seen by the plugin = %v, want greeting=bonjour and the default retries=1", cfg)
				}
				out, err := greet.Run(ctx, h, map[string]string{"name": "ada"})
				if err != nil || out["message"] != "bonjour, ada" {
					t.Errorf("greet = %v, %v; want \"bonjour, ada\"", out, err)
				}
			})

			t.Run("grants narrowed", func(t *testing.T) {
				h, _ := newHost(t, airlock.Options{})
				load(t, h, airlock.PluginConfig{Path: dir, Grants: []string{"log", "kv", "net", "fs.read:/"}})
				got, err := airlock.CallFunc[struct {
					Plugin    string
					Grants    []string
					Functions []string
				}](ctxT(t, 20*time.Second), h, "conformance", "grants", nil)
				if err != nil {
					t.Fatal(err)
				}
				slices.Sort(got.Grants)
				if got.Plugin != "conformance" || !slices.Equal(got.Grants, []string{"kv", "log"}) {
					t.Errorf("plugin %q holds %v, want conformance holding exactly [kv log]", got.Plugin, got.Grants)
				}
				for _, fn := range []string{"log", "kv.get", "kv.set", "kv.list", "kv.delete"} {
					if !slices.Contains(got.Functions, fn) {
						t.Errorf("functions %v lack %s", got.Functions, fn)
					}
				}
			})

			t.Run("host call span in the call's trace", func(t *testing.T) { // telemetry_tiers_test.go
				opts := airlock.Options{}
				o := withTelemetry(t, &opts)
				h, _ := newHost(t, opts)
				load(t, h, airlock.PluginConfig{Path: dir, Grants: []string{"log"}})
				_, call, _ := tracedCall(t, o, h, "conformance", "callhost", map[string]any{"fn": "log", "input": map[string]string{"level": "info", "msg": "traced"}})
				checkHostCallParent(t, o, "log", call)
			})

			t.Run("host function granted and denied", func(t *testing.T) {
				var mu sync.Mutex
				var callers []string
				secret := airlock.NewFunc("secret.read", "secret.read", func(_ context.Context, c airlock.Caller, in struct {
					Key string `json:"key"` // the contract's field names are exact
				}) (string, error) {
					mu.Lock()
					callers = append(callers, c.Plugin())
					mu.Unlock()
					return "value-of-" + in.Key, nil
				})
				call := map[string]any{"fn": "secret.read", "input": map[string]string{"key": "k1"}}

				h, rec := newHost(t, airlock.Options{Functions: []airlock.Function{secret}})
				load(t, h, airlock.PluginConfig{Path: dir, Grants: []string{"log", "secret.read"}})
				out, err := airlock.CallFunc[map[string]any](ctxT(t, 20*time.Second), h, "conformance", "callhost", call)
				if err != nil {
					t.Fatal(err)
				}
				if out["result"] != "value-of-k1" || len(callers) != 1 || len(rec.events()) != 0 {
					t.Errorf("granted: plugin saw %v; host function callers %v; audit %v", out, callers, rec.events())
				}

				callers = nil
				h2, rec2 := newHost(t, airlock.Options{Functions: []airlock.Function{secret}})
				load(t, h2, airlock.PluginConfig{Path: dir, Grants: []string{"log"}})
				out, err = airlock.CallFunc[map[string]any](ctxT(t, 20*time.Second), h2, "conformance", "callhost", call)
				if err != nil {
					t.Fatal(err)
				}
				if out["denied"] != true || out["code"] != float64(-32001) {
					t.Errorf("denied: plugin saw %v, want a denial with code -32001", out)
				}
				if len(callers) != 0 {
					t.Errorf("the host function ran for %v despite the denial", callers)
				}
				if ev := rec2.events(); len(ev) != 1 || ev[0].Plugin != "conformance" || ev[0].Function != "secret.read" {
					t.Errorf("audit events = %+v, want one for conformance/secret.read", ev)
				}

				out, err = airlock.CallFunc[map[string]any](ctxT(t, 20*time.Second), h2, "conformance", "callhost", map[string]any{"fn": "no.such.function"})
				if err != nil || out["code"] != float64(-32601) {
					t.Errorf("unknown host function: plugin saw %v, %v; want -32601", out, err)
				}
			})

			t.Run("kv", func(t *testing.T) {
				h, _ := newHost(t, airlock.Options{})
				load(t, h, airlock.PluginConfig{Path: dir, Grants: []string{"log", "kv"}})
				out, err := airlock.CallFunc[map[string]any](ctxT(t, 20*time.Second), h, "conformance", "kv", nil)
				if err != nil {
					t.Fatal(err)
				}
				if fmt.Sprint(out["keys"]) != "[k1]" || out["gone"] == true {
					t.Errorf("kv round trip = %v", out)
				}
			})

			t.Run("cancelled call", func(t *testing.T) {
				h, _ := newHost(t, airlock.Options{})
				load(t, h, airlock.PluginConfig{Path: dir, Grants: []string{"log"}})
				ctx := ctxT(t, 20*time.Second)
				before := conformancePID(t, h)
				short, cancel := context.WithTimeout(ctx, 150*time.Millisecond)
				defer cancel()
				start := time.Now()
				_, err := h.Call(short, "conformance", "sleep", 60000)
				if !errors.Is(err, airlock.ErrDeadline) {
					t.Fatalf("err = %v, want ErrDeadline", err)
				}
				if took := time.Since(start); took > 5*time.Second {
					t.Errorf("the cancelled call took %v", took)
				}
				// It honoured the cancellation within the grace period (1 s),
				// so the host keeps it: a call that outlasts the grace period
				// is answered on the same connection, which a kill for an
				// unanswered cancel would have ended.
				if _, err := h.Call(ctx, "conformance", "sleep", 1500); err != nil {
					t.Fatalf("a call spanning the grace period: %v", err)
				}
				if after := conformancePID(t, h); after != before {
					t.Errorf("a plugin that honoured its cancellation was restarted (pid %d, then %d)", before, after)
				}
			})

			t.Run("cancellation reaches host calls", func(t *testing.T) {
				seen := make(chan error, 1)
				block := airlock.NewFunc("test.block", "test.block", func(ctx context.Context, _ airlock.Caller, _ any) (any, error) {
					select {
					case <-ctx.Done():
						seen <- ctx.Err()
					case <-time.After(20 * time.Second):
						seen <- errors.New("never cancelled")
					}
					return nil, ctx.Err()
				})
				h, _ := newHost(t, airlock.Options{Functions: []airlock.Function{block}})
				load(t, h, airlock.PluginConfig{Path: dir, Grants: []string{"log", "test.block"}})
				short, cancel := context.WithTimeout(ctxT(t, 20*time.Second), 300*time.Millisecond)
				defer cancel()
				_, err := h.Call(short, "conformance", "callhost", map[string]any{"fn": "test.block"})
				if !errors.Is(err, airlock.ErrDeadline) {
					t.Fatalf("err = %v, want ErrDeadline", err)
				}
				select {
				case err := <-seen:
					if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
						t.Errorf("the host function ended with %v, want its context cancelled by the plugin's $/cancel", err)
					}
				case <-time.After(10 * time.Second):
					t.Error("the host function was never cancelled")
				}
			})

			t.Run("ignored cancellation kills", func(t *testing.T) {
				h, _ := newHostWith(t, airlock.Config{Restart: airlock.RestartPolicy{Backoff: airlock.Duration(10 * time.Millisecond)}}, airlock.Options{})
				load(t, h, airlock.PluginConfig{Path: dir, Grants: []string{"log"}, Limits: airlock.Limits{
					CallTimeout: airlock.Duration(200 * time.Millisecond),
					CancelGrace: airlock.Duration(200 * time.Millisecond),
				}})
				ctx := ctxT(t, 20*time.Second)
				before := conformancePID(t, h)
				if _, err := h.Call(ctx, "conformance", "hang", nil); !errors.Is(err, airlock.ErrDeadline) {
					t.Fatalf("err = %v, want ErrDeadline", err)
				}
				waitFor(t, func() bool { return !alive(before) }, "the plugin that ignored its cancellation killed")
				if _, err := h.Call(ctx, "conformance", "echo", 1); err != nil {
					t.Fatal(err)
				}
			})

			t.Run("concurrent calls", func(t *testing.T) {
				h, _ := newHost(t, airlock.Options{})
				load(t, h, airlock.PluginConfig{Path: dir, Grants: []string{"log"}})
				ctx := ctxT(t, 60*time.Second)
				const goroutines, calls = 8, 25
				var wg sync.WaitGroup
				errs := make(chan error, goroutines*(calls+1))
				for g := range goroutines {
					wg.Add(1)
					go func() {
						defer wg.Done()
						// Every barrier call waits for all of them: only a
						// plugin that handles calls concurrently answers.
						if n, err := airlock.CallFunc[int](ctx, h, "conformance", "barrier", goroutines); err != nil || n != goroutines {
							errs <- fmt.Errorf("barrier = %d, %v", n, err)
						}
						for i := range calls {
							want := fmt.Sprintf("g%d-i%d-%s-é😀", g, i, strings.Repeat("x", i*37))
							got, err := airlock.CallFunc[string](ctx, h, "conformance", "echo", want)
							if err != nil || got != want {
								errs <- fmt.Errorf("echo(%q) = %q, %v", want, got, err)
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
			})

			t.Run("errors", func(t *testing.T) {
				h, _ := newHost(t, airlock.Options{})
				load(t, h, airlock.PluginConfig{Path: dir, Grants: []string{"log"}})
				ctx := ctxT(t, 20*time.Second)
				_, err := h.Call(ctx, "conformance", "fail", nil)
				var re *airlock.RemoteError
				if !errors.As(err, &re) || re.Code != -32000 || re.Message != "always fails" || !errors.Is(err, airlock.ErrPluginFailed) {
					t.Errorf("fail: err = %v, want the plugin's -32000 \"always fails\"", err)
				}
				_, err = h.Call(ctx, "conformance", "failcode", map[string]any{"code": -32099, "message": "mine"})
				if !errors.As(err, &re) || re.Code != -32099 || re.Message != "mine" {
					t.Errorf("failcode: err = %v, want the plugin's -32099 \"mine\"", err)
				}
				_, err = h.Call(ctx, "conformance", "parsed", map[string]any{"n": "two"})
				if !errors.As(err, &re) || re.Code != -32602 {
					t.Errorf("parsed with a bad input: err = %v, want -32602", err)
				}
				if _, err := h.Call(ctx, "conformance", "panic", nil); !errors.As(err, &re) || re.Code != -32000 {
					t.Errorf("panic: err = %v, want -32000", err)
				}
				if _, err := h.Call(ctx, "conformance", "nope", nil); !errors.Is(err, airlock.ErrNotImplemented) {
					t.Errorf("undeclared function: err = %v, want ErrNotImplemented", err)
				}
				if got, err := airlock.CallFunc[string](ctx, h, "conformance", "surrogate", nil); err != nil || got != "\ufffdx\\ud800\ufffd" {
					t.Errorf("surrogate = %q, %v", got, err)
				}
			})

			t.Run("stray print", func(t *testing.T) {
				h, rec := newHost(t, airlock.Options{})
				load(t, h, airlock.PluginConfig{Path: dir, Grants: []string{"log"}})
				ctx := ctxT(t, 20*time.Second)
				if got, err := airlock.CallFunc[string](ctx, h, "conformance", "print", nil); err != nil || got != "printed" {
					t.Fatalf("print = %q, %v", got, err)
				}
				if _, err := h.Call(ctx, "conformance", "echo", 1); err != nil {
					t.Fatalf("plugin unusable after a stray print: %v", err)
				}
				waitFor(t, func() bool { return strings.Contains(rec.String(), "stray print") }, "the stray print in the plugin's log")
			})

			t.Run("result over the message limit", func(t *testing.T) {
				h, _ := newHost(t, airlock.Options{})
				load(t, h, airlock.PluginConfig{Path: dir, Grants: []string{"log"}})
				ctx := ctxT(t, 20*time.Second)
				if got, err := airlock.CallFunc[string](ctx, h, "conformance", "big", 3<<20); err != nil || len(got) != 3<<20 {
					t.Errorf("big(3 MiB) = %d bytes, %v", len(got), err)
				}
				before := conformancePID(t, h)
				_, err := h.Call(ctx, "conformance", "big", 5<<20)
				var re *airlock.RemoteError
				if !errors.As(err, &re) || !strings.Contains(re.Message, "exceeds the message limit") {
					t.Errorf("big(5 MiB): err = %v, want the plugin's error, not a violation", err)
				}
				if _, err := h.Call(ctx, "conformance", "echo", 1); err != nil || conformancePID(t, h) != before {
					t.Errorf("the plugin did not survive its oversize result: %v", err)
				}
			})
		})
	}
}

// The same greet (one call, one host call to log, one answer) in every
// language with a process SDK, and in JavaScript without one: what an SDK
// costs per call, through a real host.
//
//	go test -run '^$' -bench SDKGreet -benchtime 2000x .
func BenchmarkSDKGreet(b *testing.B) {
	root := testutil.Root()
	cases := []struct {
		name  string
		tools []string
		dir   func(b *testing.B) string
	}{
		{"hello-go", nil, func(b *testing.B) string {
			bin := testutil.GoBinary(b, "examples/plugins/hello-go")
			m, err := os.ReadFile(filepath.Join(root, "examples/plugins/hello-go/plugin.toml"))
			if err != nil {
				b.Fatal(err)
			}
			return testutil.PluginDir(b, string(m), map[string]string{exe("bin/hello-go"): bin})
		}},
		{"hello-python", []string{"python3"}, func(*testing.B) string { return filepath.Join(root, "examples/plugins/hello-python") }},
		{"hello-node", []string{"node"}, func(*testing.B) string { return filepath.Join(root, "examples/plugins/hello-node") }},
		{"hello-ts", []string{"node", "npm"}, func(b *testing.B) string { return buildWithManifest(b, "hello-ts", "typescript") }},
		{"hello-rust", []string{"cargo"}, func(b *testing.B) string { return buildWithManifest(b, "hello-rust", "rust") }},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			for _, tool := range c.tools {
				sdkTool(b, tool, "the plugin needs it")
			}
			dir := c.dir(b)
			h, err := airlock.New(airlock.Options{Logger: quietLogger()})
			if err != nil {
				b.Fatal(err)
			}
			defer h.Close(context.Background())
			ctx := context.Background()
			// Log calls are part of greet: not rate-limited here.
			limits := airlock.Limits{HostCallsPerSecond: 1 << 30}
			if _, err := h.Load(ctx, airlock.PluginConfig{Path: dir, Grants: []string{"log"}, Limits: limits}); err != nil {
				b.Fatal(err)
			}
			in := map[string]string{"name": "ada"}
			b.ResetTimer()
			for range b.N {
				if _, err := greet.Run(ctx, h, in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// One small call, answered without calling the host, to each SDK's
// conformance plugin: the SDK's own cost per call, through a real host.
//
//	go test -run '^$' -bench SDKEcho -benchtime 5000x .
func BenchmarkSDKEcho(b *testing.B) {
	for _, lang := range []string{"typescript", "rust"} {
		b.Run(lang, func(b *testing.B) {
			dir := conformancePluginTB(b, lang)
			h, err := airlock.New(airlock.Options{Logger: quietLogger()})
			if err != nil {
				b.Fatal(err)
			}
			defer h.Close(context.Background())
			ctx := context.Background()
			if _, err := h.Load(ctx, airlock.PluginConfig{Path: dir, Grants: []string{"log"}}); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for range b.N {
				if _, err := h.Call(ctx, "conformance", "echo", "ada"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	cleanupConformanceBuilds()
}
