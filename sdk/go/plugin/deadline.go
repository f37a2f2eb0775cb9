package plugin

import (
	"context"
	"sync"
	"time"
)

// deadlineContext is a call's context in a wasm guest: it ends at the
// call's deadline (or with its parent) without a timer of its own until
// one is needed. Err compares the clock with the deadline; Done, and so
// anything that waits on the context or derives a cancelable one from
// it, makes the timer on first use.
//
// Why: context.WithTimeout arms a runtime timer for every call and stops
// it after, which in a wasip1 guest cost more than the rest of a small
// call (a Go echo through Airlock: 24 us a call with it, 19-21 us
// without; 13 us under raw wazero with no deadline at all). The host
// enforces the deadline either way: the context only tells the handler.
type deadlineContext struct {
	parent   context.Context
	deadline time.Time

	mu     sync.Mutex
	timed  context.Context // made by Done
	cancel context.CancelFunc
}

// withDeadline returns parent ending at deadline, and the function that
// releases its timer, if one was made.
func withDeadline(parent context.Context, deadline time.Time) (*deadlineContext, func()) {
	c := &deadlineContext{parent: parent, deadline: deadline}
	return c, c.release
}

// Deadline is the earlier of the call's deadline and the parent's.
func (c *deadlineContext) Deadline() (time.Time, bool) {
	if d, ok := c.parent.Deadline(); ok && d.Before(c.deadline) {
		return d, true
	}
	return c.deadline, true
}

// Done makes the timer, if it is not made yet, and returns its channel.
func (c *deadlineContext) Done() <-chan struct{} { return c.context().Done() }

// Err is context.DeadlineExceeded from the deadline on, or the parent's
// error.
func (c *deadlineContext) Err() error {
	c.mu.Lock()
	timed := c.timed
	c.mu.Unlock()
	if timed != nil {
		return timed.Err()
	}
	if err := c.parent.Err(); err != nil {
		return err
	}
	if !time.Now().Before(c.deadline) {
		return context.DeadlineExceeded
	}
	return nil
}

// Value is the parent's.
func (c *deadlineContext) Value(key any) any { return c.parent.Value(key) }

// context returns the context with the timer, made on the first call.
func (c *deadlineContext) context() context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.timed == nil {
		c.timed, c.cancel = context.WithDeadline(c.parent, c.deadline)
	}
	return c.timed
}

// release stops the timer, if one was made; the context has then ended.
func (c *deadlineContext) release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cancel == nil {
		c.timed, c.cancel = context.WithCancel(c.parent)
	}
	c.cancel()
}
