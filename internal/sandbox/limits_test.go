//go:build linux || darwin

package sandbox

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// The limits the launcher sets, on Linux and (with dataEnforced false) on
// macOS, where the same code runs.
func TestLimits(t *testing.T) {
	cases := []struct {
		name         string
		p            Policy
		dataEnforced bool
		want         []string
	}{
		{"defaults", Policy{}, true,
			[]string{"RLIMIT_CORE=0", "RLIMIT_NOFILE=256", fmt.Sprintf("RLIMIT_FSIZE=%d", DefaultFileSize)}},
		{"everything set", Policy{Memory: 1 << 30, Files: 64, FileSize: 1 << 20, CPU: 90 * time.Second, Processes: 16}, true,
			[]string{"RLIMIT_CORE=0", "RLIMIT_NOFILE=64", "RLIMIT_FSIZE=1048576", "RLIMIT_DATA=1073741824", "RLIMIT_CPU=90", "RLIMIT_NPROC=16"}},
		{"macOS: no data limit", Policy{Memory: 1 << 30}, false,
			[]string{"RLIMIT_CORE=0", "RLIMIT_NOFILE=256", fmt.Sprintf("RLIMIT_FSIZE=%d", DefaultFileSize)}},
		{"CPU under a second is no limit", Policy{CPU: 500 * time.Millisecond}, true,
			[]string{"RLIMIT_CORE=0", "RLIMIT_NOFILE=256", fmt.Sprintf("RLIMIT_FSIZE=%d", DefaultFileSize)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got []string
			for _, l := range limits(c.p, c.dataEnforced) {
				got = append(got, fmt.Sprintf("%s=%d", l.name, l.value))
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("limits = %q, want %q", got, c.want)
			}
		})
	}
}
