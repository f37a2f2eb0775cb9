package rpc

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/time/rate"
)

// Pacing of the peer's requests (Options.RequestBytesPerSecond).
//
// Threat: a peer making the host work harder than it does itself. Every
// request the peer sends is read, checked as JSON and handed to a
// handler that checks it again against a schema; the peer only copies
// bytes into a pipe. A plugin sending host calls whose input is a 4 MiB
// array of numbers spent 40 ms of its own CPU time on each and 0.4 s of
// the host's (measured; docs/SECURITY.md), with up to 64 handled at once
// (Options.MaxHandlers). Counting requests does not bound it: their size
// does. Past its rate the peer's messages are read more slowly: its
// writes wait, as a full pipe makes them, and the work it causes is held
// to what the rate allows. Refusing the requests instead would still
// cost the host their reading.

// NewPace returns a limiter of request bytes, bytesPerSecond a second,
// or nil for none. Its burst is a second's worth or one message larger
// than maxMessage, whichever is more, so that any message may pass, at
// the cost of waiting after it. The wasm tier paces its guests' host
// calls with one.
func NewPace(bytesPerSecond, maxMessage int) *rate.Limiter {
	if bytesPerSecond <= 0 {
		return nil
	}
	return rate.NewLimiter(rate.Limit(bytesPerSecond), max(bytesPerSecond, maxMessage+1))
}

// charge counts a request of n bytes read from the peer against the
// rate, and sets when the next message may be read. It is the reader's
// (whoever holds the role).
func (c *Conn) charge(n int) {
	if c.pace == nil {
		return
	}
	now := time.Now()
	if d := c.pace.ReserveN(now, n).DelayFrom(now); d > 0 {
		c.resume = now.Add(d)
		if c.opts.OnPaced != nil {
			c.opts.OnPaced(d)
		}
	}
}

// WaitPace takes n bytes from lim, waiting until it has them within
// ctx's deadline, for a host call whose input is n bytes (the wasm tier:
// a guest's host call waits as a process plugin's reading does). A wait
// that would outlast ctx is not begun: it returns an error at once; one
// begun ends with an error when ctx ends or stop is closed (the plugin
// stopping). paced, if not nil, is told of each wait begun.
func WaitPace(ctx context.Context, lim *rate.Limiter, n int, stop <-chan struct{}, paced func(time.Duration)) error {
	now := time.Now()
	r := lim.ReserveN(now, n)
	if !r.OK() {
		return fmt.Errorf("%d bytes exceed the burst of %d", n, lim.Burst())
	}
	d := r.DelayFrom(now)
	if d == 0 {
		return nil
	}
	if dl, ok := ctx.Deadline(); ok && now.Add(d).After(dl) {
		r.CancelAt(now)
		return fmt.Errorf("the wait of %v for the rate would outlast the call's deadline", d.Round(time.Millisecond))
	}
	if paced != nil {
		paced(d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		r.Cancel()
		return ctx.Err()
	case <-stop:
		r.Cancel()
		return errors.New("the plugin is stopping")
	}
}

// paced reports whether the next read must wait for the pace.
func (c *Conn) paced() bool {
	return !c.resume.IsZero() && time.Now().Before(c.resume)
}

// waitPace waits, before a read, until the requests read so far are
// within the rate. It returns false if ctx or the connection ended first,
// or, in caller-reads mode, if the reader was interrupted (as a read
// would be: a call's deadline passing while its caller waits here, a call
// beginning while the background reader waits); the wait left is the
// next reader's.
func (c *Conn) waitPace(ctx context.Context) bool {
	if c.resume.IsZero() {
		return true
	}
	d := time.Until(c.resume)
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-c.done:
			return false
		case <-ctx.Done():
			return false
		case <-c.paceWake:
			return false
		}
	}
	c.resume = time.Time{}
	return true
}

// wakePace ends a wait for the pace in progress, if any (caller-reads
// mode, with interrupt).
func (c *Conn) wakePace() {
	select {
	case c.paceWake <- struct{}{}:
	default:
	}
}
