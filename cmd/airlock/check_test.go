package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/airlock-go/airlock/internal/manifest"
	"github.com/airlock-go/airlock/internal/testutil"
)

// checkJSON runs airlock check --json and decodes the report.
func checkJSON(t *testing.T, args ...string) (int, checkReport, string) {
	t.Helper()
	code, stdout, stderr := run(t, append([]string{"check", "--json"}, args...)...)
	var r checkReport
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("check --json: exit %d, %v\nstdout:\n%s\nstderr:\n%s", code, err, stdout, stderr)
	}
	return code, r, stderr
}

func (r checkReport) result(id string) checkResult {
	for _, c := range r.Checks {
		if c.ID == id {
			return c
		}
	}
	return checkResult{ID: id, Status: "absent"}
}

func (r checkReport) failed() []string {
	var ids []string
	for _, c := range r.Checks {
		if c.Status == statusFail {
			ids = append(ids, c.ID)
		}
	}
	return ids
}

// brokenPlugin lays out testdata/plugins/broken, built, in one of its
// modes, declaring the hook greet and the given functions.
func brokenPlugin(t *testing.T, mode string, functions ...string) string {
	t.Helper()
	noToolchainUnderWine(t)
	bin := testutil.GoBinary(t, "testdata/plugins/broken")
	args, _ := json.Marshal(append([]string{mode, "greet"}, functions...))
	fns, _ := json.Marshal(functions)
	text := fmt.Sprintf(`name = "broken"
version = "1.0.0"
tier = "process"
protocol = 1
entry = "bin/broken"
args = %s
hooks = ["greet"]
functions = %s

[platform.windows]
entry = "bin/broken.exe"

[capabilities]
required = ["log"]

[config.greeting]
type = "string"
default = "hello"
`, args, fns)
	name := "bin/broken"
	if runtime.GOOS == "windows" {
		name += ".exe"
	}
	return testutil.PluginDir(t, text, map[string]string{name: bin})
}

// exampleDir returns an example plugin's directory, its entry built when
// it needs building, or skips the test when what it needs is missing.
func exampleDir(t *testing.T, name string) string {
	t.Helper()
	root := testutil.Root()
	copyWith := func(entry, built string) string {
		text, err := os.ReadFile(filepath.Join(root, "examples/plugins", name, "plugin.toml"))
		if err != nil {
			t.Fatal(err)
		}
		return testutil.PluginDir(t, string(text), map[string]string{entry: built})
	}
	interpreter := func(bin string) string {
		noToolchainUnderWine(t)
		if _, err := exec.LookPath(bin); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is required in CI", bin)
			}
			t.Skipf("%s not installed", bin)
		}
		return filepath.Join(root, "examples/plugins", name)
	}
	switch name {
	case "hello-go":
		return helloGo(t)
	case "hello-python":
		return interpreter("python3")
	case "hello-node":
		return interpreter("node")
	case "hello-wasm-go":
		return copyWith("bin/hello-wasm-go.wasm", testutil.GoWasm(t, "examples/plugins/hello-wasm-go"))
	case "hello-wasm-c":
		return copyWith("bin/hello-wasm-c.wasm", testutil.CWasm(t, "hello-wasm-c", []string{"-I", "sdk/c"}, "examples/plugins/hello-wasm-c/hello.c", "sdk/c/airlock.c"))
	}
	t.Fatalf("no example %s", name)
	return ""
}

// The examples conform. With a sample input that makes greet call the
// host, every check that applies to the tier runs and passes.
func TestCheckExamples(t *testing.T) {
	for _, name := range []string{"hello-go", "hello-python", "hello-node", "hello-wasm-go", "hello-wasm-c"} {
		t.Run(name, func(t *testing.T) {
			dir := exampleDir(t, name)
			code, r, stderr := checkJSON(t, dir, "--sample", `greet={"name":"ada"}`, "--timeout", "60s") // room for -race under load
			if code != 0 || !r.Conforms || r.Failed != 0 {
				t.Fatalf("exit %d, report %+v\nstderr:\n%s", code, r, stderr)
			}
			wasm := strings.HasPrefix(name, "hello-wasm")
			for _, c := range r.Checks {
				notApplicable := strings.HasPrefix(c.Detail, "does not apply")
				switch {
				case wasm && (c.ID == ckCancel || c.ID == ckShutdown || c.ID == ckStdout):
					if c.Status != statusSkip || !notApplicable {
						t.Errorf("%s: %s %q, want skip: does not apply", c.ID, c.Status, c.Detail)
					}
				case c.Status != statusPass:
					t.Errorf("%s: %s %q, want pass", c.ID, c.Status, c.Detail)
				}
			}
			if wasm && r.result(ckABI).Status != statusPass {
				t.Errorf("abi: %+v", r.result(ckABI))
			}
			if !wasm && !strings.Contains(r.result(ckCancel).Detail, "cancelled while it waited for a host call") {
				t.Errorf("cancel was not exercised through a host call: %+v", r.result(ckCancel))
			}
		})
	}
}

// Without a sample, a generic checker calls greet with {}: greet answers
// with an error before calling the host, so what needs a host call is
// skipped, and says how to exercise it.
func TestCheckWithoutSample(t *testing.T) {
	code, r, stderr := checkJSON(t, helloGo(t))
	if code != 0 || !r.Conforms {
		t.Fatalf("exit %d: %+v\n%s", code, r, stderr)
	}
	want := map[string]string{
		ckHostCalls: "--sample",
		ckCancel:    "not exercised",
	}
	for id, text := range want {
		if c := r.result(id); c.Status != statusSkip || !strings.Contains(c.Detail, text) {
			t.Errorf("%s: %s %q, want skip saying %q", id, c.Status, c.Detail, text)
		}
	}
	if c := r.result(ckCalls); !strings.Contains(c.Detail, `greet({}): error -32000`) {
		t.Errorf("calls: %q", c.Detail)
	}
}

// Each broken plugin fails the check for the rule it breaks, with a
// finding that says what happened, and no other check.
func TestCheckBrokenPlugins(t *testing.T) {
	cases := []struct {
		mode      string
		functions []string
		fails     []string
		finding   string // in the first failed check's detail
	}{
		{"good", []string{"echo", "wait"}, nil, ""},
		{"wrong-code", []string{"echo"}, []string{ckUnknown}, "answered with error -32601"},
		{"ignore-cancel", []string{"echo", "wait"}, []string{ckCancel}, "wait: no answer within 1s of the $/cancel"},
		{"stdout", []string{"echo"}, []string{ckStdout}, `line is not a JSON-RPC message: "debug: handling call`},
		{"banner", []string{"echo"}, []string{ckHandshake, ckStdout}, `line is not a JSON-RPC message: "broken 1.0.0 starting up"`},
		{"no-exit", []string{"echo"}, []string{ckShutdown}, "the host had to terminate it"},
		{"wrong-name", []string{"echo"}, []string{ckHandshake}, `says its name is "someone-else"`},
		{"small-limit", []string{"echo"}, []string{ckMessageSize}, "is over my 1 MiB limit"},
		{"drops-calls", []string{"echo"}, []string{ckConcurrency, ckHostCalls}, "calls in flight got no answer"},
		{"picky-settings", []string{"echo"}, []string{ckSettings}, `refused greeting="airlock-check", which its schema allows`},
	}
	for _, c := range cases {
		t.Run(c.mode, func(t *testing.T) {
			t.Parallel()
			dir := brokenPlugin(t, c.mode, c.functions...)
			code, r, stderr := checkJSON(t, dir, "--timeout", "2s")
			wantCode := 1
			if c.fails == nil {
				wantCode = 0
			}
			if code != wantCode {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, wantCode, stderr)
			}
			if got := r.failed(); !slices.Equal(got, c.fails) {
				t.Errorf("failed checks %v, want %v", got, c.fails)
			}
			if c.fails != nil {
				if d := r.result(c.fails[0]).Detail; !strings.Contains(d, c.finding) {
					t.Errorf("%s says %q, want it to say %q", c.fails[0], d, c.finding)
				}
			}
			if t.Failed() {
				for _, ch := range r.Checks {
					t.Logf("%s %s: %s", ch.Status, ch.ID, ch.Detail)
				}
			}
		})
	}
}

// The conforming mode of the broken plugin exercises what the examples
// cannot without a sample: a call that runs past its deadline and
// answers the $/cancel, and host calls in flight.
func TestCheckCancelExercised(t *testing.T) {
	code, r, stderr := checkJSON(t, brokenPlugin(t, "good", "echo", "wait"), "--timeout", "1s")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if c := r.result(ckCancel); c.Status != statusPass || !strings.Contains(c.Detail, "wait: passed its 1s deadline and answered the $/cancel in time") {
		t.Errorf("cancel: %+v", c)
	}
	if c := r.result(ckHostCalls); c.Status != statusPass || !strings.Contains(c.Detail, "(echo)") {
		t.Errorf("host-calls: %+v", c)
	}
	if c := r.result(ckConcurrency); c.Status != statusPass || strings.Contains(c.Detail, "wait") {
		t.Errorf("concurrency should leave out wait, which runs past its deadline: %+v", c)
	}
}

// The human report: one line a check, and for a failure what the
// documentation requires and where.
func TestCheckHumanReport(t *testing.T) {
	code, stdout, stderr := run(t, "check", brokenPlugin(t, "wrong-code", "echo"))
	if code != 1 {
		t.Errorf("exit %d", code)
	}
	for _, want := range []string{
		"airlock check: broken 1.0.0 (process tier)",
		"PASS  handshake",
		"FAIL  unknown-name  a call of \"airlock.check.no_such_name\" was answered with error -32601",
		"requires: a call naming a hook or function the plugin does not implement is answered with error code -32004",
		"see: docs/PROTOCOL.md, section \"`call` (host → plugin, request)\"",
		"PASS  host-calls",
		"broken: 10 passed, 1 failed, 0 skipped: does NOT conform",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("report lacks %q:\n%s", want, stdout)
		}
	}
	if !strings.Contains(stderr, "airlock check: broken does not conform: 1 check failed") {
		t.Errorf("stderr: %s", stderr)
	}
	if n := len(regexp.MustCompile(`(?m)^(PASS|FAIL|SKIP) `).FindAllString(stdout, -1)); n != len(checkDefs)-2 {
		t.Errorf("%d check lines, want %d (all but signature and abi)", n, len(checkDefs)-2)
	}
}

// wasmModule is a hand-assembled WebAssembly module that defines and
// exports its memory, imports env.evil, and exports none of the
// contract's functions.
func wasmModule() []byte {
	section := func(id byte, body ...byte) []byte { return append([]byte{id, byte(len(body))}, body...) }
	name := func(s string) []byte { return append([]byte{byte(len(s))}, s...) }
	m := []byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00}
	m = append(m, section(1, 0x01, 0x60, 0x00, 0x00)...) // one type: () -> ()
	imp := append([]byte{0x01}, name("env")...)
	imp = append(append(imp, name("evil")...), 0x00, 0x00) // a function of type 0
	m = append(m, section(2, imp...)...)
	m = append(m, section(5, 0x01, 0x00, 0x01)...) // one memory, one page
	exp := append(append([]byte{0x01}, name("memory")...), 0x02, 0x00)
	return append(m, section(7, exp...)...)
}

func TestCheckWasmABI(t *testing.T) {
	dir := testutil.PluginDir(t, `name = "evil"
version = "1.0.0"
tier = "wasm"
protocol = 1
entry = "evil.wasm"
hooks = ["greet"]
`, nil)
	if err := os.WriteFile(filepath.Join(dir, "evil.wasm"), wasmModule(), 0o644); err != nil {
		t.Fatal(err)
	}
	code, r, stderr := checkJSON(t, dir)
	if code != 1 || !slices.Equal(r.failed(), []string{ckABI}) {
		t.Fatalf("exit %d, failed %v\n%s", code, r.failed(), stderr)
	}
	abi := r.result(ckABI)
	for _, want := range []string{"imports env.evil", "does not export airlock_alloc", "does not export airlock_call"} {
		if !strings.Contains(abi.Detail, want) {
			t.Errorf("abi finding lacks %q: %s", want, abi.Detail)
		}
	}
	if abi.Doc != "docs/ABI.md" || r.result(ckHandshake).Status != statusSkip {
		t.Errorf("abi %+v, handshake %+v", abi, r.result(ckHandshake))
	}
}

// A package is verified as airlock call verifies it before any of it
// runs, and the checks run on the verified bytes.
func TestCheckPackage(t *testing.T) {
	plugin := helloGo(t)
	t.Chdir(t.TempDir())
	run(t, "keygen", "acme")
	run(t, "keygen", "mallory")
	if code, _, stderr := run(t, "pack", plugin, "-o", "hello.tar.gz"); code != 0 {
		t.Fatalf("pack: %s", stderr)
	}
	cases := []struct {
		name      string
		args      []string
		code      int
		signature string
		detail    string
	}{
		{"unsigned", nil, 1, statusFail, "not signed"},
		{"unsigned allowed", []string{"--allow-unsigned"}, 0, statusSkip, "--allow-unsigned"},
		{"signed", []string{"--trust", "acme.pub"}, 0, statusPass, "signed by key"},
		{"untrusted key", []string{"--trust", "mallory.pub"}, 1, statusFail, "not trusted"},
		{"no key given", nil, 1, statusFail, "--trust PUBKEY"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.name == "signed" {
				if code, _, stderr := run(t, "sign", "hello.tar.gz", "--key", "acme.key"); code != 0 {
					t.Fatalf("sign: %s", stderr)
				}
			}
			code, r, stderr := checkJSON(t, append([]string{"hello.tar.gz"}, c.args...)...)
			sig := r.result(ckSignature)
			if code != c.code || sig.Status != c.signature || !strings.Contains(sig.Detail, c.detail) {
				t.Errorf("exit %d, signature %+v; want exit %d, %s saying %q\n%s", code, sig, c.code, c.signature, c.detail, stderr)
			}
			if c.code == 0 && r.result(ckShutdown).Status != statusPass {
				t.Errorf("the package's checks did not run: %+v", r.Checks)
			}
			if c.code == 1 && r.result(ckHandshake).Status != statusSkip {
				t.Errorf("an untrusted package ran: %+v", r.result(ckHandshake))
			}
		})
	}
}

func TestCheckUsage(t *testing.T) {
	dir := helloGo(t)
	cases := []struct {
		name string
		args []string
		code int
		text string
	}{
		{"no plugin", nil, 2, "want one plugin directory or package"},
		{"two plugins", []string{dir, dir}, 2, "want one plugin directory"},
		{"bad sample", []string{dir, "--sample", "greet"}, 2, "want NAME=VALUE"},
		{"bad sample JSON", []string{dir, "--sample", "greet={oops"}, 2, "not valid JSON"},
		{"undeclared sample", []string{dir, "--sample", "steal={}"}, 2, `declares no hook or function "steal"`},
		{"bad timeout", []string{dir, "--timeout", "0s"}, 2, "--timeout must be positive"},
		{"bad stub", []string{dir, "--stub", "Bad=1"}, 2, "--stub Bad"},
		{"stub over a standard function", []string{dir, "--stub", "log=null"}, 2, "already a host function called log"},
		{"not a plugin", []string{t.TempDir()}, 1, "does not conform"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, _, stderr := run(t, append([]string{"check"}, c.args...)...)
			if code != c.code || !strings.Contains(stderr, c.text) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit %d saying %q", code, stderr, c.code, c.text)
			}
		})
	}
	code, stdout, stderr := run(t, "check", "--help")
	if code != 0 || !strings.Contains(stdout, "Usage: airlock check DIR|PKG") || !strings.Contains(stdout, "-sample") || stderr != "" {
		t.Errorf("check --help: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}

// Every section a check cites is a heading of the document it names, so
// that a plugin author can find it.
func TestCheckDocSections(t *testing.T) {
	headings := map[string][]string{}
	for _, d := range checkDefs {
		for _, ref := range []*docRef{d.process, d.wasm} {
			if ref == nil {
				continue
			}
			if _, ok := headings[ref.doc]; !ok {
				text, err := os.ReadFile(filepath.Join(testutil.Root(), ref.doc))
				if err != nil {
					t.Fatal(err)
				}
				for _, line := range strings.Split(string(text), "\n") {
					if strings.HasPrefix(line, "#") {
						headings[ref.doc] = append(headings[ref.doc], strings.TrimSpace(strings.TrimLeft(line, "#")))
					}
				}
			}
			if !slices.Contains(headings[ref.doc], ref.section) {
				t.Errorf("check %s cites %s, section %q, which is not one of its headings", d.id, ref.doc, ref.section)
			}
			if ref.requires == "" {
				t.Errorf("check %s says nothing of what it requires", d.id)
			}
		}
		if (d.process == nil || d.wasm == nil) && d.notFor == "" && !d.wasmOnly {
			t.Errorf("check %s does not say why it does not apply to a tier", d.id)
		}
	}
}

// The settings the checker makes up are valid for the schema, and differ
// from the defaults where the schema leaves room.
func TestCheckSettingValues(t *testing.T) {
	man, err := manifest.Parse("plugin.toml", []byte(`name = "s"
version = "1.0.0"
tier = "process"
protocol = 1
entry = "x"
hooks = ["h"]

[config.colour]
type = "string"
enum = ["red", "green"]
default = "red"

[config.count]
type = "number"
min = 1
max = 9
default = 3

[config.loud]
type = "bool"
default = false

[config.tags]
type = "list"
pattern = "^[a-z]+$"
default = ["a"]

[config.token]
type = "secret"
required = true

[config.code]
type = "string"
pattern = "^[A-Z]{3}$"
default = "ABC"
`))
	if err != nil {
		t.Fatal(err)
	}
	base, fixed, err := baseSettings(man, nil)
	if err != nil {
		t.Fatal(err)
	}
	if base["token"] != "airlock-check" || len(fixed) != 0 {
		t.Errorf("base = %v, fixed = %v", base, fixed)
	}
	variants := settingVariants(man, base, fixed)
	if len(variants) != 2 {
		t.Fatalf("%d variants: %+v", len(variants), variants)
	}
	for _, v := range variants {
		if _, err := man.ResolveConfig(v.config); err != nil {
			t.Errorf("variant %s is invalid: %v", v.label, err)
		}
		if strings.Contains(v.label, `""`) || strings.Contains(v.label, "airlock-check") {
			t.Errorf("variant %q shows a secret's value", v.label)
		}
		if strings.Contains(v.label, "code=") {
			t.Errorf("variant %q made up a value for a string with a pattern", v.label)
		}
	}
	// The first variant takes each setting's first other value, the
	// second its second where there is one (only count has two).
	if want := `colour="green", count=1, loud=true, tags=[], token=(a secret)`; variants[0].label != want {
		t.Errorf("first variant %q, want %q", variants[0].label, want)
	}
	if variants[1].label != "count=9" {
		t.Errorf("variants: %q, %q", variants[0].label, variants[1].label)
	}
	refused := strings.Join(refusedSettings(man, base), "; ")
	for _, want := range []string{"count=\"not-a-number\" (wrong type)", "loud=\"not-a-bool\" (wrong type)", "an unknown setting"} {
		if !strings.Contains(refused, want) {
			t.Errorf("refused lacks %q: %s", want, refused)
		}
	}

	// A required setting with a pattern needs --set.
	man.Config["code"] = manifest.Setting{Type: "string", Pattern: "^[A-Z]{3}$", Required: true}
	if _, _, err := baseSettings(man, nil); err == nil || !strings.Contains(err.Error(), "--set code=VALUE") {
		t.Errorf("baseSettings without --set: %v", err)
	}
	if base, _, err := baseSettings(man, []string{"code=XYZ"}); err != nil || base["code"] != "XYZ" {
		t.Errorf("baseSettings with --set: %v, %v", base, err)
	}
}
