package demo

import (
	"io"
	"testing"
	"time"

	"github.com/airlock-go/airlock/internal/tier"
)

// The reload step's caller makes hello-go log one line through a host
// call per greeting. Over hello-go's host call rate it has calls refused
// once the burst is spent, which a reload slower than that (a loaded
// machine) showed as hundreds of calls failed during the reload; over its
// log line rate the demo prints warnings. The pace stays within both, with
// the limits the demo configures for hello-go.
func TestReloadCallerWithinLimits(t *testing.T) {
	d := &demo{root: t.TempDir(), out: io.Discard}
	lim := tier.Limits{
		HostCallsPerSec: d.policy().Limits.HostCallsPerSecond,
		LogLinesPerSec:  d.policy().Limits.LogLinesPerSecond,
	}
	for _, pc := range d.config().Plugins {
		if pc.Path != d.plugin("hello-go") {
			continue
		}
		if n := pc.Limits.HostCallsPerSecond; n > 0 {
			lim.HostCallsPerSec = n
		}
		if n := pc.Limits.LogLinesPerSecond; n > 0 {
			lim.LogLinesPerSec = n
		}
	}
	lim = lim.WithDefaults()
	// A ticker may deliver one tick late and the next on time: two calls
	// more than the period allows in any second.
	perSecond := int(time.Second/reloadCallEvery) + 2
	for _, c := range []struct {
		name  string
		limit int
	}{
		{"host_calls_per_second", lim.HostCallsPerSec},
		{"log_lines_per_second", lim.LogLinesPerSec},
	} {
		if perSecond > c.limit {
			t.Errorf("the reload step's caller makes up to %d calls a second (one every %v), over hello-go's %s (%d)",
				perSecond, reloadCallEvery, c.name, c.limit)
		}
	}
}
