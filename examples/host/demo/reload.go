package demo

import (
	"context"
	"time"

	"github.com/airlock-go/airlock"
)

// reloadCallEvery paces the caller of the reload step. hello-go logs each
// greeting through the log host function, and a plugin may make only so
// many host calls (host_calls_per_second, 1000 by default, with as many in
// a burst) and log so many lines (log_lines_per_second, 200) a second. A
// caller without pause outran the first once its burst was spent: on a
// loaded machine, where starting the new instance took over a second, the
// step reported hundreds of calls failed, refused for their rate rather
// than dropped by the reload. This pace stays within both limits however
// long the reload takes (TestReloadCallerWithinLimits).
const reloadCallEvery = 6 * time.Millisecond

// reload changes hello-go's greeting with Host.Reload while a caller keeps
// calling it: the new instance starts before the old one stops taking
// calls, and no call fails.
func (d *demo) reload(ctx context.Context, h *airlock.Host) error {
	before, _ := h.Plugin("hello-go")
	stop := make(chan struct{})
	done := make(chan callCount)
	go func() { done <- greetUntil(ctx, h, stop) }()
	cfg := d.config()
	for i := range cfg.Plugins {
		if cfg.Plugins[i].Path == d.plugin("hello-go") {
			cfg.Plugins[i].Config = map[string]any{"greeting": "welcome"}
		}
	}
	cfg.Limits, cfg.Restart = d.policy().Limits, d.policy().Restart
	err := h.Reload(ctx, cfg)
	close(stop)
	n := <-done
	if err != nil {
		d.say("  reload → %v", err)
	}
	after, _ := h.Plugin("hello-go")
	out, err := Greet.Run(ctx, h, GreetInput{Name: "ada"})
	d.say("  Reload(host.toml with hello-go's greeting changed): hello-go pid %d → %d", before.PID, after.PID)
	d.say("  greet(\"ada\") → %q, err=%v", out.Message, err)
	d.say("  A caller sent hello-go.greet every %v (within its host call and log rates).", reloadCallEvery)
	d.say("  %d calls ran during the reload, %d failed: the new instance started and", n.calls, n.failed)
	d.say("  answered its handshake before the old one stopped taking calls.")
	if n.first != nil {
		d.say("  The first call that failed: %v", n.first)
	}
	return nil
}

// callCount is what a caller saw: its calls, those that failed and the
// first error.
type callCount struct {
	calls, failed int
	first         error
}

// greetUntil calls hello-go's greet every reloadCallEvery until stop is
// closed.
func greetUntil(ctx context.Context, h *airlock.Host, stop <-chan struct{}) callCount {
	var n callCount
	tick := time.NewTicker(reloadCallEvery)
	defer tick.Stop()
	for {
		n.calls++
		if _, err := airlock.CallFunc[GreetOutput](ctx, h, "hello-go", "greet", GreetInput{Name: "ada"}); err != nil {
			n.failed++
			if n.first == nil {
				n.first = err
			}
		}
		select {
		case <-stop:
			return n
		case <-ctx.Done():
			return n
		case <-tick.C:
		}
	}
}
