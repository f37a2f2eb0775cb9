package rpc

import (
	"fmt"
	"slices"
	"time"
)

// The connection's deadlines, all kept by one timer:
//
//   - the deadlines of its calls (CallTimeout), in their pending entries;
//   - the grace periods of the calls it gave up on (abandon), in their
//     overdue entries: a peer that has not answered by then is stuck and
//     the connection ends (ErrOverdue);
//   - the deadlines of the peer's requests it runs (RequestTimeout), in
//     the requests themselves.
//
// Giving each call a context.WithTimeout costs a timer, a context and its
// goroutine-safe cancellation per call, and in caller-reads mode a
// context.AfterFunc to interrupt the reader: together about a sixth of the
// host's CPU on a small call; a timer per request on a plugin, or per
// given-up call, costs the same. The connection instead keeps each
// deadline where the call or request already is, under c.mu, and one
// timer armed for the earliest. Each new deadline usually falls after the
// ones before it, so it does not touch the timer; a call or request that
// ends leaves the timer as it is, and the timer, if it fires with nothing
// due, only re-arms.
type deadlines struct {
	timer *time.Timer
	at    time.Time // when the timer fires; zero when it is not armed
}

// armDeadline makes sure the timer fires by at, a deadline just recorded.
// c.mu is held.
func (c *Conn) armDeadline(at time.Time) {
	d := &c.deadlines
	if !d.at.IsZero() && !at.Before(d.at) {
		return
	}
	select {
	case <-c.done:
		return // stopped for good by Close
	default:
	}
	d.at = at
	if d.timer == nil {
		d.timer = time.AfterFunc(time.Until(at), c.expire)
		return
	}
	d.timer.Reset(time.Until(at))
}

// stop stops the timer. c.mu is held.
func (d *deadlines) stop() {
	if d.timer != nil {
		d.timer.Stop()
	}
	d.at = time.Time{}
}

// due is what the timer found due, to act on once c.mu is released.
type due struct {
	calls    []chan answer // calls past their deadline
	requests []*request    // requests past their deadline
	stuck    []int64       // calls given up on, past their grace period
}

// expire acts on the deadlines that have passed, and re-arms the timer
// for the next one.
func (c *Conn) expire() {
	now := time.Now()
	var next time.Time
	later := func(at time.Time) {
		if next.IsZero() || at.Before(next) {
			next = at
		}
	}
	var d due
	c.mu.Lock()
	c.expireCalls(now, &d, later)
	for id, at := range c.overdue {
		switch {
		case at.IsZero():
		case !at.After(now):
			d.stuck = append(d.stuck, id)
		default:
			later(at)
		}
	}
	for _, r := range c.running {
		switch at, ok := r.Deadline(); {
		case !ok:
		case !at.After(now):
			d.requests = append(d.requests, r)
		default:
			later(at)
		}
	}
	c.deadlines.at = time.Time{}
	if !next.IsZero() && c.Err() == nil {
		c.deadlines.at = next
		c.deadlines.timer.Reset(time.Until(next))
	}
	c.mu.Unlock()
	c.act(&d)
}

// expireCalls fails the pending calls whose deadline has passed, the way
// abandon does when a context ends. c.mu is held.
func (c *Conn) expireCalls(now time.Time, d *due, later func(time.Time)) {
	for id, p := range c.pending { // deleting while ranging is allowed
		switch {
		case p.at.IsZero():
		case !p.at.After(now):
			d.calls = append(d.calls, p.ch)
			c.unpend(id)
			if at := c.giveUp(id); !at.IsZero() {
				later(at)
			}
			c.sendCancel(id) // sends on its own goroutine
		default:
			later(p.at)
		}
	}
}

// act acts on what expire found due, without c.mu held.
func (c *Conn) act(d *due) {
	for _, ch := range d.calls {
		ch <- answer{expired: true} // never blocks: only the one who unpends a call sends
	}
	// In caller-reads mode the caller may be the one reading: it stops
	// once its answer channel holds something. Sent before the interrupt,
	// so the reader sees it when its read returns.
	if len(d.calls) > 0 && c.input != nil {
		c.interrupt()
	}
	for _, r := range d.requests {
		r.expire()
	}
	if len(d.stuck) > 0 {
		id := slices.Min(d.stuck)
		c.Close(fmt.Errorf("%w: no answer %v after cancelling request %d", ErrOverdue, c.opts.CancelGrace, id))
	}
}
