package rpc

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// pair connects two Conns back to back and serves both.
func pair(t *testing.T, ha, hb Handler, oa, ob Options) (a, b *Conn) {
	t.Helper()
	ar, bw := io.Pipe()
	br, aw := io.Pipe()
	a = NewConn(ar, aw, ha, oa, func() { ar.Close(); aw.Close() })
	b = NewConn(br, bw, hb, ob, func() { br.Close(); bw.Close() })
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); a.Serve() }()
	go func() { defer wg.Done(); b.Serve() }()
	t.Cleanup(func() {
		a.Close(nil)
		b.Close(nil)
		wg.Wait()
	})
	return a, b
}

func echo(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, error) {
	switch method {
	case "echo":
		return params, nil
	case "fail":
		return nil, errors.New("it failed")
	case "deny":
		return nil, Errorf(CodeDenied, "no")
	case "wait":
		<-ctx.Done()
		return nil, Errorf(CodeCancelled, "cancelled")
	case "ignore":
		time.Sleep(2 * time.Second) // ignores its context
		return nil, nil
	}
	return nil, Errorf(CodeMethodNotFound, "no %s", method)
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestCallsBothWaysConcurrently(t *testing.T) {
	a, b := pair(t, echo, echo, Options{}, Options{})
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for g := range 16 {
		for _, c := range []*Conn{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 200 {
					want := fmt.Sprintf(`"g%d-%d"`, g, i)
					got, err := c.Call(ctx(t), "echo", json.RawMessage(want))
					if err != nil || string(got) != want {
						errs <- fmt.Errorf("echo %s = %s, %v", want, got, err)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestErrorCodes(t *testing.T) {
	a, _ := pair(t, nil, echo, Options{}, Options{})
	cases := []struct {
		method string
		code   int
	}{{"fail", CodeFailed}, {"deny", CodeDenied}, {"nope", CodeMethodNotFound}}
	for _, c := range cases {
		_, err := a.Call(ctx(t), c.method, nil)
		var re *Error
		if !errors.As(err, &re) || re.Code != c.code {
			t.Errorf("%s: err = %v, want code %d", c.method, err, c.code)
		}
	}
	// A Conn with no handler answers method-not-found.
	_, b := pair(t, echo, nil, Options{}, Options{})
	_, err := b.Call(ctx(t), "anything", nil)
	var re *Error
	if !errors.As(err, &re) || re.Code != CodeMethodNotFound {
		t.Errorf("nil handler: %v", err)
	}
}

func TestBusy(t *testing.T) {
	release := make(chan struct{})
	block := func(ctx context.Context, method string, p json.RawMessage) (json.RawMessage, error) {
		<-release
		return nil, nil
	}
	a, _ := pair(t, nil, block, Options{}, Options{MaxHandlers: 2})
	var wg sync.WaitGroup
	var mu sync.Mutex
	busy := 0
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := a.Call(ctx(t), "x", nil)
			var re *Error
			if errors.As(err, &re) && re.Code == CodeBusy {
				mu.Lock()
				busy++
				mu.Unlock()
			}
		}()
	}
	time.Sleep(200 * time.Millisecond)
	close(release)
	wg.Wait()
	if busy != 3 {
		t.Errorf("%d calls refused as busy, want 3 (5 calls, 2 handlers)", busy)
	}
}

func TestCancellation(t *testing.T) {
	a, _ := pair(t, nil, echo, Options{CancelGrace: 5 * time.Second}, Options{})
	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := a.Call(short, "wait", nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	// The peer's handler was cancelled and answered; the late answer is
	// dropped without a violation, and the connection still works.
	time.Sleep(100 * time.Millisecond)
	if got, err := a.Call(ctx(t), "echo", json.RawMessage(`1`)); err != nil || string(got) != "1" {
		t.Errorf("after a cancel: %s, %v", got, err)
	}
	if a.Err() != nil {
		t.Errorf("connection ended: %v", a.Err())
	}
}

func TestOverdueClosesConnection(t *testing.T) {
	a, _ := pair(t, nil, echo, Options{CancelGrace: 100 * time.Millisecond}, Options{})
	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	a.Call(short, "ignore", nil)
	select {
	case <-a.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("a peer that ignored cancellation was not cut off")
	}
	if !errors.Is(a.Err(), ErrOverdue) {
		t.Errorf("err = %v, want ErrOverdue", a.Err())
	}
	if _, err := a.Call(ctx(t), "echo", nil); !errors.Is(err, ErrOverdue) {
		t.Errorf("call after close: %v", err)
	}
}

// feed serves a Conn reading the given raw input and returns why it ended.
func feed(t *testing.T, input string, opts Options) error {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	c := NewConn(r, io.Discard, echo, opts, func() { r.Close() })
	done := make(chan error, 1)
	go func() { done <- c.Serve() }()
	go func() {
		bw := bufio.NewWriter(w)
		bw.WriteString(input)
		bw.Flush()
		w.Close()
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
		return nil
	}
}

func TestViolations(t *testing.T) {
	cases := []struct {
		name, input, reason string
	}{
		{"not JSON", "hello there\n", "not a JSON-RPC message"},
		{"invalid JSON", "{\"jsonrpc\":\"2.0\",\n", "invalid JSON"},
		{"invalid UTF-8", "{\"jsonrpc\":\"2.0\",\"method\":\"\xff\"}\n", "not valid UTF-8"},
		{"no jsonrpc", `{"id":1,"method":"echo"}` + "\n", `missing "jsonrpc"`},
		{"unknown id", `{"jsonrpc":"2.0","id":77,"result":1}` + "\n", "unknown or already answered id"},
		{"object id", `{"jsonrpc":"2.0","id":{"a":1},"method":"echo"}` + "\n", "number or a string"},
		{"result and error", `{"jsonrpc":"2.0","id":1,"result":1,"error":{"code":1,"message":"x"}}` + "\n", "neither a request nor a response"},
		{"too long", `{"jsonrpc":"2.0","method":"echo","params":"` + strings.Repeat("x", 5000) + `"}` + "\n", "exceeds the limit"},
		{"flood without newline", strings.Repeat("x", 100000), "exceeds the limit"},
		{"ends mid-line", `{"jsonrpc":"2.0"`, "stream ended inside a message"},
		{"deep nesting", `{"jsonrpc":"2.0","id":1,"result":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + "}\n", "invalid JSON"},
		{"duplicate request id", `{"jsonrpc":"2.0","id":5,"method":"wait"}` + "\n" + `{"jsonrpc":"2.0","id":5,"method":"wait"}` + "\n", "already in use"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := feed(t, c.input, Options{MaxMessage: 4096})
			if c.name == "deep nesting" || c.name == "duplicate request id" {
				err = feed(t, c.input, Options{MaxMessage: 1 << 20})
			}
			var v *ViolationError
			if !errors.As(err, &v) || !strings.Contains(v.Reason, c.reason) {
				t.Fatalf("Serve = %v, want a violation saying %q", err, c.reason)
			}
			if len(v.Prefix) > 80 {
				t.Errorf("quoted %d bytes of the line, want at most 80", len(v.Prefix))
			}
		})
	}
}

func TestBlankLinesAndCRLF(t *testing.T) {
	err := feed(t, "\n\r\n"+`{"jsonrpc":"2.0","method":"echo","params":1}`+"\r\n\n", Options{})
	if !errors.Is(err, io.EOF) {
		t.Errorf("Serve = %v, want a clean end of input", err)
	}
}
