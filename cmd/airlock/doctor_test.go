package main

import (
	"encoding/json"
	"runtime"
	"strings"
	"testing"
)

// doctor starts a real confined probe; on Linux it must report the layers
// the launcher applied, on Windows that there is no launcher.
func TestDoctor(t *testing.T) {
	code, out, errOut := run(t, "doctor", "--json")
	if code != 0 {
		t.Fatalf("doctor exited %d: %s", code, errOut)
	}
	var d diagnosis
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("doctor --json: %v\n%s", err, out)
	}
	if d.ProbeError != "" {
		t.Fatalf("the probe failed: %s", d.ProbeError)
	}
	enforced := strings.Join(d.Plugin.Enforced, "\n")
	switch runtime.GOOS {
	case "linux":
		for _, want := range []string{"seccomp(native ABI only", "no_new_privs", "RLIMIT_NOFILE"} {
			if !strings.Contains(enforced, want) {
				t.Errorf("doctor's plugin layers lack %q:\n%s", want, enforced)
			}
		}
		if d.Facts.LandlockABI > 0 && !strings.Contains(enforced, "landlock-fs") {
			t.Errorf("Landlock ABI %d, but the probe was not confined by it:\n%s", d.Facts.LandlockABI, enforced)
		}
		if d.NamespaceFallback == "" && !strings.Contains(enforced, "namespaces(") {
			t.Errorf("neither namespaces nor a reason for their absence:\n%+v", d)
		}
	case "windows":
		if d.Facts.Launcher || len(d.Plugin.Missing) == 0 {
			t.Errorf("Windows: %+v; want no launcher and what is missing said", d)
		}
	}
	code, out, _ = run(t, "doctor")
	if code != 0 || !strings.Contains(out, "A process plugin with no grants gets:") && !strings.Contains(out, "launcher:") {
		t.Errorf("doctor: %d\n%s", code, out)
	}
}
