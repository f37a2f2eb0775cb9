package plugin

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// A call's context in a wasm guest ends at its deadline, with its
// parent, and when released, as context.WithDeadline's does, but makes
// no timer until Done is asked for.
func TestDeadlineContext(t *testing.T) {
	type key struct{}
	parent, cancelParent := context.WithCancel(context.WithValue(context.Background(), key{}, "v"))
	defer cancelParent()

	future := time.Now().Add(time.Hour)
	c, release := withDeadline(parent, future)
	if d, ok := c.Deadline(); !ok || !d.Equal(future) {
		t.Errorf("Deadline = %v, %v, want %v", d, ok, future)
	}
	if err := c.Err(); err != nil {
		t.Errorf("Err before the deadline = %v", err)
	}
	if c.Value(key{}) != "v" {
		t.Errorf("Value = %v, want the parent's", c.Value(key{}))
	}
	if c.timed != nil {
		t.Error("a timer was made before Done was asked for")
	}
	release()
	if err := c.Err(); !errors.Is(err, context.Canceled) {
		t.Errorf("Err after release = %v, want context.Canceled", err)
	}
	select {
	case <-c.Done():
	default:
		t.Error("Done is open after release")
	}

	past, release := withDeadline(parent, time.Now().Add(-time.Millisecond))
	defer release()
	if err := past.Err(); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Err past the deadline = %v, want context.DeadlineExceeded", err)
	}

	soon, release := withDeadline(parent, time.Now().Add(50*time.Millisecond))
	defer release()
	select {
	case <-soon.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done did not close at the deadline")
	}
	if err := soon.Err(); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Err at the deadline = %v, want context.DeadlineExceeded", err)
	}

	earlier, cancel := context.WithDeadline(parent, time.Now().Add(time.Minute))
	defer cancel()
	c2, release := withDeadline(earlier, future)
	defer release()
	if d, _ := c2.Deadline(); !d.Before(future) {
		t.Errorf("Deadline = %v, want the parent's earlier one", d)
	}

	child, release := withDeadline(parent, future)
	defer release()
	cancelParent()
	if err := child.Err(); !errors.Is(err, context.Canceled) {
		t.Errorf("Err after the parent's cancel = %v, want context.Canceled", err)
	}
}

// Done, Err and release may be called from several goroutines at once.
func TestDeadlineContextConcurrent(t *testing.T) {
	c, release := withDeadline(context.Background(), time.Now().Add(20*time.Millisecond))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			<-c.Done()
			if c.Err() == nil {
				t.Error("Err is nil once Done has closed")
			}
		})
	}
	wg.Wait()
	release()
}
