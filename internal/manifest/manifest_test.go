package manifest

import (
	"errors"
	_ "github.com/airlock-go/airlock/internal/testutil" // wine fix-ups for the Windows test build
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const base = `
name = "demo"
version = "1.0.0"
tier = "process"
protocol = 1
entry = "bin/demo"
hooks = ["greet"]
`

func TestExamplesAreValid(t *testing.T) {
	dirs, err := filepath.Glob("../../examples/plugins/*/plugin.toml")
	if err != nil || len(dirs) < 5 {
		t.Fatalf("examples: %v, %v", dirs, err)
	}
	for _, f := range dirs {
		if _, err := Load(filepath.Dir(f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func TestValidation(t *testing.T) {
	cases := []struct {
		name, text, key, say string
	}{
		{"unknown top-level key", base + `colour = "red"`, "colour", "unknown key"},
		{"unknown nested key", base + "[capabilities]\nrequird = []", "capabilities.requird", "unknown key"},
		{"bad name", strings.Replace(base, `"demo"`, `"Demo Plugin"`, 1), "name", "lower-case"},
		{"bad version", strings.Replace(base, `"1.0.0"`, `"1.0"`, 1), "version", "not a semantic version"},
		{"bad tier", strings.Replace(base, `"process"`, `"native"`, 1), "tier", "must be process, wasm or builtin"},
		{"protocol missing", strings.Replace(base, "protocol = 1", "protocol = 0", 1), "protocol", "missing"},
		{"protocol too new", strings.Replace(base, "protocol = 1", "protocol = 2", 1), "protocol", "speaks protocol 2, this host speaks 1"},
		{"entry missing", strings.Replace(base, `entry = "bin/demo"`, "", 1), "entry", "missing"},
		{"entry escapes", strings.Replace(base, `"bin/demo"`, `"../other/bin"`, 1), "entry", "must not leave"},
		{"entry absolute", strings.Replace(base, `"bin/demo"`, `"/usr/bin/python3"`, 1), "entry", "relative"},
		{"hook not listed", base + "[hook.other]\nphase = \"after\"", "hook.other", "not listed in hooks"},
		{"bad phase", base + "[hook.greet]\nphase = \"during\"", "hook.greet.phase", "before, define or after"},
		{"duplicate hook", strings.Replace(base, `["greet"]`, `["greet", "greet"]`, 1), "hooks[1]", "listed twice"},
		{"bad capability", base + "[capabilities]\nrequired = [\"log\", \"Bad\"]", "capabilities.required[1]", "lower-case"},
		{"optional also required", base + "[capabilities]\nrequired = [\"log\"]\noptional = [\"log\"]", "capabilities.optional", "also required"},
		{"setting without type", base + "[config.x]\ndefault = 1", "config.x.type", "missing"},
		{"bad type", base + "[config.x]\ntype = \"int\"", "config.x.type", "must be string"},
		{"secret default", base + "[config.x]\ntype = \"secret\"\ndefault = \"hunter2\"", "config.x.default", "cannot have a default"},
		{"required default", base + "[config.x]\ntype = \"string\"\nrequired = true\ndefault = \"a\"", "config.x.required", "cannot have a default"},
		{"min on string", base + "[config.x]\ntype = \"string\"\nmin = 1.0", "config.x.min", "numbers only"},
		{"bad pattern", base + "[config.x]\ntype = \"string\"\npattern = \"(\"", "config.x.pattern", "not a regular expression"},
		{"default against enum", base + "[config.x]\ntype = \"string\"\nenum = [\"a\", \"b\"]\ndefault = \"c\"", "config.x.default", "must be one of"},
		{"default wrong type", base + "[config.x]\ntype = \"number\"\ndefault = \"ten\"", "config.x.default", "want number"},
		{"unknown platform", base + "[platform.plan9]\nentry = \"x\"", "platform.plan9", "unknown platform"},
		{"empty build", base + "[build]\ncommand = []", "build.command", "missing"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("plugin.toml", []byte(c.text))
			var me *Error
			if !errors.As(err, &me) {
				t.Fatalf("err = %v, want a *manifest.Error", err)
			}
			found := false
			for _, p := range me.Problems {
				if p.Key == c.key && strings.Contains(p.Message, c.say) {
					found = true
				}
			}
			if !found || !strings.HasPrefix(err.Error(), "plugin.toml: ") {
				t.Errorf("err = %v, want key %q saying %q", err, c.key, c.say)
			}
		})
	}
}

func TestSyntaxErrorHasLine(t *testing.T) {
	_, err := Parse("plugin.toml", []byte("name = \"x\"\nversion = = 1\n"))
	if err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("err = %v, want the line", err)
	}
}

func TestTooLarge(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, FileName), []byte(base+"# "+strings.Repeat("x", MaxSize)), 0o644)
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("err = %v", err)
	}
	if _, err := Load(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no plugin.toml here") {
		t.Errorf("missing: err = %v", err)
	}
}

func TestRunFor(t *testing.T) {
	m, err := Parse("plugin.toml", []byte(base+`interpreter = ["python3"]
[platform.windows]
entry = "bin/demo.exe"
interpreter = ["py", "-3"]
[platform."windows/arm64"]
entry = "bin/demo-arm64.exe"
`))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		goos, goarch, entry, interp string
	}{
		{"linux", "amd64", "bin/demo", "python3"},
		{"windows", "amd64", "bin/demo.exe", "py -3"},
		{"windows", "arm64", "bin/demo-arm64.exe", "py -3"}, // arch overrides entry only
	}
	for _, c := range cases {
		r := m.RunFor(c.goos, c.goarch)
		if r.Entry != c.entry || strings.Join(r.Interpreter, " ") != c.interp {
			t.Errorf("RunFor(%s/%s) = %+v", c.goos, c.goarch, r)
		}
	}
}
