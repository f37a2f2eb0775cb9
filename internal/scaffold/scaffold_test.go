package scaffold

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"

	"github.com/airlock-go/airlock/internal/manifest"
)

// Every language renders the same bytes twice, a valid manifest naming
// the plugin, the files each language needs, and no template left over.
func TestRender(t *testing.T) {
	want := map[string][]string{
		"go":          {"plugin.toml", "README.md", ".gitignore", "go.mod", "main.go", "main_test.go"},
		"go-wasm":     {"plugin.toml", "README.md", ".gitignore", "go.mod", "main.go", "main_test.go"},
		"python":      {"plugin.toml", "README.md", ".gitignore", "main.py", "test_main.py", "airlock_plugin.py"},
		"typescript":  {"plugin.toml", "README.md", ".gitignore", ".npmrc", "package.json", "package-lock.json", "tsconfig.json", "src/main.ts", "src/greet.ts", "src/greet.test.ts", "vendor/airlock-plugin/index.js", "vendor/airlock-plugin/index.d.ts", "vendor/airlock-plugin/package.json"},
		"rust":        {"plugin.toml", "README.md", ".gitignore", "Cargo.toml", "Cargo.lock", "src/main.rs", "vendor/airlock-plugin/Cargo.toml", "vendor/airlock-plugin/src/lib.rs"},
		"c-wasm":      {"plugin.toml", "README.md", ".gitignore", "Makefile", "plugin.c", "plugin_test.c", "vendor/airlock/airlock.c", "vendor/airlock/airlock.h"},
		"native-c":    {"plugin.toml", "README.md", ".gitignore", "Makefile", "plugin.c", "plugin_test.c", "vendor/airlock/airlock_native.h", "vendor/airlock/airlock_json.c", "vendor/airlock/airlock_json.h"},
		"native-rust": {"plugin.toml", "README.md", ".gitignore", "Cargo.toml", "Cargo.lock", "src/lib.rs", "vendor/airlock-native/Cargo.toml", "vendor/airlock-native/src/lib.rs", "vendor/airlock-native/src/json.rs"},
	}
	if len(want) != len(languages) {
		t.Fatalf("test covers %d languages, there are %d", len(want), len(languages))
	}
	for _, lang := range LanguageNames() {
		t.Run(lang, func(t *testing.T) {
			o := Options{Lang: lang, Name: "my-plugin", AirlockVersion: "v1.2.3"}
			files, err := Render(o)
			if err != nil {
				t.Fatal(err)
			}
			again, _ := Render(o)
			byPath := map[string][]byte{}
			for i, f := range files {
				if f.Path != again[i].Path || !bytes.Equal(f.Data, again[i].Data) {
					t.Errorf("%s: not the same bytes twice", f.Path)
				}
				if bytes.Contains(f.Data, []byte("<no value>")) || bytes.Contains(f.Data, []byte("{{.")) {
					t.Errorf("%s: template left over", f.Path)
				}
				byPath[f.Path] = f.Data
			}
			for _, p := range want[lang] {
				if byPath[p] == nil {
					t.Errorf("no %s among %d files", p, len(files))
				}
			}
			m, err := manifest.Parse("plugin.toml", byPath["plugin.toml"])
			if err != nil {
				t.Fatal(err)
			}
			if m.Name != "my-plugin" || m.Version != Version || len(m.Hooks) != 1 || m.Hooks[0] != "greet" {
				t.Errorf("manifest: %s %s hooks %v", m.Name, m.Version, m.Hooks)
			}
			if lang != "python" && m.Build == nil {
				t.Errorf("no [build]")
			}
		})
	}
}

// A Go plugin requires this program's module at the version given, or
// says how to replace it when there is none.
func TestGoModule(t *testing.T) {
	for _, c := range []struct{ version, want, notWant string }{
		{"v1.2.3", "require github.com/airlock-go/airlock v1.2.3\n", "go mod edit -replace"},
		{DevelVersion, "go mod edit -replace github.com/airlock-go/airlock=/path/to/airlock", ""},
	} {
		files, err := Render(Options{Lang: "go", Name: "p", AirlockVersion: c.version})
		if err != nil {
			t.Fatal(err)
		}
		gomod := string(fileData(files, "go.mod"))
		if !strings.Contains(gomod, c.want) || c.notWant != "" && strings.Contains(gomod, c.notWant) {
			t.Errorf("version %s: go.mod:\n%s", c.version, gomod)
		}
		if !strings.HasPrefix(gomod, "module p\n\ngo "+goVersion+"\n") {
			t.Errorf("go.mod starts:\n%s", gomod)
		}
	}
	if v := ModuleVersion(); v != DevelVersion {
		t.Errorf("a test binary's module version is %s, want %s", v, DevelVersion)
	}
}

// The go line of a Go plugin's go.mod is the Airlock module's: a lower
// one is refused by the go command (the module requires its own).
func TestGoVersionIsTheModules(t *testing.T) {
	gomod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(gomod)
	if m == nil || string(m[1]) != goVersion {
		t.Errorf("go.mod says go %s, scaffold's goVersion is %s: keep them equal", m[1], goVersion)
	}
}

// The vendored SDKs are the repository's, byte for byte, and the
// versions the lock files name are theirs.
func TestVendoredSDKs(t *testing.T) {
	copies := map[string]map[string]string{
		"python":      {"airlock_plugin.py": "python/airlock_plugin.py"},
		"typescript":  {"vendor/airlock-plugin/index.js": "typescript/index.js", "vendor/airlock-plugin/index.d.ts": "typescript/index.d.ts"},
		"rust":        {"vendor/airlock-plugin/src/session.rs": "rust/src/session.rs"},
		"c-wasm":      {"vendor/airlock/airlock.c": "c/airlock.c", "vendor/airlock/airlock.h": "c/airlock.h"},
		"native-c":    {"vendor/airlock/airlock_native.h": "c/airlock_native.h", "vendor/airlock/airlock_json.c": "c/airlock_json.c", "vendor/airlock/airlock_json.h": "c/airlock_json.h"},
		"native-rust": {"vendor/airlock-native/src/lib.rs": "rust-native/src/lib.rs", "vendor/airlock-native/src/json.rs": "rust-native/src/json.rs"},
	}
	for lang, files := range copies {
		got, err := Render(Options{Lang: lang, Name: "p"})
		if err != nil {
			t.Fatal(err)
		}
		for to, from := range files {
			src, err := os.ReadFile(filepath.Join("../../sdk", from))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(fileData(got, to), src) {
				t.Errorf("%s: %s is not sdk/%s", lang, to, from)
			}
		}
	}

	var pkg struct{ Version string }
	src, _ := os.ReadFile("../../sdk/typescript/package.json")
	if err := json.Unmarshal(src, &pkg); err != nil {
		t.Fatal(err)
	}
	ts, _ := Render(Options{Lang: "typescript", Name: "p"})
	var lock struct {
		Packages map[string]struct{ Version, Resolved string }
	}
	if err := json.Unmarshal(fileData(ts, "package-lock.json"), &lock); err != nil {
		t.Fatal(err)
	}
	if sdkLock := lock.Packages["node_modules/@airlock-go/plugin"]; sdkLock.Version != pkg.Version || sdkLock.Resolved != "file:vendor/airlock-plugin" {
		t.Errorf("package-lock.json: the SDK is %+v, want version %s from file:vendor/airlock-plugin", sdkLock, pkg.Version)
	}

	var crate struct{ Package struct{ Version string } }
	if _, err := toml.DecodeFile("../../sdk/rust/Cargo.toml", &crate); err != nil {
		t.Fatal(err)
	}
	rs, _ := Render(Options{Lang: "rust", Name: "p"})
	var vendored struct {
		Package struct{ Name, Version string }
	}
	if err := toml.Unmarshal(fileData(rs, "vendor/airlock-plugin/Cargo.toml"), &vendored); err != nil {
		t.Fatal(err)
	}
	if vendored.Package.Name != "airlock-plugin" || vendored.Package.Version != crate.Package.Version {
		t.Errorf("vendored crate %+v, want airlock-plugin %s", vendored.Package, crate.Package.Version)
	}
	if !bytes.Contains(fileData(rs, "Cargo.lock"), []byte("name = \"airlock-plugin\"\nversion = \""+crate.Package.Version+"\"")) {
		t.Errorf("Cargo.lock does not lock airlock-plugin %s:\n%s", crate.Package.Version, fileData(rs, "Cargo.lock"))
	}
}

func fileData(files []File, p string) []byte {
	for _, f := range files {
		if f.Path == p {
			return f.Data
		}
	}
	return nil
}

// Names the manifest refuses, and languages there are not, are refused
// before anything is written, saying why.
func TestRenderRefuses(t *testing.T) {
	cases := []struct {
		lang, name string
		err        error
		says       string
	}{
		{"go", "", ErrInvalidName, "missing"},
		{"go", "Hello", ErrInvalidName, "lower-case"},
		{"go", "my_plugin", ErrInvalidName, "lower-case"},
		{"go", "a--b", ErrInvalidName, "single dashes"},
		{"go", "-a", ErrInvalidName, "lower-case"},
		{"go", "9lives", ErrInvalidName, "lower-case"},
		{"go", "../evil", ErrInvalidName, "lower-case"},
		{"go", "a/b", ErrInvalidName, "lower-case"},
		{"go", `a" = 1`, ErrInvalidName, "lower-case"},
		{"go", strings.Repeat("a", 65), ErrInvalidName, "at most 64"},
		{"gol", "p", ErrUnknownLanguage, `"gol" (did you mean "go"?): the languages are go, go-wasm, python, typescript, rust, c-wasm`},
		{"pyton", "p", ErrUnknownLanguage, `did you mean "python"?`},
		{"ts", "p", ErrUnknownLanguage, `did you mean "typescript"?`},
		{"c", "p", ErrUnknownLanguage, `did you mean "c-wasm"?`},
		{"Rust", "p", ErrUnknownLanguage, `did you mean "rust"?`},
		{"haskell", "p", ErrUnknownLanguage, `"haskell": the languages are`},
	}
	for _, c := range cases {
		_, err := Render(Options{Lang: c.lang, Name: c.name})
		if !errors.Is(err, c.err) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s %q: err = %v, want %v saying %q", c.lang, c.name, err, c.err, c.says)
		}
	}
	if _, err := Render(Options{Lang: "go", Name: strings.Repeat("a", 64)}); err != nil {
		t.Errorf("a 64-character name: %v", err)
	}
}

// New writes into a directory that does not exist or is empty, and
// refuses one that holds anything, touching nothing in it.
func TestNewDirectory(t *testing.T) {
	root := t.TempDir()
	fresh := filepath.Join(root, "a", "b")
	if _, err := New(fresh, Options{Lang: "python", Name: "p"}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(fresh, "main.py")); err != nil {
		t.Error(err)
	}
	empty := filepath.Join(root, "empty")
	os.Mkdir(empty, 0o755)
	if _, err := New(empty, Options{Lang: "c-wasm", Name: "p"}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(empty, "vendor", "airlock", "airlock.h")); err != nil {
		t.Error(err)
	}

	full := filepath.Join(root, "full")
	os.Mkdir(full, 0o755)
	os.WriteFile(filepath.Join(full, "plugin.toml"), []byte("mine"), 0o644)
	_, err := New(full, Options{Lang: "go", Name: "p"})
	if !errors.Is(err, ErrNotEmpty) || !strings.Contains(err.Error(), full) {
		t.Errorf("err = %v, want ErrNotEmpty naming %s", err, full)
	}
	entries, _ := os.ReadDir(full)
	if data, _ := os.ReadFile(filepath.Join(full, "plugin.toml")); len(entries) != 1 || string(data) != "mine" {
		t.Errorf("the directory was changed: %d entries, plugin.toml %q", len(entries), data)
	}

	// A file that appears while New writes is not overwritten, and what
	// New wrote is removed again.
	race := filepath.Join(root, "race")
	os.MkdirAll(filepath.Join(race, "src"), 0o755)
	files, _ := Render(Options{Lang: "typescript", Name: "p"})
	os.WriteFile(filepath.Join(race, "src", "main.ts"), []byte("theirs"), 0o644)
	if err := write(race, files); !errors.Is(err, os.ErrExist) {
		t.Errorf("write over an existing file: err = %v, want ErrExist", err)
	}
	if data, _ := os.ReadFile(filepath.Join(race, "src", "main.ts")); string(data) != "theirs" {
		t.Errorf("src/main.ts overwritten: %q", data)
	}
	if _, err := os.Stat(filepath.Join(race, "plugin.toml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("plugin.toml left behind after a failed write: %v", err)
	}
}
