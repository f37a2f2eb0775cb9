// Package testutil builds test plugins from source and lays out plugin
// directories for tests. It is for tests only.
package testutil

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	mu       sync.Mutex
	buildDir string
	built    = map[string]string{}
)

// Root returns the module's root directory.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// GoBinary builds the Go main package at pkg (a directory relative to the
// module root) once per test process and returns the executable's path.
func GoBinary(t testing.TB, pkg string, env ...string) string {
	t.Helper()
	name := filepath.Base(pkg)
	if runtime.GOOS == "windows" {
		name += ".exe"
	}
	return buildOnce(t, "go:"+pkg+"\x00"+strings.Join(env, "\x00"), name, func(out string) *exec.Cmd {
		cmd := exec.Command("go", "build", "-o", out, "./"+filepath.ToSlash(pkg))
		cmd.Env = append(os.Environ(), env...)
		return cmd
	})
}

// Cleanup removes what GoBinary built; call it from TestMain.
func Cleanup() {
	mu.Lock()
	defer mu.Unlock()
	if buildDir != "" {
		os.RemoveAll(buildDir)
		buildDir, built = "", map[string]string{}
	}
}

// PluginDir makes a fresh plugin directory holding plugin.toml with the
// given text and, for each entry of files, a copy of the file at the
// source path under the destination name (relative to the directory).
func PluginDir(t testing.TB, manifest string, files map[string]string) string {
	t.Helper()
	dir := tempDir(t)
	if err := os.WriteFile(filepath.Join(dir, "plugin.toml"), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	for dst, src := range files {
		target := filepath.Join(dir, filepath.FromSlash(dst))
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := copyFile(src, target); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, st.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// tempDir is t.TempDir, except on Windows, where an executable stays locked
// for a moment after its process ends: there the directory is removed on a
// best-effort basis instead of failing the test.
func tempDir(t testing.TB) string {
	if runtime.GOOS != "windows" {
		return t.TempDir()
	}
	dir, err := os.MkdirTemp("", "airlock-plugin-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for range 20 {
			if os.RemoveAll(dir) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	return dir
}
