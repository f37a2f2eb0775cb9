package demo

import (
	"context"
	"encoding/json"
	"time"

	"github.com/airlock-go/airlock"
	"github.com/airlock-go/airlock/sdk/go/plugin"
)

// tickPeriod is the reminder's period in the demo, and its
// timer_min_period (the default, 1s, would make the step slow).
const tickPeriod = 100 * time.Millisecond

// reminder is a builtin that asks the host for a periodic callback: its
// function start calls timer.every, and the host then calls its function
// tick every period, which reports to the demo on ticks.
func reminder(ticks chan<- time.Time) airlock.Builtin {
	p := plugin.New("reminder", "0.1.0")
	plugin.Handle(p, "start", func(ctx context.Context, h *plugin.Host, in struct {
		PeriodMS int64 `json:"period_ms"`
	}) (json.RawMessage, error) {
		var id json.RawMessage
		err := h.Call(ctx, "timer.every", map[string]any{"period_ms": in.PeriodMS, "function": "tick"}, &id)
		return id, err
	})
	plugin.Handle(p, "tick", func(context.Context, *plugin.Host, any) (any, error) {
		select {
		case ticks <- time.Now():
		default:
		}
		return nil, nil
	})
	return airlock.Builtin{Plugin: p, Manifest: `
name = "reminder"
version = "0.1.0"
description = "Asks the host to call it back every period."
tier = "builtin"
protocol = 1
functions = ["start", "tick"]
[capabilities]
required = ["timer"]
`}
}

// timers loads the reminder, has it set a periodic timer (after a period
// under its limit is refused), watches the host call it, and unloads and
// loads it again: its timer ended with the instance that set it.
func (d *demo) timers(ctx context.Context, h *airlock.Host) error {
	pc := airlock.PluginConfig{Builtin: "reminder", Grants: []string{"timer"},
		Limits: airlock.Limits{TimerMinPeriod: airlock.Duration(tickPeriod)}}
	if _, err := h.Load(ctx, pc); err != nil {
		return err
	}
	_, err := h.Call(ctx, "reminder", "start", map[string]int64{"period_ms": 10})
	d.say("  reminder.start asks for timer.every 10ms → %v", err)
	start := time.Now()
	res, err := h.Call(ctx, "reminder", "start", map[string]int64{"period_ms": tickPeriod.Milliseconds()})
	if err != nil {
		return err
	}
	d.say("  reminder.start asks for timer.every %v → %s", tickPeriod, res)
	for i := 1; i <= 3; i++ {
		select {
		case t := <-d.ticks:
			d.say("    the host calls reminder.tick #%d at +%v", i, t.Sub(start).Round(10*time.Millisecond))
		case <-time.After(10 * tickPeriod):
			d.say("    no tick within %v", 10*tickPeriod)
		}
	}
	// Loaded again at once, the reminder is a new instance that has set no
	// timer: a tick now would be the old instance's timer outliving it.
	if err := h.Unload(ctx, "reminder"); err != nil {
		return err
	}
	unloaded := time.Now()
	if _, err := h.Load(ctx, pc); err != nil {
		return err
	}
	defer func() { _ = h.Unload(ctx, "reminder") }()
	time.Sleep(3 * tickPeriod)
	late := 0
	for len(d.ticks) > 0 {
		if t := <-d.ticks; t.After(unloaded) {
			late++
		}
	}
	d.say("  Unload(reminder), then load it again: %d ticks in the next %v. Its timer ended", late, 3*tickPeriod)
	d.say("  with the instance that set it, as on a crash and restart; each plugin holds at most timer_max.")
	return nil
}
