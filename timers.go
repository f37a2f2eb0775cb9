package airlock

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/airlock-go/airlock/protocol"
)

// timerMaxDelay bounds a delay or period, so that milliseconds never
// overflow a time.Duration.
const timerMaxDelay = 366 * 24 * time.Hour

// timerSched runs the plugins' timers (the "timer" capability): each is a
// goroutine that calls the plugin's function through Host.Call, so that a
// callback gets the call's normal deadline, limits and crash handling.
// Threat: a plugin making the host work for it without being called,
// without end. A plugin holds at most Limits.TimerMax timers, none firing
// more often than Limits.TimerMinPeriod, a periodic timer's runs never
// overlap, and every timer ends with the plugin instance that set it
// (unload, restart, disable, host close).
type timerSched struct {
	mu      sync.Mutex
	next    uint64
	plugins map[*loadedPlugin]map[string]*timer // by plugin, then id
	closed  bool
	wg      sync.WaitGroup
}

// timer is one timer of one plugin.
type timer struct {
	id     string
	p      *loadedPlugin
	fn     string
	input  json.RawMessage
	delay  time.Duration
	period time.Duration // 0: fires once
	ctx    context.Context
	cancel context.CancelFunc
}

func newTimerSched() *timerSched {
	return &timerSched{plugins: map[*loadedPlugin]map[string]*timer{}}
}

// TimerAfterInput is the input of the timer.after host function.
type TimerAfterInput struct {
	DelayMS  int64           `json:"delay_ms" jsonschema:"description=milliseconds from now; at least the plugin's timer_min_period"`
	Function string          `json:"function" jsonschema:"description=one of the functions of the plugin's manifest"`
	Input    json.RawMessage `json:"input,omitempty" jsonschema:"description=the function's input (default null)"`
}

// TimerEveryInput is the input of the timer.every host function.
type TimerEveryInput struct {
	PeriodMS int64           `json:"period_ms" jsonschema:"description=milliseconds between runs\\, the first one period from now; at least the plugin's timer_min_period"`
	Function string          `json:"function" jsonschema:"description=one of the functions of the plugin's manifest"`
	Input    json.RawMessage `json:"input,omitempty" jsonschema:"description=the function's input (default null)"`
}

// TimerID names one of a plugin's timers.
type TimerID struct {
	ID string `json:"id"`
}

type timerCancelOutput struct {
	Cancelled bool `json:"cancelled"`
}

func (s *timerSched) funcs() []Function {
	return []Function{
		NewFunc("timer.after", "timer", func(_ context.Context, c Caller, in TimerAfterInput) (TimerID, error) {
			return s.add(c, "timer.after", in.DelayMS, 0, in.Function, in.Input)
		}),
		NewFunc("timer.every", "timer", func(_ context.Context, c Caller, in TimerEveryInput) (TimerID, error) {
			return s.add(c, "timer.every", in.PeriodMS, in.PeriodMS, in.Function, in.Input)
		}),
		NewFunc("timer.cancel", "timer", func(_ context.Context, c Caller, in TimerID) (timerCancelOutput, error) {
			return timerCancelOutput{Cancelled: s.cancelOne(c.plugin, in.ID)}, nil
		}),
	}
}

// timerLimits returns the plugin's timer limits (Limits.TimerMax,
// Limits.TimerMinPeriod), with their defaults filled in at load.
func timerLimits(p *loadedPlugin) (maxTimers int, minPeriod time.Duration) {
	return p.spec.Limits.TimerMax, p.spec.Limits.TimerMinPeriod
}

// add checks a timer request against the manifest and the plugin's
// limits and starts the timer. The minimum applies to a one-shot delay
// too: a chain of one-shot timers is a periodic timer.
func (s *timerSched) add(c Caller, what string, delayMS, periodMS int64, fn string, input json.RawMessage) (TimerID, error) {
	p := c.plugin
	if !slices.Contains(p.manifest.Functions, fn) {
		return TimerID{}, protocol.Errorf(protocol.CodeInvalidParams, "%s: plugin %s: the manifest declares no function %q", what, p.name, fn)
	}
	maxTimers, minPeriod := timerLimits(p)
	delay := time.Duration(delayMS) * time.Millisecond
	if delayMS < minPeriod.Milliseconds() || delay > timerMaxDelay || delayMS > int64(timerMaxDelay/time.Millisecond) {
		return TimerID{}, protocol.Errorf(protocol.CodeInvalidParams, "%s: plugin %s: %d ms is under its timer_min_period (%v) or over a year", what, p.name, delayMS, minPeriod)
	}
	if len(input) == 0 {
		input = json.RawMessage("null")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// Checked under s.mu, after the state change that precedes every
	// cancelPlugin: a timer set by a plugin being stopped is refused here
	// or cancelled there, never left behind. (A plugin starting, or
	// restarting, may set timers from its initialisation.)
	if st := p.currentState(); s.closed || st == StateStopped || st == StateDisabled {
		return TimerID{}, protocol.Errorf(protocol.CodeFailed, "%s: plugin %s is stopping", what, p.name)
	}
	timers := s.plugins[p]
	if len(timers) >= maxTimers {
		return TimerID{}, protocol.Errorf(protocol.CodeFailed, "%s: plugin %s: holds %d timers, its timer_max limit: cancel some first", what, p.name, len(timers))
	}
	if timers == nil {
		timers = map[string]*timer{}
		s.plugins[p] = timers
	}
	s.next++
	ctx, cancel := context.WithCancel(context.Background())
	t := &timer{id: "t" + strconv.FormatUint(s.next, 10), p: p, fn: fn, input: input, delay: delay,
		period: time.Duration(periodMS) * time.Millisecond, ctx: ctx, cancel: cancel}
	timers[t.id] = t
	s.wg.Add(1)
	go s.run(t)
	return TimerID{ID: t.id}, nil
}

// cancelOne cancels one of p's timers; another plugin's id is unknown.
func (s *timerSched) cancelOne(p *loadedPlugin, id string) bool {
	s.mu.Lock()
	t := s.plugins[p][id]
	s.mu.Unlock()
	if t == nil {
		return false
	}
	t.cancel()
	s.forget(t)
	return true
}

// cancelPlugin cancels all of p's timers: it unloads, restarts after a
// crash, is disabled, or the host closes. It does not wait for a callback
// in progress, which ends with the instance it runs on.
func (s *timerSched) cancelPlugin(p *loadedPlugin) {
	s.mu.Lock()
	timers := s.plugins[p]
	delete(s.plugins, p)
	s.mu.Unlock()
	for _, t := range timers {
		t.cancel()
	}
	if len(timers) > 0 {
		p.log.Info("plugin timers cancelled", "timers", len(timers))
	}
}

// close cancels every timer, refuses new ones, and waits for the timers'
// goroutines to end.
func (s *timerSched) close() {
	s.mu.Lock()
	s.closed = true
	var all []*timer
	for _, timers := range s.plugins {
		for _, t := range timers {
			all = append(all, t)
		}
	}
	s.plugins = map[*loadedPlugin]map[string]*timer{}
	s.mu.Unlock()
	for _, t := range all {
		t.cancel()
	}
	s.wg.Wait()
}

func (s *timerSched) forget(t *timer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if timers := s.plugins[t.p]; timers[t.id] == t {
		delete(timers, t.id)
		if len(timers) == 0 {
			delete(s.plugins, t.p)
		}
	}
}

// run waits out the timer's delay and fires it, once or every period. A
// periodic run that is still going when the next is due makes that one
// skipped (and logged), never run beside it.
func (s *timerSched) run(t *timer) {
	defer s.wg.Done()
	defer t.cancel()
	defer s.forget(t)
	wait := time.NewTimer(t.delay)
	defer wait.Stop()
	select {
	case <-t.ctx.Done():
		return
	case <-wait.C:
	}
	if t.period == 0 {
		s.fire(t)
		return
	}
	tick := time.NewTicker(t.period)
	defer tick.Stop()
	var running atomic.Bool
	var runs sync.WaitGroup
	defer runs.Wait()
	for {
		if running.CompareAndSwap(false, true) {
			runs.Go(func() {
				defer running.Store(false)
				s.fire(t)
			})
		} else {
			t.p.log.Warn("timer run skipped: the previous run is still going", "timer", t.id, "function", t.fn, "period", t.period)
		}
		select {
		case <-t.ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// fire calls the timer's function as Host.Call does, with the call's
// normal deadline and limits, if the plugin that set it is still the one
// loaded under its name and running.
func (s *timerSched) fire(t *timer) {
	p := t.p
	if p.currentState() == StateDisabled {
		p.log.Warn("plugin is disabled: its timers are stopped")
		s.cancelPlugin(p)
		return
	}
	if cur, err := p.host.lookup(p.name); err != nil || cur != p {
		t.cancel()
		return
	}
	_, err := p.host.Call(t.ctx, p.name, t.fn, t.input)
	if err != nil && t.ctx.Err() == nil {
		p.log.Error("timer callback failed", "timer", t.id, "function", t.fn, "error", errForLog(err, p.spec.Limits.MaxLogLine))
	}
}

// currentState returns the plugin's state.
func (p *loadedPlugin) currentState() State {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state
}
