package wasm

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/airlock-go/airlock/internal/deadline"
)

// A call's state ends at its deadline without a timer (Err compares the
// clock, which is what the guest's check reads), ends with its parent,
// and makes a context that ends at the deadline only when asked for one.
func TestCallStateDeadline(t *testing.T) {
	var w deadline.Watch
	defer w.Stop()
	for _, c := range []struct {
		name    string
		timeout time.Duration
		cancel  bool // the parent is canceled
		done    bool // Done is asked for before the deadline
		want    error
	}{
		{"before the deadline", time.Hour, false, false, nil},
		{"after the deadline, no timer", time.Millisecond, false, false, context.DeadlineExceeded},
		{"after the deadline, with a timer", 20 * time.Millisecond, false, true, context.DeadlineExceeded},
		{"parent canceled", time.Hour, true, false, context.Canceled},
		{"parent canceled, with a timer", time.Hour, true, true, context.Canceled},
	} {
		t.Run(c.name, func(t *testing.T) {
			parent, cancel := context.WithCancel(context.Background())
			defer cancel()
			before := time.Now()
			s := newCallState(parent, &w, before.Add(-time.Minute), c.timeout)
			after := time.Now()
			defer s.end()
			if err := s.Err(); err != nil {
				t.Fatalf("Err() = %v at once", err)
			}
			var done <-chan struct{}
			if c.done {
				done = s.Done()
			} else if s.timed != nil {
				t.Fatal("a context was made before anything asked for one")
			}
			if c.cancel {
				cancel()
			}
			if c.want == context.DeadlineExceeded {
				time.Sleep(s.due - time.Since(s.epoch) + time.Millisecond)
			}
			if done != nil && c.want != nil {
				select {
				case <-done:
				case <-time.After(10 * time.Second):
					t.Fatal("Done never closed")
				}
			}
			if err := s.Err(); !errors.Is(err, c.want) && err != c.want {
				t.Errorf("Err() = %v, want %v", err, c.want)
			}
			if dl, ok := s.Deadline(); !ok || dl.Before(before.Add(c.timeout)) || dl.After(after.Add(c.timeout)) {
				t.Errorf("Deadline() = %v, %v; want between %v and %v", dl, ok, before.Add(c.timeout), after.Add(c.timeout))
			}
			if s.Value(stateKey{}) != s {
				t.Error("Value(stateKey{}) is not the state")
			}
		})
	}
}
