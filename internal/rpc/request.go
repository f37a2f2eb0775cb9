package rpc

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/airlock-go/airlock/protocol"
)

// request is the context of one request the peer sent. It ends when the
// peer sends $/cancel for it, when the connection ends, when its deadline
// (RequestTimeout) passes, or when its handler returns.
//
// It replaces a context.WithCancel per request, and on a plugin a second,
// timed context per call: together a tenth of a plugin's CPU on a small
// call. A request is one allocation; it makes its Done channel only when
// someone asks for it, and lets contexts derived from it register through
// AfterFunc (which the context package looks for) instead of starting a
// goroutine to watch it.
type request struct {
	conn     *Conn
	id       json.RawMessage     // its id, as the peer wrote it
	origin   context.Context     // of the call it was made during (origin.go), or nil
	call     protocol.CallParams // its params, if it is a call decoded with them
	hasCall  bool
	mu       sync.Mutex
	done     chan struct{} // made by the first Done
	err      error         // why it ended; nil while it runs
	deadline time.Time
	afters   map[*afterFunc]struct{}
}

// afterFunc is a function registered with request.AfterFunc.
type afterFunc struct{ f func() }

var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

func (r *request) Deadline() (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.deadline, !r.deadline.IsZero()
}

func (r *request) Done() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done == nil {
		if r.err != nil {
			return closedChan
		}
		r.done = make(chan struct{})
	}
	return r.done
}

func (r *request) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// Value returns r itself for requestKey: a context derived from a
// request's still knows which request it serves (origin.go).
func (r *request) Value(key any) any {
	if key == (requestKey{}) {
		return r
	}
	return nil
}

// AfterFunc runs f once the request ends, on the goroutine that ends it,
// unless stop is called first; stop reports whether it stopped f. The
// context package uses it for contexts derived from a request, so that
// they need no goroutine of their own (context.AfterFunc with a request
// calls it too, and starts its function on a goroutine of its own).
func (r *request) AfterFunc(f func()) (stop func() bool) {
	a := &afterFunc{f: f}
	r.mu.Lock()
	if r.err != nil {
		r.mu.Unlock()
		go f()
		return func() bool { return false }
	}
	if r.afters == nil {
		r.afters = make(map[*afterFunc]struct{})
	}
	r.afters[a] = struct{}{}
	r.mu.Unlock()
	return func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		_, ok := r.afters[a]
		delete(r.afters, a)
		return ok
	}
}

// end ends the request with err, once; the first reason stays.
func (r *request) end(err error) {
	r.mu.Lock()
	if r.err != nil {
		r.mu.Unlock()
		return
	}
	r.err = err
	if r.done != nil {
		close(r.done)
	}
	afters := r.afters
	r.afters = nil
	r.mu.Unlock()
	for a := range afters {
		a.f()
	}
}

// Expire ends the request at its deadline.
func (r *request) expire() { r.end(context.DeadlineExceeded) }

// RequestTimeout gives ctx a deadline d from now. When ctx is the context
// of a request the peer sent on c (a Handler's), the request itself takes
// the deadline, if earlier than the one it has: it ends with
// context.DeadlineExceeded then, timed by the connection's one timer
// (deadlines.go), and the returned function does nothing (the request is
// released when its handler returns). For any other context it is
// context.WithTimeout.
func (c *Conn) RequestTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	r, ok := ctx.(*request)
	if !ok || r.conn != c {
		return context.WithTimeout(ctx, d)
	}
	at := time.Now().Add(d)
	r.mu.Lock()
	later := !r.deadline.IsZero() && !at.Before(r.deadline)
	if !later {
		r.deadline = at
	}
	ended := r.err != nil
	r.mu.Unlock()
	if !later && !ended {
		c.mu.Lock()
		c.armDeadline(at)
		c.mu.Unlock()
	}
	return r, func() {}
}

// DecodedCallParams returns the params of the call request ctx is the
// context of (a Handler's), if its connection decoded them with the
// message: a plugin then need not read them a second time.
func DecodedCallParams(ctx context.Context) (protocol.CallParams, bool) {
	r, ok := ctx.(*request)
	if !ok || !r.hasCall {
		return protocol.CallParams{}, false
	}
	return r.call, true
}
