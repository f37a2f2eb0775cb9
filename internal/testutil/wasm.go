package testutil

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// GoWasm builds the Go package at pkg (relative to the module root) as a
// wasip1 reactor module, once per test process, and returns its path.
func GoWasm(t testing.TB, pkg string) string {
	t.Helper()
	return buildOnce(t, "gowasm:"+pkg, filepath.Base(pkg)+".wasm", func(out string) *exec.Cmd {
		cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", out, "./"+filepath.ToSlash(pkg))
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
		return cmd
	})
}

// CWasm compiles C sources (relative to the module root) to a wasm32-wasi
// reactor module with clang, once per test process, and returns its path.
// Without clang it fails the test in CI and skips it elsewhere.
func CWasm(t testing.TB, name string, flags []string, sources ...string) string {
	t.Helper()
	if _, err := exec.LookPath("clang"); err != nil && os.Getenv("AIRLOCK_TEST_PREBUILT") == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("clang is required in CI (Debian: clang lld wasi-libc libclang-rt-dev-wasm32)")
		}
		t.Skip("clang not installed")
	}
	key := "cwasm:" + name + strings.Join(flags, " ") + strings.Join(sources, " ")
	return buildOnce(t, key, name+".wasm", func(out string) *exec.Cmd {
		args := append([]string{"--target=wasm32-wasi", "-O2", "-mbulk-memory", "-mexec-model=reactor", "-o", out}, flags...)
		return exec.Command("clang", append(args, sources...)...)
	})
}

// buildOnce runs the command make returns, in the module root, to build
// a file named like name, unless key was built already.
//
// With AIRLOCK_TEST_PREBUILT set to a directory, it returns the file called
// name there instead of building: for test binaries run where no Go
// toolchain is (Windows tests under wine, see .ci/windows-tests).
func buildOnce(t testing.TB, key, name string, make func(out string) *exec.Cmd) string {
	t.Helper()
	if dir := os.Getenv("AIRLOCK_TEST_PREBUILT"); dir != "" {
		path := filepath.Join(dir, name)
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("prebuilt %s: %v", name, err)
		}
		return path
	}
	mu.Lock()
	defer mu.Unlock()
	if bin, ok := built[key]; ok {
		return bin
	}
	if buildDir == "" {
		d, err := os.MkdirTemp("", "airlock-test-bin-")
		if err != nil {
			t.Fatal(err)
		}
		buildDir = d
	}
	ext := filepath.Ext(name)
	out := filepath.Join(buildDir, strings.TrimSuffix(name, ext)+"-"+strconv.Itoa(len(built))+ext)
	cmd := make(out)
	cmd.Dir = Root()
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", key, err, b)
	}
	built[key] = out
	return out
}
