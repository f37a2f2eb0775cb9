package rpc

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// A peer sending requests and notifications as fast as it can has them
// read at the rate Options.RequestBytesPerSecond allows, after one burst:
// the handlers get no more, whatever the peer writes. Without the pacing
// they get megabytes in the same time.
func TestRequestsPaced(t *testing.T) {
	const (
		rate    = 64 << 10
		msgSize = 8 << 10
		window  = 600 * time.Millisecond
	)
	for _, notify := range []bool{false, true} {
		t.Run(fmt.Sprintf("notifications=%v", notify), func(t *testing.T) {
			var handled atomic.Int64
			h := func(_ context.Context, _ string, params json.RawMessage) (json.RawMessage, error) {
				handled.Add(int64(len(params)))
				return json.RawMessage("null"), nil
			}
			p := newPeer(t, h, Options{RequestBytesPerSecond: rate, MaxMessage: 16 << 10})
			stop := make(chan struct{})
			defer close(stop)
			go func() {
				params := `"` + strings.Repeat("x", msgSize) + `"`
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					id := fmt.Sprintf(`"id":%d,`, i)
					if notify {
						id = ""
					}
					p.send(`{"jsonrpc":"2.0",` + id + `"method":"sink","params":` + params + "}\n")
				}
			}()
			start := time.Now()
			time.Sleep(window)
			got, elapsed := handled.Load(), time.Since(start)
			// The burst (a second's worth: more than one message), then the
			// rate, and one message read as the time ran out.
			limit := int64(rate) + int64(elapsed.Seconds()*rate) + 2*msgSize
			if got > limit {
				t.Errorf("handlers got %d bytes in %v, want at most %d (%d a second after a burst of %d)", got, elapsed, limit, rate, rate)
			}
			if got < rate/2 {
				t.Errorf("handlers got %d bytes in %v: the burst (%d) should pass at once", got, elapsed, rate)
			}
		})
	}
}

// The request that runs past the rate is handled, and the reader then
// waits until its bytes are repaid before it reads the next message; a
// reader waiting so stops when the connection is closed (a plugin paced
// for minutes still stops at once).
func TestPaceEndsWithConn(t *testing.T) {
	p := newPeer(t, echoHandler, Options{RequestBytesPerSecond: 1, MaxMessage: 2 << 10})
	big := `"` + strings.Repeat("x", 1000) + `"`
	// In one write, so that the reader holds all three at once: the
	// answers it holds back (to write them together) must leave before
	// it waits. (The write waits as the reader does: an io.Pipe holds
	// nothing.)
	var all string
	for i := range 3 {
		all += fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"echo","params":%s}`+"\n", i, big)
	}
	go p.send(all)
	answered := map[string]bool{}
	for range 2 {
		answered[string(p.next(t).ID)] = true
	}
	if !answered["0"] || !answered["1"] {
		t.Fatalf("answered %v, want ids 0 and 1 (the burst, then the message that ran past it)", answered)
	}
	select {
	case line := <-p.lines:
		t.Fatalf("the third request was answered at once (%.60s): it should wait about a minute", line)
	case <-time.After(100 * time.Millisecond):
	}
	start := time.Now()
	p.Close(nil)
	p.wait(t)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Serve returned %v after Close", d)
	}
}

// Without a rate, nothing is paced, and nothing reads the clock for it.
func TestNoPaceByDefault(t *testing.T) {
	if NewPace(0, 4<<20) != nil {
		t.Fatal("a pace with no rate")
	}
	l := NewPace(1<<20, 4<<20)
	if l.Burst() <= 4<<20 || float64(l.Limit()) != 1<<20 {
		t.Fatalf("burst %d, rate %v: want a burst larger than one message of the largest size", l.Burst(), l.Limit())
	}
	if l := NewPace(8<<20, 4<<20); l.Burst() != 8<<20 {
		t.Fatalf("burst %d: want a second's worth when it is larger than a message", l.Burst())
	}
}

// A call made while the reader waits for the pace still ends at its
// deadline, whether its context carries it or the connection keeps it
// (CallTimeout, as the process tier calls): in caller-reads mode the
// caller may be the one reading when the flood comes, and so the one
// waiting, and is woken as a read would be.
func TestCallDeadlineDuringPace(t *testing.T) {
	for _, kept := range []bool{false, true} {
		t.Run(fmt.Sprintf("connection-deadline=%v", kept), func(t *testing.T) {
			p := newPeer(t, echoHandler, Options{RequestBytesPerSecond: 1, MaxMessage: 2 << 10, CancelGrace: -1})
			const timeout = 500 * time.Millisecond
			type result struct {
				err error
				d   time.Duration
			}
			done := make(chan result, 1)
			go func() {
				begin := time.Now()
				var err error
				if kept {
					_, err = p.CallTimeout(context.Background(), timeout, "slow", nil)
				} else {
					ctx, cancel := context.WithTimeout(context.Background(), timeout)
					_, err = p.Call(ctx, "slow", nil)
					cancel()
				}
				done <- result{err, time.Since(begin)}
			}()
			if m := p.next(t); m.Method != "slow" {
				t.Fatalf("got %+v, want the call", m)
			}
			// While the call waits for its answer (its caller reading, in
			// caller-reads mode): the burst, then a request past it.
			big := `"` + strings.Repeat("x", 1000) + `"`
			var all string
			for i := range 2 {
				all += fmt.Sprintf(`{"jsonrpc":"2.0","id":"p%d","method":"echo","params":%s}`+"\n", i, big)
			}
			go p.send(all)
			select {
			case r := <-done:
				if r.err == nil || r.d > timeout+time.Second {
					t.Fatalf("the call returned %v after %v; want its deadline's error at %v", r.err, r.d, timeout)
				}
			case <-time.After(timeout + 5*time.Second):
				t.Fatalf("the call has not returned %v after its deadline (%v): its caller is waiting for the pace", 5*time.Second, timeout)
			}
		})
	}
}

// BenchmarkServeRequestPaced is BenchmarkServeRequest's single caller with
// the peer's requests paced at a rate they stay under: what the pace adds
// to each request it reads (a clock read and the limiter's lock), side by
// side with the same requests unpaced.
//
//	go test -run '^$' -bench ServeRequestPaced -count 10 ./internal/rpc
func BenchmarkServeRequestPaced(b *testing.B) {
	for _, rate := range []int{0, 1 << 40} {
		b.Run(fmt.Sprintf("paced=%v", rate > 0), func(b *testing.B) {
			ar, bw := io.Pipe()
			br, aw := io.Pipe()
			echo := func(_ context.Context, _ string, params json.RawMessage) (json.RawMessage, error) { return params, nil }
			caller := NewConn(ar, aw, nil, Options{}, func() { ar.Close(); aw.Close() })
			server := NewConn(br, bw, echo, Options{RequestBytesPerSecond: rate}, func() { br.Close(); bw.Close() })
			go caller.Serve()
			go server.Serve()
			defer server.Close(nil)
			defer caller.Close(nil)
			params := json.RawMessage(`"` + strings.Repeat("x", 64) + `"`)
			for b.Loop() {
				if _, err := caller.Call(context.Background(), "echo", params); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
