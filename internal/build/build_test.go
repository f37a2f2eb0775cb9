//go:build unix

package build

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airlock-go/airlock/internal/manifest"
)

// plugin returns a manifest in a fresh directory whose [build] runs
// script under sh, with env added.
func plugin(t *testing.T, tier, script string, env ...string) *manifest.Manifest {
	t.Helper()
	m := &manifest.Manifest{Name: "brick", Tier: tier, Entry: "bin/brick", Dir: t.TempDir(), File: "plugin.toml"}
	if script != "" {
		m.Build = &manifest.Build{Command: []string{"sh", "-c", script}, Env: env}
	}
	return m
}

func TestRun(t *testing.T) {
	t.Setenv("AIRLOCK_BUILD_USER", "from-the-user")
	cases := []struct {
		name    string
		script  string
		env     []string
		wantErr string // empty: success
		wantOut string // in the build's output
		check   func(t *testing.T, dir string)
	}{
		{name: "builds the entry in the plugin's directory, with the user's and the manifest's env",
			script:  `mkdir -p bin && printf '%s %s %s' "$AIRLOCK_BUILD_USER" "$GREETING" "$(pwd)" > bin/brick`,
			env:     []string{"GREETING=hi"},
			wantOut: "airlock: building brick: sh -c",
			check: func(t *testing.T, dir string) {
				got, _ := os.ReadFile(filepath.Join(dir, "bin", "brick"))
				real, _ := filepath.EvalSymlinks(dir)
				if string(got) != "from-the-user hi "+real {
					t.Errorf("the build wrote %q, want the user's variable, the manifest's and the plugin's directory %s", got, real)
				}
			}},
		{name: "the manifest's env overrides the user's",
			script: `mkdir -p bin && printf '%s' "$AIRLOCK_BUILD_USER" > bin/brick`,
			env:    []string{"AIRLOCK_BUILD_USER=from-the-manifest"},
			check: func(t *testing.T, dir string) {
				if got, _ := os.ReadFile(filepath.Join(dir, "bin", "brick")); string(got) != "from-the-manifest" {
					t.Errorf("the build saw %q", got)
				}
			}},
		{name: "a failing build: its status, and its output passed on",
			script:  `echo compiling; echo 'main.go:3: syntax error' >&2; exit 3`,
			wantErr: "plugin brick: build failed: sh exited with status 3", wantOut: "main.go:3: syntax error"},
		{name: "a build that does not produce the entry",
			script: `true`, wantErr: "plugin brick: the build ran but did not produce the entry bin/brick"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := plugin(t, manifest.TierProcess, c.script, c.env...)
			var out bytes.Buffer
			err := Run(context.Background(), m, &out)
			if c.wantErr == "" && err != nil {
				t.Fatalf("Run: %v\n%s", err, out.String())
			}
			if c.wantErr != "" && (err == nil || err.Error() != c.wantErr) {
				t.Fatalf("Run = %v, want %q", err, c.wantErr)
			}
			if !strings.Contains(out.String(), c.wantOut) {
				t.Errorf("output %q does not contain %q", out.String(), c.wantOut)
			}
			if c.check != nil {
				c.check(t, m.Dir)
			}
		})
	}
}

func TestRunErrors(t *testing.T) {
	t.Run("no [build]", func(t *testing.T) {
		err := Run(context.Background(), plugin(t, manifest.TierProcess, ""), &bytes.Buffer{})
		if err == nil || err.Error() != "plugin brick: plugin.toml has no [build] command" {
			t.Errorf("Run = %v", err)
		}
	})
	t.Run("a command that does not exist", func(t *testing.T) {
		m := plugin(t, manifest.TierProcess, "")
		m.Build = &manifest.Build{Command: []string{"airlock-no-such-compiler"}}
		err := Run(context.Background(), m, &bytes.Buffer{})
		if !errors.Is(err, exec.ErrNotFound) || !strings.Contains(err.Error(), "plugin brick: build:") {
			t.Errorf("Run = %v, want exec.ErrNotFound naming the plugin", err)
		}
	})
	t.Run("context cancelled before the build", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := Run(ctx, plugin(t, manifest.TierProcess, "mkdir -p bin && touch bin/brick"), &bytes.Buffer{})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v, want context.Canceled", err)
		}
	})
}

// started is the build's output, and says when the build printed a line.
type started struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	once sync.Once
	ch   chan struct{}
}

func (s *started) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf.Write(p)
	if strings.Contains(s.buf.String(), "waiting\n") {
		s.once.Do(func() { close(s.ch) })
	}
	return len(p), nil
}

// A build cancelled while it runs is killed: Run returns, without waiting
// for the build to end.
func TestRunCancelled(t *testing.T) {
	m := plugin(t, manifest.TierProcess, "echo waiting; exec sleep 60")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &started{ch: make(chan struct{})}
	done := make(chan error, 1)
	go func() { done <- Run(ctx, m, out) }()
	select {
	case <-out.ch:
	case err := <-done:
		t.Fatalf("the build ended before it was cancelled: %v", err)
	}
	cancel()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "plugin brick: build failed") {
			t.Errorf("Run = %v, want the build's failure", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after its context was cancelled")
	}
}

func TestIfMissing(t *testing.T) {
	const build = "mkdir -p bin && echo built >> bin/brick"
	cases := []struct {
		name      string
		tier      string
		script    string
		entry     bool // the entry exists before
		wantBuilt bool
	}{
		{"missing entry: builds", manifest.TierProcess, build, false, true},
		{"entry present: no build", manifest.TierProcess, build, true, false},
		{"no [build]: nothing to do", manifest.TierProcess, "", false, false},
		{"builtin: never built", manifest.TierBuiltin, build, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := plugin(t, c.tier, c.script)
			entry := filepath.Join(m.Dir, "bin", "brick")
			if c.entry {
				if err := os.MkdirAll(filepath.Dir(entry), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(entry, []byte("old\n"), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			var out bytes.Buffer
			if err := IfMissing(context.Background(), m, &out); err != nil {
				t.Fatalf("IfMissing: %v", err)
			}
			got, _ := os.ReadFile(entry)
			if built := strings.Contains(string(got), "built"); built != c.wantBuilt {
				t.Errorf("built = %v (entry %q, output %q), want %v", built, got, out.String(), c.wantBuilt)
			}
			if !c.wantBuilt && out.Len() > 0 {
				t.Errorf("output %q from a build that should not run", out.String())
			}
		})
	}
	if EntryExists(plugin(t, manifest.TierProcess, "")) {
		t.Error("EntryExists in an empty directory")
	}
}
