package rpc

import (
	"context"
	"encoding/json"
	"time"
)

// ErrTimeout is returned by CallTimeout when the peer has not answered in
// time. It matches context.DeadlineExceeded with errors.Is.
var ErrTimeout error = timeoutError{}

type timeoutError struct{}

func (timeoutError) Error() string   { return "no answer in time" }
func (timeoutError) Is(t error) bool { return t == context.DeadlineExceeded }

// Call deadlines kept by the connection (CallTimeout).
//
// Giving each call a context.WithTimeout costs a timer, a context and its
// goroutine-safe cancellation per call, and in caller-reads mode a
// context.AfterFunc to interrupt the reader: together about a sixth of the
// host's CPU on a small call. The connection instead keeps the deadlines of
// its calls in their pending entries, under the same lock, and one timer
// armed for the earliest. Each new call usually ends after the ones
// before it, so it does not touch the timer.
type deadlines struct {
	timer *time.Timer
	at    time.Time // when the timer fires; zero when it is not armed
}

// pendingCall is a call waiting for its answer.
type pendingCall struct {
	ch  chan answer
	at  time.Time       // its deadline; zero if none
	ctx context.Context // the caller's, for the peer's requests made during it (origin.go)
}

// CallTimeout is Call with a deadline: if the peer has not answered within
// timeout, the call fails with ErrTimeout and, as when ctx ends, the peer is
// sent $/cancel and given the grace period to answer (threat: a plugin that
// never answers holding its caller, and its slot, for ever). timeout <= 0
// means no deadline but ctx's.
func (c *Conn) CallTimeout(ctx context.Context, timeout time.Duration, method string, params any) (json.RawMessage, error) {
	return c.call(ctx, timeout, method, params)
}

// armDeadline makes sure the timer fires by at, the deadline of a call
// just made pending. c.mu is held.
func (c *Conn) armDeadline(at time.Time) {
	d := &c.deadlines
	if !d.at.IsZero() && !at.Before(d.at) {
		return
	}
	d.at = at
	if d.timer == nil {
		d.timer = time.AfterFunc(time.Until(at), c.expire)
		return
	}
	d.timer.Reset(time.Until(at))
}

// unpend removes call id from the pending calls. c.mu is held.
func (c *Conn) unpend(id int64) { delete(c.pending, id) }

// expire fails the calls whose deadline has passed, the way abandon does
// when a context ends, and re-arms the timer for the next one.
func (c *Conn) expire() {
	now := time.Now()
	var next time.Time
	var gone []chan answer
	c.mu.Lock()
	for id, p := range c.pending { // deleting while ranging is allowed
		switch {
		case p.at.IsZero():
		case !p.at.After(now):
			gone = append(gone, p.ch)
			c.unpend(id)
			c.overdue[id] = c.graceTimer(id)
			c.sendCancel(id) // sends on its own goroutine
		case next.IsZero() || p.at.Before(next):
			next = p.at
		}
	}
	d := &c.deadlines
	d.at = time.Time{}
	if !next.IsZero() {
		d.at = next
		d.timer.Reset(time.Until(next))
	}
	c.mu.Unlock()
	for _, ch := range gone {
		ch <- answer{expired: true} // never blocks: only the one who unpends a call sends
	}
	// In caller-reads mode the caller may be the one reading: it stops
	// once its answer channel holds something. Sent before the interrupt,
	// so the reader sees it when its read returns.
	if len(gone) > 0 && c.input != nil {
		c.interrupt()
	}
}
