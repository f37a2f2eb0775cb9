// Package deadline gives calls their deadlines with one timer for many
// calls instead of one timer each.
//
// context.WithTimeout arms a timer per call. When that timer is earlier
// than every other, the Go runtime wakes a thread to re-arm its poller: on
// a small plugin call, a futex wake-up on the critical path, about a
// twentieth of the call. A Watch keeps the calls it times and one timer,
// armed for the earliest deadline; calls with later deadlines (the usual
// case: each new call ends after the ones before it) do not touch it.
package deadline

import (
	"context"
	"sync"
	"time"
)

// Watch times calls. The zero value is ready to use; a Watch must not be
// copied after first use.
type Watch struct {
	mu    sync.Mutex
	timer *time.Timer
	at    time.Time // when the timer fires; zero when it is not armed
	calls map[Timed]time.Time
}

// Timed is what a Watch ends at its deadline.
type Timed interface {
	// Expire ends it; it is called at most once per Add, without the
	// Watch's lock held.
	Expire()
}

// Add times t: it expires at at, unless removed before.
func (w *Watch) Add(t Timed, at time.Time) {
	w.mu.Lock()
	if w.calls == nil {
		w.calls = make(map[Timed]time.Time)
	}
	w.calls[t] = at
	if w.at.IsZero() || at.Before(w.at) {
		w.arm(at)
	}
	w.mu.Unlock()
}

// Remove stops timing t. The timer is left as it is: if it fires with
// nothing due, it only re-arms.
func (w *Watch) Remove(t Timed) {
	w.mu.Lock()
	delete(w.calls, t)
	w.mu.Unlock()
}

// call is a context timed by WithTimeout.
type call struct{ cancel context.CancelCauseFunc }

func (c *call) Expire() { c.cancel(context.DeadlineExceeded) }

// WithTimeout is context.WithTimeout, timed by w: the context ends d from
// now with context.DeadlineExceeded, reports its deadline, and is
// released by the returned function.
func (w *Watch) WithTimeout(parent context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	at := time.Now().Add(d)
	if pd, ok := parent.Deadline(); ok && pd.Before(at) {
		// The parent ends first, and will end this context too.
		return context.WithCancel(parent)
	}
	inner, cancel := context.WithCancelCause(parent)
	c := &call{cancel: cancel}
	w.Add(c, at)
	release := func() {
		w.Remove(c)
		cancel(context.Canceled)
	}
	return &timed{Context: inner, at: at}, release
}

// arm sets the timer for at. w.mu is held.
func (w *Watch) arm(at time.Time) {
	w.at = at
	if w.timer == nil {
		w.timer = time.AfterFunc(time.Until(at), w.fire)
		return
	}
	w.timer.Reset(time.Until(at))
}

// fire ends the calls whose deadline has passed and re-arms the timer for
// the next one. A fire with nothing due (the timer was moved earlier, or
// the calls ended) only re-arms.
func (w *Watch) fire() {
	now := time.Now()
	var due []Timed
	var next time.Time
	w.mu.Lock()
	for c, at := range w.calls {
		switch {
		case !at.After(now):
			due = append(due, c)
			delete(w.calls, c)
		case next.IsZero() || at.Before(next):
			next = at
		}
	}
	w.at = time.Time{}
	if !next.IsZero() {
		w.arm(next)
	}
	w.mu.Unlock()
	for _, c := range due {
		c.Expire()
	}
}

// Stop releases the timer. Calls still timed by w are not ended.
func (w *Watch) Stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.timer != nil {
		w.timer.Stop()
	}
	w.at = time.Time{}
}

// timed is a cancellable context that reports its deadline, and
// context.DeadlineExceeded once it has passed, like context.WithTimeout's.
type timed struct {
	context.Context
	at time.Time
}

func (t *timed) Deadline() (time.Time, bool) { return t.at, true }

func (t *timed) Err() error {
	err := t.Context.Err()
	if err != nil && context.Cause(t.Context) == context.DeadlineExceeded {
		return context.DeadlineExceeded
	}
	return err
}
