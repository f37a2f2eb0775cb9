package sandbox

import (
	"bytes"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A plugin with a memory cap far below what the launcher (this test
// binary, race-built in CI) holds still starts, and runs held to the cap:
// the launcher sets RLIMIT_DATA only after its own last allocations, just
// before the exec. Set with the other limits, the launcher's next heap
// growth failed and the plugin never started ("sandbox launcher exited
// without a report").
func TestSmallMemoryCapHoldsThePluginNotTheLauncher(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatalf("no shell to confine: %v", err)
	}
	for _, mib := range []int64{1, 4, 16} {
		t.Run(fmt.Sprintf("%dMiB", mib), func(t *testing.T) {
			limit := mib << 20
			var out, errOut bytes.Buffer
			cmd := &exec.Cmd{Path: sh, Args: []string{"sh", "-c", "ulimit -d"}, Env: []string{}, Stdout: &out, Stderr: &errOut}
			l, err := Wrap(cmd, Policy{ReadOnly: []string{"/"}, Memory: limit})
			if err != nil {
				t.Fatal(err)
			}
			started, err := l.Start(cmd)
			if err != nil {
				l.Abort()
				t.Fatal(err)
			}
			rep, err := l.Started(10 * time.Second)
			werr := started.Wait()
			if err != nil {
				t.Fatalf("plugin under a %d MiB cap did not start: %v (stderr %q)", mib, err, errOut.String())
			}
			if werr != nil {
				t.Fatalf("plugin under a %d MiB cap: %v (stderr %q)", mib, werr, errOut.String())
			}
			if want := "RLIMIT_DATA=" + strconv.FormatInt(limit, 10); !slices.Contains(rep.Enforced, want) {
				t.Errorf("report %v does not list %s", rep.Enforced, want)
			}
			// ulimit -d prints KiB: the plugin itself is held to the cap.
			if got, want := strings.TrimSpace(out.String()), strconv.FormatInt(limit>>10, 10); got != want {
				t.Errorf("the plugin's data limit is %q KiB, want %s", got, want)
			}
		})
	}
}
