package manifest

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	_ "github.com/airlock-go/airlock/internal/testutil" // wine fix-ups for the Windows test build
)

// base is a minimal valid manifest; cases add to it or replace parts of it.
const base = `
name = "demo"
version = "1.0.0"
tier = "process"
protocol = 1
entry = "bin/demo"
hooks = ["greet"]
`

// mustParse parses a manifest that must be valid.
func mustParse(t *testing.T, text string) *Manifest {
	t.Helper()
	m, err := Parse("plugin.toml", []byte(text))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return m
}

// problems parses a manifest that must be invalid and returns its problems.
func problems(t *testing.T, text string) (*Error, []Problem) {
	t.Helper()
	m, err := Parse("plugin.toml", []byte(text))
	if m != nil {
		t.Errorf("Parse returned a manifest with its error")
	}
	var me *Error
	if !errors.As(err, &me) {
		t.Fatalf("err = %v (%T), want a *manifest.Error", err, err)
	}
	if me.File != "plugin.toml" || !strings.HasPrefix(err.Error(), "plugin.toml: ") {
		t.Errorf("err = %q, want it to start with the file name", err)
	}
	return me, me.Problems
}

func TestBaseIsValid(t *testing.T) {
	m := mustParse(t, base)
	if m.Name != "demo" || m.Version != "1.0.0" || m.Tier != TierProcess || m.Protocol != 1 || m.Entry != "bin/demo" {
		t.Errorf("decoded %+v", m)
	}
	if m.File != "plugin.toml" || m.Dir != "" {
		t.Errorf("File, Dir = %q, %q; want plugin.toml and empty (parsed from bytes)", m.File, m.Dir)
	}
}

func TestExamplesAreValid(t *testing.T) {
	dirs, err := filepath.Glob("../../examples/plugins/*")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, dir := range dirs {
		if _, err := os.Stat(filepath.Join(dir, FileName)); err != nil {
			continue // not a plugin directory
		}
		n++
		t.Run(filepath.Base(dir), func(t *testing.T) {
			m, err := Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			abs, _ := filepath.Abs(dir)
			if m.Dir != abs {
				t.Errorf("Dir = %q, want %q", m.Dir, abs)
			}
			if m.File != filepath.Join(dir, FileName) {
				t.Errorf("File = %q", m.File)
			}
			if m.Name != filepath.Base(dir) {
				t.Errorf("name %q differs from the directory %q", m.Name, filepath.Base(dir))
			}
			if m.Tier != TierBuiltin && m.RunHere().Entry == "" {
				t.Error("no entry for this platform")
			}
		})
	}
	if n < 5 {
		t.Fatalf("found %d example manifests, want at least 5", n)
	}
}

func TestValidation(t *testing.T) {
	replace := func(old, new string) string {
		if !strings.Contains(base, old) {
			panic("base has no " + old)
		}
		return strings.Replace(base, old, new, 1)
	}
	long := strings.Repeat("a", 65)
	cases := []struct {
		name, text, key, say string
	}{
		// Keys nobody reads are typos: named in full, nested ones too.
		{"unknown top-level key", base + `colour = "red"`, "colour", "unknown key"},
		{"unknown nested key", base + "[capabilities]\nrequird = []", "capabilities.requird", "unknown key"},
		{"unknown key in a setting", base + "[config.x]\ntype = \"string\"\ndefualt = \"a\"", "config.x.defualt", "unknown key"},
		{"unknown key in a hook", base + "[hook.greet]\nphse = \"after\"", "hook.greet.phse", "unknown key"},
		{"unknown key in build", base + "[build]\ncommand = [\"make\"]\ncwd = \"x\"", "build.cwd", "unknown key"},
		{"unknown key in a platform", base + "[platform.linux]\nentri = \"x\"", "platform.linux.entri", "unknown key"},

		{"name missing", replace(`name = "demo"`, ""), "name", "missing"},
		{"bad name: spaces and capitals", replace(`"demo"`, `"Demo Plugin"`), "name", "lower-case letters, digits and single dashes"},
		{"bad name: leading digit", replace(`"demo"`, `"1demo"`), "name", "lower-case"},
		{"bad name: double dash", replace(`"demo"`, `"de--mo"`), "name", "single dashes"},
		{"bad name: trailing dash", replace(`"demo"`, `"demo-"`), "name", "single dashes"},
		{"bad name: underscore", replace(`"demo"`, `"de_mo"`), "name", "lower-case"},
		{"bad name: too long", replace(`"demo"`, `"`+long+`"`), "name", "at most 64 characters"},

		{"version missing", replace(`version = "1.0.0"`, ""), "version", "missing"},
		{"bad semver: two parts", replace(`"1.0.0"`, `"1.0"`), "version", `"1.0" is not a semantic version`},
		{"bad semver: v prefix", replace(`"1.0.0"`, `"v1.0.0"`), "version", "not a semantic version"},
		{"bad semver: words", replace(`"1.0.0"`, `"latest"`), "version", "not a semantic version"},
		{"bad semver: leading zero", replace(`"1.0.0"`, `"01.0.0"`), "version", "not a semantic version"},

		{"tier missing", replace(`tier = "process"`, ""), "tier", "missing (process, wasm, native or builtin)"},
		{"bad tier", replace(`"process"`, `"plugin"`), "tier", `"plugin": must be process, wasm, native or builtin`},
		{"tier is case-sensitive", replace(`"process"`, `"Process"`), "tier", "must be process, wasm, native or builtin"},
		{"native takes no interpreter", replace(`tier = "process"`, "tier = \"native\"\ninterpreter = [\"sh\"]"), "interpreter", "a native library takes no interpreter or args"},

		{"protocol 0", replace("protocol = 1", "protocol = 0"), "protocol", "missing (this host speaks protocol 1)"},
		{"protocol absent", replace("protocol = 1", ""), "protocol", "missing"},
		{"protocol 2", replace("protocol = 1", "protocol = 2"), "protocol", "plugin speaks protocol 2, this host speaks 1"},
		{"protocol negative", replace("protocol = 1", "protocol = -1"), "protocol", "plugin speaks protocol -1"},

		{"contract not semver", base + `contract = "1.2"`, "contract", `"1.2" is not a semantic version (like 1.2.0)`},
		{"contract with v", base + `contract = "v1.2.0"`, "contract", "not a semantic version"},

		{"entry missing", replace(`entry = "bin/demo"`, ""), "entry", "missing"},
		{"entry empty", replace(`"bin/demo"`, `""`), "entry", "missing"},
		{"entry with ..", replace(`"bin/demo"`, `"../other/bin"`), "entry", `"../other/bin": must not leave the plugin directory`},
		{"entry with .. inside", replace(`"bin/demo"`, `"bin/../../x"`), "entry", "must not leave"},
		{"entry with backslash ..", replace(`"bin/demo"`, `'bin\..\..\x.exe'`), "entry", "must not leave"},
		{"entry absolute", replace(`"bin/demo"`, `"/usr/bin/python3"`), "entry", "must be relative to the plugin directory"},
		{"entry rooted with backslash", replace(`"bin/demo"`, `'\Windows\cmd.exe'`), "entry", "must be relative"},
		{"wasm entry absolute", strings.Replace(replace(`"process"`, `"wasm"`), `"bin/demo"`, `"/x.wasm"`, 1), "entry", "must be relative"},

		{"bad hook name", replace(`["greet"]`, `["Greet"]`), "hooks[0]", `"Greet" is not a hook name`},
		{"hook not listed", base + "[hook.other]\nphase = \"after\"", "hook.other", `hook "other" is not listed in hooks`},
		{"bad phase", base + "[hook.greet]\nphase = \"during\"", "hook.greet.phase", `"during": must be before, define or after`},
		{"duplicate hooks", replace(`["greet"]`, `["greet", "x", "greet"]`), "hooks[2]", `"greet" listed twice`},
		{"bad function name", base + `functions = ["ok", "Not-OK"]`, "functions[1]", `"Not-OK" is not a function name`},

		{"capability parse error", base + "[capabilities]\nrequired = [\"log\", \"Bad\"]", "capabilities.required[1]", `capability "Bad"`},
		{"optional capability parse error", base + "[capabilities]\noptional = [\"kv\", \"log\", \"fs.read:rel\"]", "capabilities.optional[2]", "absolute path"},
		{"optional also required", base + "[capabilities]\nrequired = [\"log\"]\noptional = [\"kv\", \"log\"]", "capabilities.optional", `"log" is also required`},
		{"optional also required after cleaning", base + "[capabilities]\nrequired = [\"fs.read:/srv/\"]\noptional = [\"fs.read:/srv\"]", "capabilities.optional", "also required"},

		{"bad setting name", base + "[config.Greeting]\ntype = \"string\"", "config.Greeting", "lower-case letters, digits and '_'"},
		{"setting without type", base + "[config.x]\ndefault = 1", "config.x.type", "missing (string, number, integer, bool, secret or list)"},
		{"bad type", base + "[config.x]\ntype = \"int\"", "config.x.type", `"int": must be string, number, integer, bool, secret or list`},
		{"secret with default", base + "[config.x]\ntype = \"secret\"\ndefault = \"hunter2\"", "config.x.default", "a secret cannot have a default"},
		{"required with default", base + "[config.x]\ntype = \"string\"\nrequired = true\ndefault = \"a\"", "config.x.required", "a required setting cannot have a default"},
		{"min on a string", base + "[config.x]\ntype = \"string\"\nmin = 1.0", "config.x.min", "min and max apply to numbers and integers only"},
		{"max on a bool", base + "[config.x]\ntype = \"bool\"\nmax = 1", "config.x.min", "numbers and integers only"},
		{"bad pattern", base + "[config.x]\ntype = \"string\"\npattern = \"(\"", "config.x.pattern", "not a regular expression"},
		{"default violates enum", base + "[config.x]\ntype = \"string\"\nenum = [\"a\", \"b\"]\ndefault = \"c\"", "config.x.default", "must be one of 'a', 'b'"},
		{"default violates pattern", base + "[config.x]\ntype = \"string\"\npattern = \"^a\"\ndefault = \"b\"", "config.x.default", "does not match pattern"},
		{"default violates list item pattern", base + "[config.x]\ntype = \"list\"\npattern = \"^[a-z]+$\"\ndefault = [\"ok\", \"NO\"]", "config.x.default", "does not match pattern"},
		{"default of the wrong type", base + "[config.x]\ntype = \"number\"\ndefault = \"ten\"", "config.x.default", "got string, want number"},
		{"default not a bool", base + "[config.x]\ntype = \"bool\"\ndefault = \"yes\"", "config.x.default", "want boolean"},
		{"default list of numbers", base + "[config.x]\ntype = \"list\"\ndefault = [1]", "config.x.default", "want string"},
		{"default over max", base + "[config.x]\ntype = \"number\"\nmax = 2\ndefault = 3", "config.x.default", "maximum"},
		{"default under min", base + "[config.x]\ntype = \"number\"\nmin = 2\ndefault = 1", "config.x.default", "minimum"},

		{"unknown platform", base + "[platform.plan9]\nentry = \"x\"", "platform.plan9", "unknown platform"},
		{"unknown platform arch", base + "[platform.\"linux/mips\"]\nentry = \"x\"", "platform.linux/mips", "unknown platform"},
		{"platform is case-sensitive", base + "[platform.Linux]\nentry = \"x\"", "platform.Linux", "unknown platform"},
		{"platform entry escapes", base + "[platform.windows]\nentry = \"..\\\\x.exe\"", "platform.windows.entry", "must not leave"},
		{"platform entry absolute", base + "[platform.\"linux/arm64\"]\nentry = \"/bin/sh\"", "platform.linux/arm64.entry", "must be relative"},

		{"build with empty command", base + "[build]\ncommand = []", "build.command", "missing: the command to run"},
		{"build without command", base + "[build]\nenv = [\"A=1\"]", "build.command", "missing"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			me, probs := problems(t, c.text)
			n := 0
			for _, p := range probs {
				if p.Key == c.key && strings.Contains(p.Message, c.say) {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("problems = %q, want one for key %q saying %q", probs, c.key, c.say)
			}
			// The message names the key too, so the operator can find it.
			if want := `key "` + c.key + `": `; !strings.Contains(me.Error(), want) {
				t.Errorf("err = %q, want it to contain %q", me.Error(), want)
			}
			if !strings.Contains(me.Error(), c.say) {
				t.Errorf("err = %q, want it to contain %q", me.Error(), c.say)
			}
		})
	}
}

func TestValid(t *testing.T) {
	cases := []struct{ name, text string }{
		{"builtin needs no entry", strings.Replace(strings.Replace(base, `entry = "bin/demo"`, "", 1), `"process"`, `"builtin"`, 1)},
		{"wasm tier", strings.Replace(base, `"process"`, `"wasm"`, 1)},
		{"prerelease version", strings.Replace(base, `"1.0.0"`, `"1.2.3-beta.1+build.5"`, 1)},
		{"64-character name", strings.Replace(base, `"demo"`, `"`+strings.Repeat("a", 64)+`"`, 1)},
		{"dashed name", strings.Replace(base, `"demo"`, `"my-demo-2"`, 1)},
		{"dotted hooks and functions", strings.Replace(base, `["greet"]`, `["greet", "http.request_in"]`, 1) + `functions = ["ledger.read_all"]` + "\n[hook.\"http.request_in\"]\nphase = \"before\"\npriority = -5"},
		{"every phase", strings.Replace(base, `["greet"]`, `["a", "b", "c", "d"]`, 1) + "[hook.a]\nphase = \"before\"\n[hook.b]\nphase = \"define\"\n[hook.c]\nphase = \"after\"\n[hook.d]\npriority = 3"},
		{"entry with dots in names", strings.Replace(base, `"bin/demo"`, `"bin/..demo../x.y"`, 1)},
		{"every setting type", base + "[config.a]\ntype = \"string\"\n[config.b]\ntype = \"number\"\nmin = -1\nmax = 1.5\ndefault = 1\n[config.c]\ntype = \"bool\"\ndefault = true\n[config.d]\ntype = \"secret\"\nrequired = true\n[config.e]\ntype = \"list\"\ndefault = []\n[config.f_2]\ntype = \"string\"\nenum = [\"x\", \"y\"]\ndefault = \"y\"\npattern = \"^[xy]$\""},
		{"capabilities", base + "[capabilities]\nrequired = [\"log\", \"fs.read:/srv\"]\noptional = [\"kv\", \"fs.read:/srv/in\"]"},
		{"platforms", base + "[platform.windows]\nentry = \"bin/demo.exe\"\n[platform.\"linux/arm64\"]\nargs = [\"-x\"]\n[platform.wasip1]\ninterpreter = []"},
		{"build", base + "[build]\ncommand = [\"go\", \"build\"]\nenv = [\"CGO_ENABLED=0\"]"},
		{"contract version", base + `contract = "2.3.1-rc.1"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { mustParse(t, c.text) })
	}
}

// Every problem is reported at once, sorted by key, in one error.
func TestAllProblemsReported(t *testing.T) {
	text := `
name = "Bad Name"
version = "one"
tier = "nativ"
protocol = 3
entry = "/abs"
hooks = ["greet"]
typo = 1
[hook.other]
[build]
command = []
`
	me, probs := problems(t, text)
	var keys []string
	for _, p := range probs {
		keys = append(keys, p.Key)
	}
	want := []string{"typo", "build.command", "entry", "hook.other", "name", "protocol", "tier", "version"}
	for _, k := range want {
		if !slices.Contains(keys, k) {
			t.Errorf("problems %q lack key %q", keys, k)
		}
	}
	if len(keys) != len(want) {
		t.Errorf("problems %q, want exactly %q", keys, want)
	}
	// Validation problems come sorted by key, after unknown keys.
	if !slices.IsSorted(keys[1:]) {
		t.Errorf("keys %q not sorted", keys[1:])
	}
	if got := strings.Count(me.Error(), "; "); got != len(probs)-1 {
		t.Errorf("err = %q: want the problems joined by '; '", me.Error())
	}
}

func TestErrorFormat(t *testing.T) {
	e := &Error{File: "x/plugin.toml", Problems: []Problem{{Message: "whole file"}, {Key: "name", Message: "missing"}}}
	if got, want := e.Error(), `x/plugin.toml: whole file; key "name": missing`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestSyntaxErrors(t *testing.T) {
	cases := []struct {
		name, text string
		say        []string
	}{
		{"bad value", "name = \"x\"\n\n\nversion = = 1\n", []string{"line 4", "expected value"}},
		{"duplicate key", "name = \"x\"\nname = \"y\"\n", []string{"line 2", "already been defined"}},
		{"unterminated string", "name = \"x\n", []string{"line 1"}},
		{"wrong TOML type", base + "[config.x]\ntype = \"number\"\nmin = \"a\"\n", []string{"line 10", "config.x.min", "incompatible types"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, probs := problems(t, c.text)
			if len(probs) != 1 || probs[0].Key != "" {
				t.Fatalf("problems = %q, want one for the whole file", probs)
			}
			for _, s := range c.say {
				if !strings.Contains(probs[0].Message, s) {
					t.Errorf("message %q does not say %q", probs[0].Message, s)
				}
			}
		})
	}
}

func TestLoad(t *testing.T) {
	write := func(t *testing.T, data string) string {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, FileName), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	pad := func(n int) string { // a valid manifest of exactly n bytes
		s := base + "#"
		return s + strings.Repeat("x", n-len(s))
	}

	t.Run("exactly MaxSize", func(t *testing.T) {
		text := pad(MaxSize)
		if len(text) != MaxSize {
			t.Fatalf("built %d bytes", len(text))
		}
		m, err := Load(write(t, text))
		if err != nil {
			t.Fatalf("a manifest of exactly MaxSize bytes: %v", err)
		}
		if m.Name != "demo" {
			t.Errorf("Name = %q", m.Name)
		}
	})
	t.Run("over MaxSize", func(t *testing.T) {
		dir := write(t, pad(MaxSize+1))
		_, err := Load(dir)
		var me *Error
		if !errors.As(err, &me) || !strings.Contains(err.Error(), "larger than 1048576 bytes") {
			t.Fatalf("err = %v, want a *manifest.Error saying it is too large", err)
		}
		if me.File != filepath.Join(dir, FileName) {
			t.Errorf("File = %q", me.File)
		}
	})
	t.Run("no manifest", func(t *testing.T) {
		_, err := Load(t.TempDir())
		var me *Error
		if !errors.As(err, &me) || !strings.Contains(err.Error(), "no plugin.toml here") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("invalid manifest names the file", func(t *testing.T) {
		dir := write(t, strings.Replace(base, "protocol = 1", "protocol = 2", 1))
		_, err := Load(dir)
		if err == nil || !strings.HasPrefix(err.Error(), filepath.Join(dir, FileName)+": ") {
			t.Errorf("err = %v, want it to start with the file's path", err)
		}
	})
	t.Run("relative directory made absolute", func(t *testing.T) {
		dir := write(t, base)
		t.Chdir(filepath.Dir(dir))
		m, err := Load(filepath.Base(dir))
		if err != nil {
			t.Fatal(err)
		}
		wd, err := os.Getwd()
		if err != nil {
			t.Fatal(err)
		}
		if want := filepath.Join(wd, filepath.Base(dir)); m.Dir != want {
			t.Errorf("Dir = %q, want %q", m.Dir, want)
		}
	})
}

func TestRunFor(t *testing.T) {
	m := mustParse(t, base+`interpreter = ["python3"]
args = ["main.py"]
[platform.windows]
entry = "bin/demo.exe"
interpreter = ["py", "-3"]
[platform."windows/arm64"]
entry = "bin/demo-arm64.exe"
[platform."linux/arm64"]
args = ["--arm"]
[platform.darwin]
interpreter = []
`)
	cases := []struct {
		goos, goarch, entry, interp, args string
	}{
		{"linux", "amd64", "bin/demo", "python3", "main.py"},
		{"freebsd", "arm64", "bin/demo", "python3", "main.py"},
		// GOOS overrides the top level, key by key.
		{"windows", "amd64", "bin/demo.exe", "py -3", "main.py"},
		// GOOS/GOARCH overrides GOOS: here the entry only.
		{"windows", "arm64", "bin/demo-arm64.exe", "py -3", "main.py"},
		// GOOS/GOARCH alone, without a GOOS table.
		{"linux", "arm64", "bin/demo", "python3", "--arm"},
		// An empty list is an override too: darwin runs the entry directly.
		{"darwin", "arm64", "bin/demo", "", "main.py"},
	}
	for _, c := range cases {
		t.Run(c.goos+"/"+c.goarch, func(t *testing.T) {
			r := m.RunFor(c.goos, c.goarch)
			if r.Entry != c.entry || strings.Join(r.Interpreter, " ") != c.interp || strings.Join(r.Args, " ") != c.args {
				t.Errorf("RunFor = %+v, want entry %q, interpreter %q, args %q", r, c.entry, c.interp, c.args)
			}
		})
	}
	if r := m.RunFor("darwin", "amd64"); r.Interpreter == nil || len(r.Interpreter) != 0 {
		t.Errorf("darwin interpreter = %#v, want an empty, non-nil override", r.Interpreter)
	}
}

func TestAccessors(t *testing.T) {
	m := mustParse(t, strings.Replace(base, `["greet"]`, `["greet", "log.line", "audit"]`, 1)+`
[hook."log.line"]
phase = "after"
[hook.audit]
priority = 7
[capabilities]
required = ["log", "fs.read:/srv/../data/"]
optional = ["kv"]
`)
	cases := []struct{ hook, phase string }{
		{"greet", PhaseDefine}, // no [hook] table
		{"log.line", PhaseAfter},
		{"audit", PhaseDefine}, // a table without phase
		{"unknown", PhaseDefine},
	}
	for _, c := range cases {
		if got := m.Phase(c.hook); got != c.phase {
			t.Errorf("Phase(%q) = %q, want %q", c.hook, got, c.phase)
		}
	}
	if p := m.Hook["audit"].Priority; p == nil || *p != 7 {
		t.Errorf("audit priority = %v, want 7", p)
	}
	for hook, want := range map[string]bool{"greet": true, "log.line": true, "audit": true, "other": false, "": false} {
		if got := m.Implements(hook); got != want {
			t.Errorf("Implements(%q) = %v", hook, got)
		}
	}
	req := m.Required()
	if len(req) != 2 || req[0].String() != "log" || req[1].String() != "fs.read:/data" {
		t.Errorf("Required = %v, want [log fs.read:/data] parsed and cleaned", req)
	}
	req[0].Name = "changed"
	if m.Required()[0].Name != "log" {
		t.Error("Required returned the manifest's own slice")
	}
	if opt := m.Optional(); len(opt) != 1 || opt[0].String() != "kv" {
		t.Errorf("Optional = %v", opt)
	}
}

func TestContractVersion(t *testing.T) {
	if v := mustParse(t, base).ContractVersion(); v != nil {
		t.Errorf("no contract key: ContractVersion = %v, want nil", v)
	}
	v := mustParse(t, base+`contract = "1.4.2"`).ContractVersion()
	if v == nil || v.Major() != 1 || v.Minor() != 4 || v.Patch() != 2 {
		t.Errorf("ContractVersion = %v, want 1.4.2", v)
	}
}

func TestValidHookName(t *testing.T) {
	for name, want := range map[string]bool{
		"greet": true, "payment.approve": true, "a_b.c2": true,
		"": false, "Greet": false, "greet!": false, "1greet": false, "a..b": false, "a.": false, "pay-ment": false,
	} {
		if got := ValidHookName(name); got != want {
			t.Errorf("ValidHookName(%q) = %v, want %v", name, got, want)
		}
	}
}
