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
	calls map[*call]struct{}
}

type call struct {
	at     time.Time
	cancel context.CancelCauseFunc
}

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
	c := &call{at: at, cancel: cancel}
	w.mu.Lock()
	if w.calls == nil {
		w.calls = make(map[*call]struct{})
	}
	w.calls[c] = struct{}{}
	if w.at.IsZero() || at.Before(w.at) {
		w.arm(at)
	}
	w.mu.Unlock()
	release := func() {
		w.mu.Lock()
		delete(w.calls, c)
		w.mu.Unlock()
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
	var due []*call
	var next time.Time
	w.mu.Lock()
	for c := range w.calls {
		switch {
		case !c.at.After(now):
			due = append(due, c)
			delete(w.calls, c)
		case next.IsZero() || c.at.Before(next):
			next = c.at
		}
	}
	w.at = time.Time{}
	if !next.IsZero() {
		w.arm(next)
	}
	w.mu.Unlock()
	for _, c := range due {
		c.cancel(context.DeadlineExceeded)
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
