package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/airlock-go/airlock/internal/testutil"
)

// teller lays out examples/plugins/teller with its binary built.
func teller(t *testing.T) string {
	t.Helper()
	noToolchainUnderWine(t)
	bin := testutil.GoBinary(t, "examples/plugins/teller")
	text, err := os.ReadFile(filepath.Join(testutil.Root(), "examples/plugins/teller/plugin.toml"))
	if err != nil {
		t.Fatal(err)
	}
	name := "bin/teller"
	if runtime.GOOS == "windows" {
		name += ".exe"
	}
	return testutil.PluginDir(t, string(text), map[string]string{name: bin})
}

// hostConfig writes a host.toml loading hello-go (greet, define), teller
// (greet, before; function peek) and a builtin the CLI cannot have, with
// plugin paths relative to the file.
func hostConfig(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	rel := func(p string) string {
		r, err := filepath.Rel(dir, p)
		if err != nil {
			return p
		}
		return filepath.ToSlash(r)
	}
	text := fmt.Sprintf(`[limits]
call_timeout = "5s"

[[plugin]]
path = %q
grants = ["log"]
priority = 10
config = { greeting = "hi" }

[[plugin]]
path = %q
grants = ["log", "ledger.read"]

[[plugin]]
builtin = "audit-trail"
grants = ["kv"]
`, rel(helloGo(t)), rel(teller(t)))
	path := filepath.Join(dir, "host.toml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRun(t *testing.T) {
	cfg := hostConfig(t)
	cases := []struct {
		name      string
		args      []string
		code      int
		stdout    string   // exactly, when not empty
		inStdout  []string // and these
		inStderr  []string
		notStderr []string
	}{
		{name: "hook through before and define", args: []string{"hook", "greet", "--input", `{"name":"ada"}`},
			stdout: `{"message":"hi, ada"}` + "\n", inStderr: []string{"skipping builtin plugin audit-trail", `msg="plugin started" plugin=teller`}},
		{name: "hook vetoed", args: []string{"hook", "greet", "--input", `{"name":"mallory"}`}, code: 1,
			inStderr: []string{"plugin teller", "vetoed", "mallory is on the blocked list"}},
		{name: "hook nobody defines", args: []string{"hook", "farewell", "--input", `{}`}, code: 1,
			inStderr: []string{"hook farewell", "no plugin defines it"}},
		{name: "hook nobody defines, with a default", args: []string{"hook", "farewell", "--default", `{"bye":true}`},
			stdout: `{"bye":true}` + "\n"},
		{name: "call a function", args: []string{"call", "hello-go", "greet", "--input", `{"name":"bob"}`},
			stdout: `{"message":"hi, bob"}` + "\n"},
		{name: "a host function the host lacks", args: []string{"call", "teller", "peek", "--input", `{"account":"a"}`}, code: 1,
			inStderr: []string{`no host function "ledger.balance"`, "airlock audit: host call refused"}},
		{name: "a stub behind the capability it names", args: []string{"call", "teller", "peek", "--stub", "ledger.balance:ledger.read={\"balance\":42}"},
			stdout: `{"balance":42}` + "\n"},
		// A stub is guarded by a capability of its own name by default:
		// teller holds ledger.read, not ledger.balance, and is refused.
		{name: "a stub's capability not granted", args: []string{"call", "teller", "peek", "--stub", "ledger.balance={\"balance\":42}"},
			inStdout: []string{`"refused":"capability \"ledger.balance\" not granted to plugin teller`}, inStderr: []string{"airlock audit: host call refused"}},
		{name: "undeclared function", args: []string{"call", "teller", "steal"}, code: 1, inStderr: []string{"plugin teller", "not implemented"}},
		{name: "unknown plugin", args: []string{"call", "nobody", "greet"}, code: 1, inStderr: []string{"plugin nobody"}},
		{name: "list", args: []string{"list"}, inStdout: []string{"PLUGIN", "hello-go", "0.1.0", "running", "teller", "peek", "log,ledger.read"}},
		{name: "quiet", args: []string{"-q", "hook", "greet", "--input", `{"name":"ada"}`}, stdout: `{"message":"hi, ada"}` + "\n",
			notStderr: []string{"plugin started"}},
		{name: "sandbox off", args: []string{"--sandbox", "off", "hook", "greet", "--input", `{"name":"ada"}`}, stdout: `{"message":"hi, ada"}` + "\n",
			inStderr: []string{"airlock run: WARNING: --sandbox off: every plugin runs UNCONFINED", "sandbox is OFF for this plugin"}},
		{name: "bad sandbox value", args: []string{"--sandbox", "maybe", "list"}, code: 2, inStderr: []string{`--sandbox "maybe"`, "Usage: airlock run"}},
		{name: "unknown action", args: []string{"frob"}, code: 2, inStderr: []string{`unknown action "frob"`}},
		{name: "hook without a name", args: []string{"hook"}, code: 2, inStderr: []string{"wrong arguments for hook"}},
		{name: "bad input", args: []string{"hook", "greet", "--input", "{oops"}, code: 2, inStderr: []string{"--input is not valid JSON", `"{oops"`}},
		{name: "input for list", args: []string{"list", "--input", "{}"}, code: 2, inStderr: []string{"--input is for hook and call"}},
		{name: "default for a call", args: []string{"call", "teller", "peek", "--default", "1"}, code: 2, inStderr: []string{"--default is for hooks"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, stdout, stderr := run(t, append([]string{"run", cfg}, c.args...)...)
			if code != c.code {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, c.code, stderr)
			}
			if c.stdout != "" && stdout != c.stdout {
				t.Errorf("stdout = %q, want %q", stdout, c.stdout)
			}
			for _, w := range c.inStdout {
				if !strings.Contains(stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout)
				}
			}
			for _, w := range c.inStderr {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			for _, w := range c.notStderr {
				if strings.Contains(stderr, w) {
					t.Errorf("stderr has %q:\n%s", w, stderr)
				}
			}
		})
	}
}

func TestRunListJSON(t *testing.T) {
	code, stdout, stderr := run(t, "run", hostConfig(t), "list", "--json")
	var list []listedPlugin
	if err := json.Unmarshal([]byte(stdout), &list); err != nil || code != 0 {
		t.Fatalf("exit %d, %v\n%s\n%s", code, err, stdout, stderr)
	}
	if len(list) != 2 || list[0].Name != "hello-go" || list[0].Priority != 10 || list[1].Name != "teller" ||
		list[1].Functions[0] != "peek" || list[1].Hooks[0] != "greet" || list[1].State != "running" || list[1].Tier != "process" {
		t.Errorf("list = %+v", list)
	}
}

func TestRunConfigErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(bad, []byte("[[plugin]]\npath = \"nowhere\"\ncolour = \"red\"\n"), 0o644)
	missing := filepath.Join(dir, "missing.toml")
	os.WriteFile(missing, []byte("[[plugin]]\npath = \"nowhere\"\n"), 0o644)
	cases := []struct {
		name string
		args []string
		code int
		text string
	}{
		{"no such file", []string{filepath.Join(dir, "none.toml"), "list"}, 1, "none.toml"},
		{"unknown key", []string{bad, "list"}, 1, `unknown key "plugin.colour"`},
		{"plugin missing", []string{missing, "list"}, 1, "no plugin.toml here"},
		{"no action", []string{bad}, 2, "want a host configuration and list"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, _, stderr := run(t, append([]string{"run"}, c.args...)...)
			if code != c.code || !strings.Contains(stderr, c.text) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit %d saying %q", code, stderr, c.code, c.text)
			}
		})
	}
}

// Help goes to standard output, with the forms and every option.
func TestRunHelp(t *testing.T) {
	for _, args := range [][]string{{"run", "--help"}, {"run", "-h"}, {"run", "host.toml", "list", "--help"}} {
		code, stdout, stderr := run(t, args...)
		if code != 0 || stderr != "" {
			t.Errorf("%v: exit %d, stderr %q", args, code, stderr)
		}
		for _, want := range []string{"Usage: airlock run HOST.toml", "airlock run HOST.toml hook NAME", "-stub", "-sandbox", "-input"} {
			if !strings.Contains(stdout, want) {
				t.Errorf("%v: help lacks %q:\n%s", args, want, stdout)
			}
		}
	}
}

// withStdin makes data the commands' standard input for the test.
func withStdin(t *testing.T, data string) {
	t.Helper()
	old := stdin
	stdin = strings.NewReader(data)
	t.Cleanup(func() { stdin = old })
}

// A 1 MiB input reaches the plugin through a file and through standard
// input, with airlock call and with airlock run.
func TestLargeInput(t *testing.T) {
	cfg := hostConfig(t)
	name := strings.Repeat("n", 1<<20)
	input := `{"name":"` + name + `"}`
	file := filepath.Join(t.TempDir(), "in.json")
	if err := os.WriteFile(file, []byte(input), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := helloGo(t)
	cases := []struct {
		name  string
		args  []string
		greet string
	}{
		{"call", []string{"call", dir, "greet", "-q"}, "hello"},
		{"run hook", []string{"run", cfg, "hook", "greet", "-q"}, "hi"},
		{"run call", []string{"run", cfg, "call", "hello-go", "greet", "-q"}, "hi"},
	}
	for _, c := range cases {
		for _, via := range []string{"file", "stdin"} {
			t.Run(c.name+" via "+via, func(t *testing.T) {
				args := slices.Concat(c.args, []string{"--input", "@" + file})
				if via == "stdin" {
					withStdin(t, input)
					args = slices.Concat(c.args, []string{"--input", "-"})
				}
				code, stdout, stderr := run(t, args...)
				want := `{"message":"` + c.greet + `, ` + name + `"}` + "\n"
				if code != 0 || stdout != want {
					t.Errorf("exit %d, %d bytes out (want %d); stderr:\n%s", code, len(stdout), len(want), stderr)
				}
			})
		}
	}
}
