package wasm

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/airlock-go/airlock/internal/tier"
)

// maxInstances bounds the instances of one plugin: one per concurrent
// call, up to this many (a Go-built module takes about 16 MiB each). All
// of them together stay within the plugin's memory budget.
const maxInstances = 16

// idleTimeout is how long an idle instance beyond the first is kept for
// the next call before it is closed and its memory returned to the
// budget. A variable for the tests.
var idleTimeout = 30 * time.Second

// pool holds one plugin's instances: each serves one call at a time
// (wazero instances are not safe for concurrent use). Idle instances are
// kept most recently used last, so that the ones a quieter load no
// longer needs age at the front and are closed after idleTimeout, counted
// from when they were first idle beside another; the most recently used
// one is kept however long it idles, so that a plugin called now and
// then does not initialize an instance each time.
type pool struct {
	mu      sync.Mutex
	idle    []*instance
	calls   int           // calls holding a slot (at most Limits.MaxInflight)
	count   int           // instances alive: idle, busy or being created
	changed chan struct{} // closed (and replaced) when an instance is returned or closed
	awaited bool          // changed was handed to a waiter since it was made
	reaper  *time.Timer
	ttl     time.Duration
}

// get takes an idle instance, or creates one if the pool is under its
// bound and the memory budget can hold one more, or waits for either
// within ctx (the call's context, whose deadline also bounds creating
// the instance).
func (p *plugin) get(ctx context.Context) (*instance, error) {
	for {
		inst, create, wait := p.take()
		switch {
		case inst != nil:
			return inst, nil
		case create:
			inst, _, err := p.newInstance(ctx)
			if err != nil {
				p.forget()
				return nil, err
			}
			return inst, nil
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: waiting for a free instance (%d alive, memory %d of %d bytes in use)", tier.ErrDeadline, p.alive(), p.mem.inUse(), p.mem.limit)
		case <-p.done:
			return nil, tier.ErrStopped
		}
	}
}

// takeFast takes a slot and an idle instance, if both are free, under
// one lock (the common case: a slot held by a channel cost two channel
// operations a call).
func (p *plugin) takeFast() *instance {
	p.pool.mu.Lock()
	defer p.pool.mu.Unlock()
	if p.pool.calls >= p.spec.Limits.MaxInflight || p.stopping.Load() {
		return nil
	}
	inst := p.popIdle()
	if inst != nil {
		p.pool.calls++
	}
	return inst
}

// takeSlot takes one of the slots that bound the calls in flight,
// waiting for one while ctx allows.
func (p *plugin) takeSlot(ctx context.Context) error {
	for {
		p.pool.mu.Lock()
		if p.stopping.Load() {
			p.pool.mu.Unlock()
			return tier.ErrStopped
		}
		if p.pool.calls < p.spec.Limits.MaxInflight {
			p.pool.calls++
			p.pool.mu.Unlock()
			return nil
		}
		p.pool.awaited = true
		wait := p.pool.changed
		p.pool.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return fmt.Errorf("%w: waiting for a free slot (%d calls in flight)", tier.ErrDeadline, p.spec.Limits.MaxInflight)
		case <-p.done:
			return tier.ErrStopped
		}
	}
}

// releaseSlot gives back a call's slot.
func (p *plugin) releaseSlot() {
	p.pool.mu.Lock()
	p.pool.calls--
	p.signal()
	p.pool.mu.Unlock()
}

// release gives back a call's instance, as put does, and its slot.
func (p *plugin) release(inst *instance, broken bool) {
	if broken || p.stopping.Load() {
		p.discard(inst)
		p.releaseSlot()
		return
	}
	p.pool.mu.Lock()
	p.pool.calls--
	p.addIdle(inst)
	p.pool.mu.Unlock()
}

// getBy takes an idle instance, or gets one (get) under a state of its
// own that ends at due (since p.epoch) or with ctx.
func (p *plugin) getBy(ctx context.Context, due time.Duration) (*instance, error) {
	if inst := p.takeIdle(); inst != nil {
		return inst, nil
	}
	var wait callState
	wait.begin(ctx, &p.watch, p.epoch, due)
	defer wait.end()
	return p.get(&wait)
}

// takeIdle pops the most recently used idle instance, if any.
func (p *plugin) takeIdle() *instance {
	p.pool.mu.Lock()
	defer p.pool.mu.Unlock()
	return p.popIdle()
}

// popIdle pops the most recently used idle instance, if any. p.pool.mu
// is held.
func (p *plugin) popIdle() *instance {
	n := len(p.pool.idle)
	if n == 0 {
		return nil
	}
	inst := p.pool.idle[n-1]
	p.pool.idle = p.pool.idle[:n-1]
	return inst
}

// take pops the most recently used idle instance; failing that it
// reserves what a new instance is charged (instanceBytes) and counts it
// (create); or it returns what to wait on.
func (p *plugin) take() (inst *instance, create bool, wait <-chan struct{}) {
	p.pool.mu.Lock()
	defer p.pool.mu.Unlock()
	if inst := p.popIdle(); inst != nil {
		return inst, false, nil
	}
	if p.pool.count < min(maxInstances, p.spec.Limits.MaxInflight) && p.mem.reserve(p.instanceBytes()) {
		p.pool.count++
		return nil, true, nil
	}
	p.pool.awaited = true
	return nil, false, p.pool.changed
}

// forget uncounts an instance whose creation failed (its memory was
// released by newInstance).
func (p *plugin) forget() {
	p.pool.mu.Lock()
	p.pool.count--
	p.signal()
	p.pool.mu.Unlock()
}

// signal wakes the callers waiting for an instance or a slot. p.pool.mu
// is held.
func (p *plugin) signal() {
	if !p.pool.awaited {
		return // no one waits on it: a call returning its instance makes no channel
	}
	close(p.pool.changed)
	p.pool.changed = make(chan struct{})
	p.pool.awaited = false
}

func (p *plugin) alive() int {
	p.pool.mu.Lock()
	defer p.pool.mu.Unlock()
	return p.pool.count
}

// put returns an instance to the pool, or discards a broken one.
func (p *plugin) put(inst *instance, broken bool) {
	if broken || p.stopping.Load() {
		p.discard(inst)
		return
	}
	p.pool.mu.Lock()
	p.addIdle(inst)
	p.pool.mu.Unlock()
}

// addIdle adds inst to the idle instances. p.pool.mu is held.
func (p *plugin) addIdle(inst *instance) {
	// An instance idle alone is the one kept however long it idles: its
	// time is counted from when another joins it, and the clock is read
	// only then (a call's path with one caller reads it once, at the
	// start: a clock read is a tenth of a small call's own cost).
	if len(p.pool.idle) == 0 {
		inst.idleSince = idleAlone
	} else {
		now := time.Since(p.epoch)
		if first := p.pool.idle[0]; first.idleSince == idleAlone {
			first.idleSince = now
		}
		inst.idleSince = now
	}
	p.pool.idle = append(p.pool.idle, inst)
	p.signal()
	p.armReaper()
}

// idleAlone is the idleSince of an instance that has idled alone since it
// was returned (only ever the first of p.pool.idle, the only one). Never
// below a reaper's cutoff.
const idleAlone = time.Duration(math.MaxInt64)

// discard closes an instance, returning its memory to the budget.
func (p *plugin) discard(inst *instance) {
	inst.close()
	p.pool.mu.Lock()
	p.pool.count--
	p.signal()
	p.pool.mu.Unlock()
}

// armReaper makes sure idle instances beyond the first are looked at
// when the oldest of them has idled for the pool's ttl. p.pool.mu is
// held.
func (p *plugin) armReaper() {
	if len(p.pool.idle) < 2 || p.pool.reaper != nil {
		return
	}
	due := p.pool.idle[0].idleSince + p.pool.ttl - time.Since(p.epoch)
	p.pool.reaper = time.AfterFunc(max(due, 0), p.reap)
}

// reap closes the instances beyond the most recently used one that have
// idled for the pool's ttl.
func (p *plugin) reap() {
	p.pool.mu.Lock()
	p.pool.reaper = nil
	var old []*instance
	cutoff := time.Since(p.epoch) - p.pool.ttl
	for len(p.pool.idle) > 1 && p.pool.idle[0].idleSince <= cutoff {
		old = append(old, p.pool.idle[0])
		p.pool.idle = p.pool.idle[1:]
	}
	select {
	case <-p.done:
	default:
		p.armReaper()
	}
	p.pool.mu.Unlock()
	for _, inst := range old {
		p.discard(inst)
	}
}

// evictIdle closes every idle instance, for a busy one whose memory must
// grow and does not fit the budget otherwise: an idle instance holds no
// state a call needs (docs/ABI.md: instances may be replaced at any
// time).
func (p *plugin) evictIdle() {
	p.pool.mu.Lock()
	old := p.pool.idle
	p.pool.idle = nil
	p.pool.mu.Unlock()
	for _, inst := range old {
		p.discard(inst)
	}
}

// closePool closes the idle instances and stops the reaper, once the
// plugin is stopping (busy instances are discarded as their calls end).
func (p *plugin) closePool() {
	p.pool.mu.Lock()
	if p.pool.reaper != nil {
		p.pool.reaper.Stop()
		p.pool.reaper = nil
	}
	p.pool.mu.Unlock()
	p.evictIdle()
}
