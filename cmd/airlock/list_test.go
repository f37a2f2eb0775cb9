package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airlock-go/airlock/internal/testutil"
)

// copyPlugin copies an example plugin's files (no subdirectories) into
// parent/name.
func copyPlugin(t *testing.T, example, parent, name string) string {
	t.Helper()
	src := filepath.Join(testutil.Root(), "examples", "plugins", example)
	dst := filepath.Join(parent, name)
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func TestList(t *testing.T) {
	plugins := t.TempDir()
	copyPlugin(t, "hello-python", plugins, "hello-python")
	copyPlugin(t, "hello-go", plugins, "hello-go") // not built: no bin/hello-go
	if err := os.MkdirAll(filepath.Join(plugins, "broken"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(plugins, "broken", "plugin.toml"), []byte("name = 'Bad Name'\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	code, stdout, stderr := run(t, "list", plugins)
	if code != 1 || !strings.Contains(stderr, "some plugins would not be loaded") {
		t.Errorf("exit %d, stderr:\n%s", code, stderr)
	}
	for _, want := range []string{
		"PLUGIN", "hello-python  0.1.0    process  no",
		"hello-python: required capabilities not granted: log",
		"hello-go: plugin could not start: entry bin/hello-go", // .exe on Windows
		"not found (build it first: airlock build",
		"broken: invalid manifest",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("list output lacks %q:\n%s", want, stdout)
		}
	}

	// Granted what it requires, by flag or by the host's configuration.
	code, stdout, stderr = run(t, "list", "--grant", "log", filepath.Join(plugins, "hello-python"))
	if code != 0 || !strings.Contains(stdout, "hello-python  0.1.0    process  yes") {
		t.Errorf("--grant log: exit %d\n%s%s", code, stdout, stderr)
	}
	hostTOML := filepath.Join(t.TempDir(), "host.toml")
	config := "[[plugin]]\npath = " + strconvQuote(filepath.Join(plugins, "hello-python")) + "\ngrants = [\"log\"]\n"
	if err := os.WriteFile(hostTOML, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = run(t, "list", "--json", "--config", hostTOML, plugins)
	var rows []listed
	if err := json.Unmarshal([]byte(stdout), &rows); err != nil || code != 1 {
		t.Fatalf("--json: exit %d, %v\n%s%s", code, err, stdout, stderr)
	}
	got := map[string]listed{}
	for _, r := range rows {
		got[filepath.Base(r.Location)] = r
	}
	if len(rows) != 3 || !got["hello-python"].Loadable || got["hello-go"].Loadable || got["broken"].Loadable || got["broken"].Name != "" ||
		!strings.Contains(got["hello-go"].Reason, "not found") {
		t.Errorf("rows = %+v", rows)
	}

	code, _, stderr = run(t, "list")
	if code != 2 || !strings.Contains(stderr, "want at least one directory") {
		t.Errorf("no directory: exit %d\n%s", code, stderr)
	}
	code, _, stderr = run(t, "list", filepath.Join(plugins, "nowhere"))
	if code != 1 || !strings.Contains(stderr, "nowhere") {
		t.Errorf("missing directory: exit %d\n%s", code, stderr)
	}
}
