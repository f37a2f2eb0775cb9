//go:build linux

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airlock-go/airlock/internal/testutil"
)

// airlock check runs a native library as a host would contain it: loaded
// in a confined child that serves it over the protocol, so the whole suite
// applies, and a library that crashes costs the check, not the checker.
func TestCheckNative(t *testing.T) {
	cc := needTool(t, "cc", "builds the native example")
	lib := filepath.Join(t.TempDir(), "libhello-native-c.so")
	build := exec.Command(cc, "-shared", "-fPIC", "-O2", "-fvisibility=hidden", "-I", "sdk/c", "-o", lib,
		"examples/plugins/hello-native-c/hello.c", "sdk/c/airlock_json.c", "-lm")
	build.Dir = testutil.Root()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("cc: %v\n%s", err, out)
	}
	manifest, err := os.ReadFile(filepath.Join(testutil.Root(), "examples/plugins/hello-native-c/plugin.toml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := testutil.PluginDir(t, string(manifest), map[string]string{"bin/libhello-native-c.so": lib})
	code, stdout, stderr := run(t, "check", dir, "--sample", `greet={"name":"ada"}`)
	if code != 0 || !strings.Contains(stdout, "11 passed, 0 failed, 0 skipped: conforms") {
		t.Errorf("exit %d\n%s\n%s", code, stdout, stderr)
	}
}
