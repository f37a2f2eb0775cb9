package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/airlock-go/airlock/protocol"
)

// pendingDeadlines is how many calls the connection is still timing.
func pendingDeadlines(c *Conn) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, p := range c.pending {
		if !p.at.IsZero() {
			n++
		}
	}
	return n
}

// callAsync runs CallTimeout on a goroutine; the error arrives on the
// returned channel.
func callAsync(c *Conn, ctx context.Context, timeout time.Duration) <-chan error {
	errc := make(chan error, 1)
	go func() {
		_, err := c.CallTimeout(ctx, timeout, "slow", json.RawMessage(`{}`))
		errc <- err
	}()
	return errc
}

// The peer answers in time, late, or never: a call gets its answer, or
// ErrTimeout once its deadline passes; the peer is sent $/cancel, its late
// answer is dropped and the connection goes on.
func TestCallTimeout(t *testing.T) {
	p := newPeer(t, echoHandler, Options{CancelGrace: time.Hour})
	for _, c := range []struct {
		name     string
		answerIn bool // answer before the deadline
	}{
		{"answered", true},
		{"expired", false},
		{"expired again (the timer re-arms)", false},
		{"answered after an expiry", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			const timeout = 50 * time.Millisecond
			start := time.Now()
			errc := callAsync(p.Conn, context.Background(), timeout)
			req := p.next(t)
			if req.Method != "slow" {
				t.Fatalf("request = %+v", req)
			}
			answer := `{"jsonrpc":"2.0","id":` + string(req.ID) + `,"result":"done"}` + "\n"
			if c.answerIn {
				p.send(answer)
				if err := recv(t, errc, "the call"); err != nil {
					t.Fatalf("CallTimeout = %v", err)
				}
			} else {
				err := recv(t, errc, "the call")
				if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("CallTimeout = %v, want ErrTimeout matching context.DeadlineExceeded", err)
				}
				if waited := time.Since(start); waited < timeout {
					t.Errorf("expired after %v, before its %v deadline", waited, timeout)
				}
				note := p.next(t)
				var cp protocol.CancelParams
				if note.Method != protocol.MethodCancel || json.Unmarshal(note.Params, &cp) != nil || string(cp.ID) != string(req.ID) {
					t.Fatalf("after the deadline: got %+v, want $/cancel for id %s", note, req.ID)
				}
				p.send(answer) // late: dropped
			}
			// Input is handled in order: once this is answered, the late
			// answer has been read.
			p.send(`{"jsonrpc":"2.0","id":"sync","method":"echo","params":1}` + "\n")
			if m := p.next(t); string(m.ID) != `"sync"` {
				t.Fatalf("got %+v, want the answer to sync", m)
			}
			if err := p.Err(); err != nil {
				t.Fatalf("connection ended: %v", err)
			}
			if n := pendingDeadlines(p.Conn); n != 0 {
				t.Errorf("%d deadlines still kept after the call", n)
			}
		})
	}
}

// Calls expire in the order of their deadlines, whatever the order they
// were made in: a call with an earlier deadline than those before it
// moves the timer earlier.
func TestCallTimeoutOrder(t *testing.T) {
	p := newPeer(t, echoHandler, Options{CancelGrace: -1})
	type result struct {
		timeout time.Duration
		waited  time.Duration
	}
	timeouts := []time.Duration{600 * time.Millisecond, 100 * time.Millisecond, 900 * time.Millisecond, 350 * time.Millisecond}
	results := make(chan result, len(timeouts))
	start := time.Now()
	for _, d := range timeouts {
		errc := callAsync(p.Conn, context.Background(), d)
		p.next(t) // sent before the next call is made
		go func() {
			err := <-errc
			if !errors.Is(err, ErrTimeout) {
				t.Errorf("call with timeout %v: %v, want ErrTimeout", d, err)
			}
			results <- result{d, time.Since(start)}
		}()
	}
	var got []result
	for range timeouts {
		got = append(got, recv(t, results, "a call to expire"))
	}
	for i, r := range got {
		if r.waited < r.timeout {
			t.Errorf("call with timeout %v expired after %v", r.timeout, r.waited)
		}
		if i > 0 && r.timeout < got[i-1].timeout {
			t.Errorf("call with timeout %v expired after the one with %v", r.timeout, got[i-1].timeout)
		}
	}
	if !sort.SliceIsSorted(got, func(i, j int) bool { return got[i].timeout < got[j].timeout }) {
		t.Errorf("expiry order %v", got)
	}
}

// The caller's context ending first ends the call as Call does, and the
// connection forgets its deadline.
func TestCallTimeoutContextFirst(t *testing.T) {
	p := newPeer(t, echoHandler, Options{CancelGrace: -1})
	ctx, cancel := context.WithCancel(context.Background())
	errc := callAsync(p.Conn, ctx, time.Hour)
	p.next(t)
	cancel()
	if err := recv(t, errc, "the call"); !errors.Is(err, context.Canceled) {
		t.Fatalf("CallTimeout = %v, want context.Canceled", err)
	}
	if n := pendingDeadlines(p.Conn); n != 0 {
		t.Errorf("%d deadlines still kept after the call", n)
	}
}

// A peer that ignores the $/cancel sent at the deadline is cut off after
// the grace period, as when a context ends.
func TestCallTimeoutGraceOverdue(t *testing.T) {
	p := newPeer(t, echoHandler, Options{CancelGrace: 20 * time.Millisecond})
	errc := callAsync(p.Conn, context.Background(), 20*time.Millisecond)
	p.next(t)
	if err := recv(t, errc, "the call"); !errors.Is(err, ErrTimeout) {
		t.Fatalf("CallTimeout = %v, want ErrTimeout", err)
	}
	if err := p.wait(t); !errors.Is(err, ErrOverdue) || !strings.Contains(err.Error(), "after cancelling request") {
		t.Errorf("Serve = %v, want ErrOverdue", err)
	}
}
