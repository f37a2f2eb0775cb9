package deadline

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// guard bounds every wait; it turns a hang into a failure.
const guard = 10 * time.Second

func waitDone(t *testing.T, ctx context.Context) time.Time {
	t.Helper()
	select {
	case <-ctx.Done():
		return time.Now()
	case <-time.After(guard):
		t.Fatal("context never ended")
		return time.Time{}
	}
}

func TestEndsAtItsDeadline(t *testing.T) {
	var w Watch
	defer w.Stop()
	start := time.Now()
	ctx, release := w.WithTimeout(context.Background(), 20*time.Millisecond)
	defer release()
	if dl, ok := ctx.Deadline(); !ok || dl.Before(start.Add(20*time.Millisecond)) {
		t.Errorf("Deadline() = %v, %v; want at least 20ms from the start", dl, ok)
	}
	if err := ctx.Err(); err != nil {
		t.Fatalf("ended at once: %v", err)
	}
	ended := waitDone(t, ctx)
	if ended.Sub(start) < 20*time.Millisecond {
		t.Errorf("ended after %v, before its deadline", ended.Sub(start))
	}
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Errorf("Err() = %v, want context.DeadlineExceeded", ctx.Err())
	}
}

func TestReleaseEndsItCancelled(t *testing.T) {
	var w Watch
	defer w.Stop()
	ctx, release := w.WithTimeout(context.Background(), time.Hour)
	release()
	waitDone(t, ctx)
	if !errors.Is(ctx.Err(), context.Canceled) {
		t.Errorf("Err() = %v, want context.Canceled", ctx.Err())
	}
	if len(w.calls) != 0 {
		t.Errorf("%d calls still watched after release", len(w.calls))
	}
}

func TestParentEndsIt(t *testing.T) {
	cases := []struct {
		name   string
		parent func() (context.Context, context.CancelFunc)
		want   error
	}{
		{"cancelled", func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) }, context.Canceled},
		{"earlier deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 10*time.Millisecond)
		}, context.DeadlineExceeded},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var w Watch
			defer w.Stop()
			parent, cancel := c.parent()
			defer cancel()
			ctx, release := w.WithTimeout(parent, time.Hour)
			defer release()
			if c.want == context.Canceled {
				cancel()
			}
			waitDone(t, ctx)
			if !errors.Is(ctx.Err(), c.want) {
				t.Errorf("Err() = %v, want %v", ctx.Err(), c.want)
			}
		})
	}
}

// Calls started with ever shorter timeouts move the timer earlier each
// time; every call still ends, and none before its own deadline.
func TestManyDeadlines(t *testing.T) {
	var w Watch
	defer w.Stop()
	var wg sync.WaitGroup
	for i := 10; i >= 1; i-- {
		d := time.Duration(i) * 5 * time.Millisecond
		start := time.Now()
		ctx, release := w.WithTimeout(context.Background(), d)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer release()
			ended := waitDone(t, ctx)
			if ended.Sub(start) < d {
				t.Errorf("timeout %v ended after %v", d, ended.Sub(start))
			}
			if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
				t.Errorf("timeout %v: Err() = %v", d, ctx.Err())
			}
		}()
	}
	wg.Wait()
}

// A released call does not end a later one early, and the watch keeps
// working after its timer fired with nothing due.
func TestReuseAfterRelease(t *testing.T) {
	var w Watch
	defer w.Stop()
	_, release := w.WithTimeout(context.Background(), 5*time.Millisecond)
	release()
	waitFired(t, &w) // the timer fires with nothing due
	start := time.Now()
	ctx, release := w.WithTimeout(context.Background(), 30*time.Millisecond)
	defer release()
	if ended := waitDone(t, ctx); ended.Sub(start) < 30*time.Millisecond {
		t.Errorf("ended after %v", ended.Sub(start))
	}
}

// waitFired waits until w's timer has fired and, with nothing left to
// time, is no longer armed.
func waitFired(t *testing.T, w *Watch) {
	t.Helper()
	for stop := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		w.mu.Lock()
		fired := w.at.IsZero()
		w.mu.Unlock()
		if fired {
			return
		}
		if time.Now().After(stop) {
			t.Fatal("the watch's timer did not fire")
		}
	}
}

// timedFunc is a Timed that reports when it expires.
type timedFunc chan struct{}

func (t timedFunc) Expire() { close(t) }

// Add times anything with an Expire method; Remove takes it back before
// its deadline, and it never expires.
func TestAddRemove(t *testing.T) {
	var w Watch
	defer w.Stop()
	kept, removed := make(timedFunc), make(timedFunc)
	w.Add(removed, time.Now().Add(10*time.Millisecond))
	w.Add(kept, time.Now().Add(20*time.Millisecond))
	w.Remove(removed)
	select {
	case <-kept:
	case <-time.After(guard):
		t.Fatal("a timed value never expired")
	}
	// The removed value's deadline came first: had it been kept, it would
	// have expired by now.
	select {
	case <-removed:
		t.Fatal("a removed value expired")
	default:
	}
}
