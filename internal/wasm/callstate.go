package wasm

import (
	"context"
	"time"

	"github.com/airlock-go/airlock/internal/deadline"
)

// callState is the context a call into a guest runs under: its parent
// (the caller's context) and its deadline, and, while airlock_call runs,
// what host_call hands to host_result.
//
// The deadline is a time, not a timer: the guest's check (interrupt.go)
// compares it with the clock, so a call that neither sleeps nor calls
// the host arms no timer and makes no context (which cost more than the
// rest of a small call's path). A context that ends at the deadline is
// made on the first need: Done, by poll_oneoff's sleep, a wait for an
// instance or a start function, and host functions, which get it and
// never the state (threat: a host function keeping its context past the
// call would otherwise see the state's next use).
//
// A state is used by one goroutine, the call's: wazero runs the guest
// and its host functions on the goroutine that called it. Each instance
// keeps one and begins it again for every call it serves (plugin.serve);
// a call that waits for an instance, or starts one, does so under a
// state of its own (getBy).
type callState struct {
	parent  context.Context
	epoch   time.Time     // the plugin's (plugin.epoch)
	due     time.Duration // the deadline, as time since epoch
	watch   *deadline.Watch
	timed   context.Context // made on first need
	release context.CancelFunc
	inCall  bool   // airlock_call is running: host_call is allowed
	pending []byte // host_call's answer, until host_result copies it
}

// newCallState returns the state of a call under parent that must end
// within timeout. epoch is a time read once, earlier: the deadline is
// kept as the time since then, which reads the monotonic clock alone
// (time.Now reads the wall clock as well).
func newCallState(parent context.Context, w *deadline.Watch, epoch time.Time, timeout time.Duration) *callState {
	s := new(callState)
	s.begin(parent, w, epoch, time.Since(epoch)+timeout)
	return s
}

// begin makes s the state of a call under parent that must end at due
// (since epoch), whatever it held before.
func (s *callState) begin(parent context.Context, w *deadline.Watch, epoch time.Time, due time.Duration) {
	*s = callState{parent: parent, epoch: epoch, due: due, watch: w}
}

type stateKey struct{}

// Deadline is the call's deadline.
func (s *callState) Deadline() (time.Time, bool) { return s.epoch.Add(s.due), true }

// Done makes the context that ends at the deadline, if it is not made
// yet, and returns its channel.
func (s *callState) Done() <-chan struct{} { return s.context().Done() }

// Err is context.DeadlineExceeded from the deadline on, or the parent's
// error.
func (s *callState) Err() error {
	if s.timed != nil {
		return s.timed.Err()
	}
	if err := s.parent.Err(); err != nil {
		return err
	}
	if time.Since(s.epoch) >= s.due {
		return context.DeadlineExceeded
	}
	return nil
}

// Value answers stateKey with the state, and other keys as the parent.
func (s *callState) Value(key any) any {
	if key == (stateKey{}) {
		return s
	}
	return s.parent.Value(key)
}

// context returns a context that ends at the deadline (or with the
// parent), made on the first call.
func (s *callState) context() context.Context {
	if s.timed == nil {
		s.timed, s.release = s.watch.WithTimeout(s.parent, s.due-time.Since(s.epoch))
	}
	return s.timed
}

// end releases the context, if one was made. The state is not used again.
func (s *callState) end() {
	if s.release != nil {
		s.release()
	}
}
