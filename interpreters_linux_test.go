package airlock_test

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airlock-go/airlock"
	"github.com/airlock-go/airlock/internal/testutil"
)

// TestInterpreters starts a tiny plugin in each common interpreter, each
// speaking the protocol without an SDK (testdata/plugins/interp), with a
// real host and the Linux sandbox on as configured by default: no grants
// at all, so the interpreter reads only the sandbox's default read set, its
// own installation prefix and the plugin's directory. It runs with the
// namespace layer and without it, and (in CI) as root and as an
// unprivileged user (.ci/unprivileged). A path missing from the default
// read set makes the interpreter die at start; docs/PLATFORMS.md lists what
// each one reads.
func TestInterpreters(t *testing.T) {
	root := testutil.Root()
	cases := []struct {
		lang  string
		needs []string // programs the interpreter needs on the host
	}{
		{"python", []string{"python3"}},
		{"node", []string{"node"}},
		// Main.java runs from source (java Main.java): the JDK's compiler
		// module, which javac stands for, must be installed.
		{"java", []string{"java", "javac"}},
		{"ruby", []string{"ruby"}},
		{"perl", []string{"perl"}},
	}
	modes := []struct {
		name       string
		namespaces bool
	}{{"namespaces", true}, {"filter-only", false}}
	for _, c := range cases {
		t.Run(c.lang, func(t *testing.T) {
			for _, p := range c.needs {
				requireProgram(t, p)
			}
			if c.lang == "perl" {
				// Debian's perl-base has the interpreter without its core
				// modules (JSON::PP is in the perl package).
				if err := exec.Command("perl", "-MJSON::PP", "-e", "1").Run(); err != nil {
					requireProgram(t, "perl with JSON::PP (Debian: apt-get install perl)")
				}
			}
			for _, mode := range modes {
				t.Run(mode.name, func(t *testing.T) {
					t.Parallel()
					h, rec := newHost(t, airlock.Options{})
					ns := mode.namespaces
					load(t, h, airlock.PluginConfig{Path: filepath.Join(root, "testdata/plugins/interp", c.lang), Namespaces: &ns})
					out, err := airlock.CallFunc[map[string]any](ctxT(t, 30*time.Second), h, "interp-"+c.lang, "greet", map[string]string{"name": "ada"})
					if err != nil {
						t.Fatalf("greet: %v\nhost log:\n%s", err, rec)
					}
					if in, _ := out["input"].(map[string]any); out["lang"] != c.lang || in["name"] != "ada" {
						t.Errorf("greet = %v, want lang %s and the input back", out, c.lang)
					}
					// The sandbox really confined it: the file system rules
					// and the system call filter were applied.
					applied := ""
					for _, line := range strings.Split(rec.String(), "\n") {
						if strings.Contains(line, `msg="sandbox`) && strings.Contains(line, "plugin=interp-"+c.lang) {
							applied = line
						}
					}
					if !strings.Contains(applied, "seccomp") || (mode.namespaces && !strings.Contains(applied, "namespaces(")) {
						t.Errorf("no sandbox with seccomp (and namespaces: %v) in the host's log: %q\n%s", mode.namespaces, applied, rec)
					}
				})
			}
		})
	}
}
