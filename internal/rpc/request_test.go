package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airlock-go/airlock/protocol"
)

// A handler's context ends, with the right error, in each way a request
// can end, and so do the contexts derived from it and the functions
// registered with context.AfterFunc, without a goroutine left behind
// (goleak, TestMain).
func TestRequestContextEnds(t *testing.T) {
	cases := []struct {
		name string
		// timeout, if not zero, is given to the request with RequestTimeout.
		timeout time.Duration
		// end ends the request from outside, once its handler runs.
		end  func(cancelCall context.CancelFunc, handlerSide *Conn)
		want error
	}{
		{"the caller cancels", 0, func(cancel context.CancelFunc, _ *Conn) { cancel() }, context.Canceled},
		{"its deadline passes", 20 * time.Millisecond, func(context.CancelFunc, *Conn) {}, context.DeadlineExceeded},
		{"the connection ends", 0, func(_ context.CancelFunc, b *Conn) { b.Close(nil) }, context.Canceled},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var side atomic.Pointer[Conn]
			started := make(chan struct{}, 1)
			seen := make(chan []error, 1)
			h := handler(map[string]Handler{"wait": func(ctx context.Context, _ string, _ json.RawMessage) (json.RawMessage, error) {
				if c.timeout > 0 {
					var cancel context.CancelFunc
					ctx, cancel = side.Load().RequestTimeout(ctx, c.timeout)
					defer cancel()
					if _, ok := ctx.Deadline(); !ok {
						t.Error("the request reports no deadline after RequestTimeout")
					}
				}
				child, cancelChild := context.WithCancel(ctx)
				defer cancelChild()
				after := make(chan struct{})
				context.AfterFunc(ctx, func() { close(after) })
				started <- struct{}{}
				<-ctx.Done()
				<-child.Done()
				<-after
				seen <- []error{ctx.Err(), child.Err()}
				return nil, ctx.Err()
			}})
			a, b := pair(t, nil, h, Options{CancelGrace: time.Hour}, Options{})
			side.Store(b.Conn)
			ctx, cancel := context.WithCancel(testCtx(t))
			defer cancel()
			go a.Call(ctx, "wait", nil)
			recv(t, started, "the handler to start")
			c.end(cancel, b.Conn)
			errs := recv(t, seen, "the handler's context to end")
			if !errors.Is(errs[0], c.want) || !errors.Is(errs[1], c.want) {
				t.Errorf("request ended with %v, derived context with %v; want %v", errs[0], errs[1], c.want)
			}
		})
	}
}

// Once its handler has returned, a request's context has ended: whatever
// the handler left running on it stops.
func TestRequestContextEndsWithHandler(t *testing.T) {
	kept := make(chan context.Context, 1)
	h := handler(map[string]Handler{"keep": func(ctx context.Context, _ string, _ json.RawMessage) (json.RawMessage, error) {
		if ctx.Err() != nil {
			t.Errorf("context ended while its handler runs: %v", ctx.Err())
		}
		// Cancelled here only once the test is over: its parent, the
		// request, must end it first.
		child, cancel := context.WithCancel(ctx)
		t.Cleanup(cancel)
		kept <- child
		return json.RawMessage(`1`), nil
	}})
	a, _ := pair(t, nil, h, Options{}, Options{})
	if _, err := a.Call(testCtx(t), "keep", nil); err != nil {
		t.Fatal(err)
	}
	child := recv(t, kept, "the handler's context")
	select {
	case <-child.Done():
	case <-time.After(guard):
		t.Fatal("a context derived from the request outlived its handler")
	}
}

// RequestTimeout only ever brings a request's deadline closer, and on a
// context that is not a request of this connection it is
// context.WithTimeout.
func TestRequestTimeout(t *testing.T) {
	var side atomic.Pointer[Conn]
	deadlines := make(chan [2]time.Time, 1)
	h := handler(map[string]Handler{"deadlines": func(ctx context.Context, _ string, _ json.RawMessage) (json.RawMessage, error) {
		c := side.Load()
		ctx, _ = c.RequestTimeout(ctx, time.Minute)
		first, _ := ctx.Deadline()
		ctx, _ = c.RequestTimeout(ctx, time.Hour)
		second, _ := ctx.Deadline()
		deadlines <- [2]time.Time{first, second}
		return json.RawMessage(`1`), nil
	}})
	a, b := pair(t, nil, h, Options{}, Options{})
	side.Store(b.Conn)
	if _, err := a.Call(testCtx(t), "deadlines", nil); err != nil {
		t.Fatal(err)
	}
	d := recv(t, deadlines, "the deadlines")
	if d[0].IsZero() || !d[1].Equal(d[0]) {
		t.Errorf("deadline after 1m then 1h: %v then %v; want the first kept", d[0], d[1])
	}

	ctx, cancel := b.RequestTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, ok := ctx.(*request); ok {
		t.Fatal("a request context made from a context that is not a request")
	}
	select {
	case <-ctx.Done():
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			t.Errorf("err = %v", ctx.Err())
		}
	case <-time.After(guard):
		t.Fatal("RequestTimeout on another context never ended it")
	}
}

// A request's deadline ends its context with context.DeadlineExceeded
// when it passes, though the connection's one timer was armed for a later
// deadline first (threat: a plugin handler running on past the time the
// host gave it), and a request that ended is timed no more.
func TestRequestDeadlineEnds(t *testing.T) {
	var side atomic.Pointer[Conn]
	timed := make(chan struct{}, 1)
	h := handler(map[string]Handler{"wait": func(ctx context.Context, _ string, p json.RawMessage) (json.RawMessage, error) {
		var ms int
		if err := json.Unmarshal(p, &ms); err != nil {
			return nil, err
		}
		ctx, _ = side.Load().RequestTimeout(ctx, time.Duration(ms)*time.Millisecond)
		timed <- struct{}{}
		<-ctx.Done()
		return nil, protocol.Errorf(protocol.CodeCancelled, "%v", ctx.Err())
	}})
	a, b := pair(t, nil, h, Options{}, Options{})
	side.Store(b.Conn)
	longCtx, stopLong := context.WithCancel(testCtx(t))
	defer stopLong()
	long := make(chan error, 1)
	go func() {
		_, err := a.Call(longCtx, "wait", json.RawMessage(`3600000`))
		long <- err
	}()
	recv(t, timed, "the long request's deadline")
	start := time.Now()
	_, err := a.Call(testCtx(t), "wait", json.RawMessage(`20`))
	<-timed
	var re *protocol.Error
	if !errors.As(err, &re) || !strings.Contains(re.Message, context.DeadlineExceeded.Error()) {
		t.Fatalf("Call = %v, want the handler's context ended by its deadline", err)
	}
	if waited := time.Since(start); waited < 20*time.Millisecond {
		t.Errorf("request ended after %v, before its 20ms deadline", waited)
	}
	stopLong() // $/cancel ends the long request
	if err := recv(t, long, "the long call to return"); !errors.Is(err, context.Canceled) {
		t.Errorf("long call = %v, want context.Canceled", err)
	}
	eventually(t, "the requests to be forgotten", func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return len(b.running) == 0
	})
}
