package demo

import (
	"bytes"
	"runtime"
	"strings"
	"testing"
)

// Without a C compiler the native step is skipped and says why; it does
// not fail the demo. (cmd/airlock's TestDemo runs the step itself.)
func TestNativeSkipped(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the native example is not built by the demo on Windows")
	}
	t.Setenv("PATH", t.TempDir())
	why := nativeSkip()
	if why != "no C compiler (cc) found" {
		t.Fatalf("nativeSkip() = %q with an empty PATH", why)
	}
	var out bytes.Buffer
	d := &demo{out: &out, nativeSkipped: why}
	if err := d.native(t.Context(), nil); err != nil {
		t.Fatalf("native step failed instead of being skipped: %v", err)
	}
	if want := "(skipped: no C compiler (cc) found)"; !strings.Contains(out.String(), want) {
		t.Errorf("the step says %q, want %q", out.String(), want)
	}
}
