package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/airlock-go/airlock/internal/scaffold"
	"github.com/airlock-go/airlock/internal/testutil"
)

// newTools are the programs each language's build and test need.
var newTools = map[string][]string{
	"go":          {"go"},
	"go-wasm":     {"go"},
	"python":      {"python3"},
	"typescript":  {"node", "npm"},
	"rust":        {"cargo"},
	"c-wasm":      {"clang", "make", "cc"},
	"native-c":    {"make", "cc"},
	"native-rust": {"cargo"},
}

// newNeedTools fails the test in CI (.ci/run installs every one) and skips
// it elsewhere when a program is not on PATH (the plugins' builds look
// for them there).
func newNeedTools(t *testing.T, names ...string) {
	t.Helper()
	noToolchainUnderWine(t)
	for _, name := range names {
		if _, err := exec.LookPath(name); err == nil {
			continue
		}
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is required in CI (.ci/run installs it)", name)
		}
		t.Skipf("%s not installed", name)
	}
}

func newPathExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// newRunIn runs a program in dir, failing the test with its output.
func newRunIn(t *testing.T, dir string, argv ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
}

// What `airlock new` makes works as made, in every language, the way its
// README says: new, build, the plugin's own test, then check, which runs
// every check that applies and passes them all; and its package, packed
// as the README says, runs.
func TestNewPluginsWork(t *testing.T) {
	for _, lang := range scaffold.LanguageNames() {
		t.Run(lang, func(t *testing.T) {
			t.Parallel()
			newNeedTools(t, newTools[lang]...)
			l, _ := scaffold.Lookup(lang)
			name := "my-" + lang
			dir := filepath.Join(t.TempDir(), name)
			code, stdout, stderr := run(t, "new", lang, name, "-dir", dir)
			if code != 0 || !strings.Contains(stdout, "made "+name) || !strings.Contains(stdout, strings.Join(l.Test, " ")) {
				t.Fatalf("new: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
			}
			if strings.HasPrefix(lang, "go") {
				// This test binary is no released version: the plugin
				// requires the module at the zero pseudo-version, which
				// the README says to replace with a checkout.
				newRunIn(t, dir, "go", "mod", "edit", "-replace", scaffold.Module+"="+testutil.Root())
			}
			if lang != "python" {
				if code, _, stderr := run(t, "build", dir); code != 0 {
					t.Fatalf("build: exit %d\n%s", code, stderr)
				}
			}
			newRunIn(t, dir, l.Test...)
			newCheckConforms(t, dir, strings.HasSuffix(lang, "-wasm"))

			// The package runs: one call, cheaper than a second check.
			pkg := newPackAsREADME(t, lang, dir)
			code, stdout, stderr = run(t, "call", pkg, "greet", "--allow-unsigned", "--input", `{"name":"ada"}`)
			if code != 0 || stdout != `{"message":"hello, ada"}`+"\n" {
				t.Errorf("call %s: exit %d, stdout %q\nstderr:\n%s", pkg, code, stdout, stderr)
			}
		})
	}
}

// newCheckConforms runs check on target with a sample that makes greet call
// the host, and wants every check passed, except those that do not apply
// to the wasm tier.
func newCheckConforms(t *testing.T, target string, wasm bool) {
	t.Helper()
	// A generous call timeout: the message-size check moves 4 MiB through
	// a guest compiled moments ago, on machines running -race under load.
	code, r, stderr := checkJSON(t, target, "--sample", `greet={"name":"ada"}`, "--timeout", "60s")
	if code != 0 || !r.Conforms {
		t.Fatalf("check %s: exit %d, failed %v\n%+v\nstderr:\n%s", target, code, r.failed(), r, stderr)
	}
	for _, c := range r.Checks {
		notApplicable := c.Status == statusSkip && strings.HasPrefix(c.Detail, "does not apply")
		if c.Status != statusPass && !(wasm && notApplicable) {
			t.Errorf("check %s: %s %s: %s", target, c.ID, c.Status, c.Detail)
		}
	}
}

// newPackAsREADME packs the plugin the way its README says and returns the
// package.
func newPackAsREADME(t *testing.T, lang, dir string) string {
	t.Helper()
	name := filepath.Base(dir)
	pkg := filepath.Join(filepath.Dir(dir), name+"-"+scaffold.Version+".tar.gz")
	from := dir
	switch lang {
	case "typescript":
		newRunIn(t, dir, "npm", "prune", "--omit=dev")
	case "rust", "native-rust":
		lib := name // the executable; a cdylib is libNAME.so, NAME with underscores
		if lang == "native-rust" {
			lib = "lib" + strings.ReplaceAll(name, "-", "_") + ".so"
			if runtime.GOOS == "darwin" {
				lib = strings.TrimSuffix(lib, ".so") + ".dylib"
			}
		}
		from = filepath.Join(filepath.Dir(dir), name+"-pkg")
		newCopyFile(t, filepath.Join(dir, "plugin.toml"), filepath.Join(from, "plugin.toml"))
		newCopyFile(t, filepath.Join(dir, "target", "release", lib), filepath.Join(from, "target", "release", lib))
	}
	code, stdout, stderr := run(t, "pack", from, "-o", pkg)
	if code != 0 {
		t.Fatalf("pack: exit %d\n%s%s", code, stdout, stderr)
	}
	t.Logf("%s", stdout)
	return pkg
}

func newCopyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err == nil {
		err = os.MkdirAll(filepath.Dir(to), 0o755)
	}
	if err == nil {
		err = os.WriteFile(to, data, 0o755)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// Wrong calls are refused before anything is written, saying why.
func TestNewRefuses(t *testing.T) {
	dir := t.TempDir()
	full := filepath.Join(dir, "full")
	os.Mkdir(full, 0o755)
	os.WriteFile(filepath.Join(full, "keep.txt"), []byte("mine"), 0o644)
	cases := []struct {
		name     string
		args     []string
		code     int
		inStderr []string
	}{
		{"unknown language", []string{"new", "pyhton", "p", "-dir", filepath.Join(dir, "a")}, 2,
			[]string{`unknown language "pyhton" (did you mean "python"?)`, "go, go-wasm, python, typescript, rust, c-wasm", "Usage: airlock new LANG NAME"}},
		{"invalid name", []string{"new", "go", "My_Plugin", "-dir", filepath.Join(dir, "b")}, 2,
			[]string{`not a valid plugin name: "My_Plugin": use lower-case letters, digits and single dashes`}},
		{"directory not empty", []string{"new", "go", "p", "-dir", full}, 1,
			[]string{"plugin p: directory is not empty: " + full, "keep.txt"}},
		{"missing name", []string{"new", "go"}, 2, []string{"want a language and a plugin name"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, _, stderr := run(t, c.args...)
			if code != c.code {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, c.code, stderr)
			}
			for _, w := range c.inStderr {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr does not say %q:\n%s", w, stderr)
				}
			}
		})
	}
	for _, d := range []string{"a", "b"} {
		if _, err := os.Stat(filepath.Join(dir, d)); err == nil {
			t.Errorf("%s was made by a refused call", d)
		}
	}
	if entries, _ := os.ReadDir(full); len(entries) != 1 {
		t.Errorf("the full directory has %d entries, want its one", len(entries))
	}
}

// Without -dir, the plugin is made in ./NAME.
func TestNewDefaultDir(t *testing.T) {
	t.Chdir(t.TempDir())
	if code, _, stderr := run(t, "new", "python", "hello"); code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if !newPathExists(filepath.Join("hello", "plugin.toml")) || !newPathExists(filepath.Join("hello", "airlock_plugin.py")) {
		t.Error("no hello/plugin.toml and hello/airlock_plugin.py")
	}
}
