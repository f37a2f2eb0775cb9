package wasm

import (
	"os"
	"path/filepath"
	"testing"
)

// missingPrebuilt reports whether the tests run on prebuilt modules
// (Windows tests under wine, AIRLOCK_TEST_PREBUILT) that do not include
// name: .ci/windows-tests lists the modules it builds.
func missingPrebuilt(name string) bool {
	dir := os.Getenv("AIRLOCK_TEST_PREBUILT")
	if dir == "" {
		return false
	}
	_, err := os.Stat(filepath.Join(dir, name))
	return err != nil
}

// needPrebuilt skips t, rather than failing it, where the prebuilt
// modules do not include name.
func needPrebuilt(t *testing.T, name string) {
	t.Helper()
	if missingPrebuilt(name) {
		t.Skipf("%s is not among the prebuilt modules", name)
	}
}
