package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/airlock-go/airlock/internal/testutil"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testutil.Cleanup()
	os.Exit(code)
}

// run runs the CLI in-process and returns its exit status and output. The
// command may take up to 5 minutes: the demo builds five plugins from
// source, which took over a minute on a loaded CI machine with a cold
// build cache.
func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	c := &cli{stdout: &out, stderr: &errOut, getenv: os.Getenv}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	code := c.main(ctx, args)
	return code, out.String(), errOut.String()
}

// helloGo lays out examples/plugins/hello-go with its binary built.
func helloGo(t *testing.T) string {
	t.Helper()
	bin := testutil.GoBinary(t, "examples/plugins/hello-go")
	manifest, err := os.ReadFile(filepath.Join(testutil.Root(), "examples/plugins/hello-go/plugin.toml"))
	if err != nil {
		t.Fatal(err)
	}
	name := "bin/hello-go"
	if runtime.GOOS == "windows" {
		name += ".exe"
	}
	return testutil.PluginDir(t, string(manifest), map[string]string{name: bin})
}

func TestCall(t *testing.T) {
	dir := helloGo(t)
	cases := []struct {
		name     string
		args     []string
		code     int
		stdout   string
		inStderr []string
	}{
		{"greet", []string{"call", dir, "greet", "--input", `{"name":"ada"}`}, 0, `{"message":"hello, ada"}` + "\n",
			[]string{"granting hello-go its required capabilities: log"}},
		{"flags first", []string{"call", "--set", "greeting=hi", "--input", `{"name":"ada"}`, dir, "greet"}, 0, `{"message":"hi, ada"}` + "\n", nil},
		{"missing grant", []string{"call", dir, "greet", "--grant", "kv", "--input", `{"name":"ada"}`}, 1, "",
			[]string{"plugin hello-go", "required capabilities not granted: log"}},
		{"plugin error", []string{"call", dir, "greet", "--input", `{"name":""}`}, 1, "",
			[]string{"plugin hello-go", "greet", "name is empty"}},
		{"unknown setting", []string{"call", dir, "greet", "--set", "colour=red"}, 1, "",
			[]string{"plugin hello-go", `setting "colour"`, "unknown"}},
		{"bad input", []string{"call", dir, "greet", "--input", "{oops"}, 2, "", []string{"not valid JSON", "Usage: airlock call"}},
		{"undeclared function", []string{"call", dir, "steal"}, 1, "", []string{"plugin hello-go", "not implemented"}},
		{"not a plugin", []string{"call", t.TempDir(), "greet"}, 1, "", []string{"no plugin.toml here"}},
		{"missing args", []string{"call", dir}, 2, "", []string{"want a plugin directory and a hook"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, stdout, stderr := run(t, c.args...)
			if code != c.code {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, c.code, stderr)
			}
			if stdout != c.stdout {
				t.Errorf("stdout = %q, want %q", stdout, c.stdout)
			}
			for _, w := range c.inStderr {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr does not say %q:\n%s", w, stderr)
				}
			}
		})
	}
}

func TestCallPythonExample(t *testing.T) {
	noToolchainUnderWine(t) // and no Windows Python either
	if _, err := exec.LookPath("python3"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("python3 is required in CI")
		}
		t.Skip("python3 not installed")
	}
	dir := filepath.Join(testutil.Root(), "examples/plugins/hello-python")
	code, stdout, stderr := run(t, "call", dir, "greet", "--input", `{"name":"ada"}`)
	if code != 0 || stdout != `{"message":"hello, ada"}`+"\n" {
		t.Errorf("exit %d, stdout %q; stderr:\n%s", code, stdout, stderr)
	}
}

func TestCallWasm(t *testing.T) {
	module := testutil.GoWasm(t, "examples/plugins/hello-wasm-go")
	manifest, err := os.ReadFile(filepath.Join(testutil.Root(), "examples/plugins/hello-wasm-go/plugin.toml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := testutil.PluginDir(t, string(manifest), map[string]string{"bin/hello-wasm-go.wasm": module})
	code, stdout, stderr := run(t, "call", dir, "greet", "--input", `{"name":"ada"}`)
	if code != 0 || stdout != `{"message":"hello, ada"}`+"\n" {
		t.Errorf("exit %d, stdout %q; stderr:\n%s", code, stdout, stderr)
	}
	code, _, stderr = run(t, "call", dir, "greet", "--grant", "kv", "--input", `{"name":"ada"}`)
	if code != 1 || !strings.Contains(stderr, "plugin hello-wasm-go") || !strings.Contains(stderr, "not granted: log") {
		t.Errorf("missing grant: exit %d, stderr:\n%s", code, stderr)
	}
}

func TestInspect(t *testing.T) {
	dir := filepath.Join(testutil.Root(), "examples/plugins/teller")
	code, stdout, stderr := run(t, "inspect", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"teller 0.1.0 (process tier, protocol 1)", "built against contract 1.0.0", "greet (before), asks for priority 100 (the operator decides)",
		"Functions: peek", "requires (it will not start without them):\n  log", "can use if granted:\n  ledger.read", "blocked", "list"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("inspect output lacks %q:\n%s", want, stdout)
		}
	}
	code, stdout, _ = run(t, "inspect", "--json", dir)
	var r report
	if err := json.Unmarshal([]byte(stdout), &r); err != nil || code != 0 {
		t.Fatalf("inspect --json: %v (exit %d)\n%s", err, code, stdout)
	}
	if r.Name != "teller" || r.Contract != "1.0.0" || r.Hooks[0].Phase != "before" || r.Required[0] != "log" || r.Optional[0] != "ledger.read" || r.Settings[0].Name != "blocked" {
		t.Errorf("report = %+v", r)
	}
}

func TestInspectInvalidManifest(t *testing.T) {
	dir := testutil.PluginDir(t, "name = \"Bad Name\"\nversion = \"one\"\ntier = \"process\"\nprotocol = 1\nentry = \"x\"\ncolour = \"red\"\n", nil)
	code, _, stderr := run(t, "inspect", dir)
	if code != 1 {
		t.Errorf("exit %d", code)
	}
	for _, want := range []string{"plugin.toml", `key "name"`, `key "version"`, `key "colour": unknown key`} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
}

// noToolchainUnderWine skips tests that run the go command, which the
// Windows test binaries under wine do not have.
func noToolchainUnderWine(t *testing.T) {
	if runtime.GOOS == "windows" && os.Getenv("AIRLOCK_TEST_PREBUILT") != "" {
		t.Skip("runs the go command, which the Windows tests under wine do not have")
	}
}

func TestBuild(t *testing.T) {
	noToolchainUnderWine(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "bin", "raw")
	manifest := `name = "raw"
version = "1.0.0"
tier = "process"
protocol = 1
entry = "bin/raw"
[build]
command = ["go", "-C", ` + strconvQuote(testutil.Root()) + `, "build", "-o", ` + strconvQuote(out) + `, "./testdata/plugins/raw"]
`
	if err := os.WriteFile(filepath.Join(dir, "plugin.toml"), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := run(t, "build", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(out); err != nil {
		t.Errorf("entry not built: %v", err)
	}
	// A build that does not produce the entry is an error.
	os.WriteFile(filepath.Join(dir, "plugin.toml"), []byte(strings.Replace(manifest, `entry = "bin/raw"`, `entry = "bin/other"`, 1)), 0o644)
	if code, _, stderr := run(t, "build", dir); code != 1 || !strings.Contains(stderr, "did not produce the entry bin/other") {
		t.Errorf("exit %d, stderr %s", code, stderr)
	}
}

func strconvQuote(s string) string { b, _ := json.Marshal(s); return string(b) }

func TestHelp(t *testing.T) {
	code, _, stderr := run(t)
	if code != 2 || !strings.Contains(stderr, "Commands:") || !strings.Contains(stderr, "inspect") {
		t.Errorf("no args: exit %d\n%s", code, stderr)
	}
	// Help that was asked for goes to standard output, so it can be paged
	// or searched; help after a mistake goes to standard error.
	for _, args := range [][]string{{"call", "--help"}, {"help", "call"}} {
		code, stdout, stderr := run(t, args...)
		if code != 0 || !strings.Contains(stdout, "-grant") || !strings.Contains(stdout, "Usage: airlock call DIR|PKG HOOK") || stderr != "" {
			t.Errorf("%v: exit %d\nstdout:\n%s\nstderr:\n%s", args, code, stdout, stderr)
		}
	}
	code, stdout, _ := run(t, "help")
	if code != 0 || !strings.Contains(stdout, "Commands:") {
		t.Errorf("help: exit %d\n%s", code, stdout)
	}
	code, _, stderr = run(t, "call", "--bogus")
	if code != 2 || !strings.Contains(stderr, "Usage: airlock call") {
		t.Errorf("call --bogus: exit %d\n%s", code, stderr)
	}
	code, _, stderr = run(t, "frobnicate")
	if code != 2 || !strings.Contains(stderr, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: exit %d\n%s", code, stderr)
	}
}

// demoNativeWants is what the demo's native step prints here: the library
// in the host's process reading the host's file, then contained in a child
// that the sandbox keeps from it (Linux), or why the step was skipped.
func demoNativeWants() []string {
	if runtime.GOOS == "windows" {
		return []string{"(skipped: its build command is for Unix"}
	}
	if _, err := exec.LookPath("cc"); err != nil {
		return []string{"(no C compiler (cc) found: skipping hello-native-c)", "(skipped: no C compiler (cc) found)"}
	}
	wants := []string{
		"built hello-native-c (native tier)",
		"hello-native-c     native   would load",
		`isolation = "in-process":`,
		"the library runs in the host's own process",
		`peek(secret) → read "ledger signing key 7f3a-c0ffee"`,
		`isolation = "process":`,
		"the same file runs in a sandboxed child",
	}
	if runtime.GOOS == "linux" {
		wants = append(wants, "peek(secret) → refused: Permission denied")
	}
	return wants
}

func TestDemo(t *testing.T) {
	noToolchainUnderWine(t)
	if testing.Short() {
		t.Skip("the demo builds three plugins")
	}
	// The demo host's kv file is STATE/airlock/kv/airlock.test.db: one of
	// its own, not the user's, which another test binary may hold.
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	code, stdout, stderr := run(t, "demo", "--root", testutil.Root())
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, want := range []string{
		`greet("ada") → "hello, ada"`,
		"errors.Is(err, airlock.ErrVetoed) = true",
		`required capabilities not granted: log`,
		`capability \"ledger.read\" not granted to plugin teller`,
		"audit: plugin=teller function=ledger.balance capability=ledger.read",
		"errors.Is(err, airlock.ErrDeadline) = true",
		"errors.Is(err, airlock.ErrPluginCrashed) = true",
		"crashy is now disabled",
		`meanwhile greet("ada") → "hello, ada", err=<nil>`,
		`hello-wasm-go   → "hallo, grace"`,
		"hello-go           process  would load",
		`greet("ada") → "welcome, ada", err=<nil>`,
		"during the reload, 0 failed",
		// timers
		"10 ms is under its timer_min_period (100ms)",
		`reminder.start asks for timer.every 100ms → {"id":"t1"}`,
		"the host calls reminder.tick #3 at",
		"Unload(reminder), then load it again: 0 ticks",
		// the kv store across a restart, and namespaces
		`host #1: notebook.write("alice", "owes 12.50") → err=<nil>`,
		`host #2: notebook.read("alice") → found=true value="owes 12.50"   (notebook's keys: ["alice"])`,
		`host #2: snoop.read("alice") → found=false value=null   (snoop's keys: [])`,
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	for _, want := range demoNativeWants() {
		if !strings.Contains(stdout, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("demo output:\n%s", stdout)
	}
}
