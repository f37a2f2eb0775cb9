package airlock_test

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/airlock-go/airlock"
)

// impostor is what an attacker puts in a run directory: it would print a
// marker to its standard error (the host's log) and exit.
const impostor = "#!/bin/sh\necho IMPOSTOR-RAN >&2\nexit 9\n"

// Every start of a verified package's process plugin runs exactly the
// verified bytes, whatever was done to the directory the previous instance
// ran from: it is unpacked afresh, from the bytes held in memory, at every
// start and restart.
func TestRestartRunsVerifiedBytes(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the impostor is a shell script")
	}
	acme := newPublisher(t, "acme")
	pkg := packAndSign(t, testPlugin(t), acme)
	cases := []struct {
		name string
		swap func(t *testing.T, dir string)
	}{
		{"entry replaced", func(t *testing.T, dir string) {
			entry := filepath.Join(dir, "bin", "testplugin")
			os.Chmod(filepath.Dir(entry), 0o755)
			if err := os.Remove(entry); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(entry, []byte(impostor), 0o755); err != nil {
				t.Fatal(err)
			}
		}},
		{"directory replaced", func(t *testing.T, dir string) {
			if err := os.Rename(dir, dir+".moved"); err != nil {
				t.Fatal(err)
			}
			os.MkdirAll(filepath.Join(dir, "bin"), 0o755)
			manifest, _ := os.ReadFile(filepath.Join(dir+".moved", "plugin.toml"))
			os.WriteFile(filepath.Join(dir, "plugin.toml"), manifest, 0o644)
			if err := os.WriteFile(filepath.Join(dir, "bin", "testplugin"), []byte(impostor), 0o755); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h, rec := newHostWith(t, airlock.Config{Trust: airlock.Trust{Keys: []string{acme.pub}}, Restart: airlock.RestartPolicy{Backoff: airlock.Duration(10 * time.Millisecond)}},
				airlock.Options{RunDir: filepath.Join(t.TempDir(), "run")})
			load(t, h, airlock.PluginConfig{Package: pkg})
			ctx := ctxT(t, 30*time.Second)
			first, _ := h.Plugin("testplugin")
			if first.Dir == "" {
				t.Fatal("no run directory")
			}
			c.swap(t, first.Dir)
			if _, err := h.Call(ctx, "testplugin", "crash", nil); !errors.Is(err, airlock.ErrPluginCrashed) {
				t.Fatalf("crash: %v", err)
			}
			out, err := airlock.CallFunc[string](ctx, h, "testplugin", "echo", "verified")
			if err != nil || out != "verified" {
				t.Errorf("after the swap and a restart: %q, %v", out, err)
			}
			if strings.Contains(rec.String(), "IMPOSTOR-RAN") {
				t.Error("the swapped code ran")
			}
			info, _ := h.Plugin("testplugin")
			if info.Restarts != 1 || info.Dir == first.Dir || info.Dir == "" {
				t.Errorf("after the restart: %d restarts, directory %q (first %q)", info.Restarts, info.Dir, first.Dir)
			}
			if _, err := os.Stat(first.Dir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the previous instance's directory is still there: %v", err)
			}
		})
	}
}

// A directory above the run directory that others could write to (and so
// swap what is below it) stops the restart instead of running from it.
func TestRestartRefusesUnsafeRunDirectory(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows has ACLs, not modes")
	}
	acme := newPublisher(t, "acme")
	pkg := packAndSign(t, testPlugin(t), acme)
	shared := filepath.Join(t.TempDir(), "shared")
	h, rec := newHostWith(t, airlock.Config{Trust: airlock.Trust{Keys: []string{acme.pub}},
		Restart: airlock.RestartPolicy{Backoff: airlock.Duration(10 * time.Millisecond), MaxCrashes: 2}}, airlock.Options{RunDir: filepath.Join(shared, "run")})
	load(t, h, airlock.PluginConfig{Package: pkg})
	ctx := ctxT(t, 30*time.Second)
	if err := os.Chmod(shared, 0o777); err != nil {
		t.Fatal(err)
	}
	h.Call(ctx, "testplugin", "crash", nil)
	waitFor(t, func() bool { info, _ := h.Plugin("testplugin"); return info.State == "disabled" }, "the plugin disabled")
	if !strings.Contains(rec.String(), shared+" is writable by others") {
		t.Errorf("the log does not say why the restart failed:\n%s", rec)
	}
}
