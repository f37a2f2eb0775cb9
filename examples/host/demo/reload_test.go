package demo

import (
	"io"
	"testing"
	"time"
)

// The reload step's caller makes hello-go log one line through a host
// call per greeting. Over hello-go's host call rate it has calls refused
// once the burst is spent, which a reload slower than that (a loaded
// machine) showed as hundreds of calls failed during the reload; over its
// log line rate the demo prints warnings. The pace stays within both, with
// the limits the demo configures for hello-go.
func TestReloadCallerWithinLimits(t *testing.T) {
	d := &demo{root: t.TempDir(), out: io.Discard}
	hostCalls, logLines := d.policy().Limits.HostCallsPerSecond, d.policy().Limits.LogLinesPerSecond
	for _, conf := range d.config().Plugins {
		if conf.Path != d.plugin("hello-go") {
			continue
		}
		if n := conf.Limits.HostCallsPerSecond; n > 0 {
			hostCalls = n
		}
		if n := conf.Limits.LogLinesPerSecond; n > 0 {
			logLines = n
		}
	}
	// A ticker may deliver one tick late and the next on time: two calls
	// more than the period allows in any second.
	perSecond := int(time.Second/reloadCallEvery) + 2
	for _, c := range []struct {
		name  string
		limit int
	}{
		{"host_calls_per_second", hostCalls},
		{"log_lines_per_second", logLines},
	} {
		if c.limit <= 0 {
			t.Errorf("the demo's policy does not say %s: set it, so that this test knows the pace to keep under", c.name)
		}
		if perSecond > c.limit {
			t.Errorf("the reload step's caller makes up to %d calls a second (one every %v), over hello-go's %s (%d)",
				perSecond, reloadCallEvery, c.name, c.limit)
		}
	}
}
