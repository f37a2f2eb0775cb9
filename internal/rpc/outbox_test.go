package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

// gatedWriter records each Write; while its gate is closed, Write blocks.
type gatedWriter struct {
	mu      sync.Mutex
	writes  []string
	gate    chan struct{} // receives once per Write allowed through
	entered chan struct{}
}

func newGatedWriter() *gatedWriter {
	return &gatedWriter{gate: make(chan struct{}, 100), entered: make(chan struct{}, 100)}
}

func (w *gatedWriter) Write(p []byte) (int, error) {
	w.entered <- struct{}{}
	<-w.gate
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes = append(w.writes, string(p))
	return len(p), nil
}

func (w *gatedWriter) recorded() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.writes...)
}

// Messages written while another write is in progress leave together in
// the next write, in the order they were queued, none lost.
func TestWritesBatched(t *testing.T) {
	r, _ := io.Pipe()
	w := newGatedWriter()
	c := NewConn(r, w, nil, Options{}, func() { r.Close() })
	defer c.Close(nil)
	ctx := testCtx(t)

	first := make(chan error, 1)
	go func() { first <- c.Notify(ctx, "first", nil) }()
	recv(t, w.entered, "the first write to start")
	const n = 20
	for i := range n {
		// Each returns at once: its message is queued behind the write.
		if err := c.Notify(ctx, fmt.Sprintf("m%d", i), nil); err != nil {
			t.Fatal(err)
		}
	}
	w.gate <- struct{}{} // the first write ends; its writer writes the rest
	recv(t, w.entered, "the second write")
	w.gate <- struct{}{}
	if err := recv(t, first, "the first Notify to return"); err != nil {
		t.Fatal(err)
	}
	writes := w.recorded()
	if len(writes) != 2 {
		t.Fatalf("%d writes, want 2 (the first, then the %d queued behind it)", len(writes), n)
	}
	lines := strings.Split(strings.TrimSuffix(writes[1], "\n"), "\n")
	if len(lines) != n {
		t.Fatalf("second write holds %d messages, want %d", len(lines), n)
	}
	for i, line := range lines {
		if want := fmt.Sprintf(`"method":"m%d"`, i); !strings.Contains(line, want) {
			t.Errorf("message %d = %s, want %s", i, line, want)
		}
	}
}

// A writer waiting for room behind a peer that does not read gives up
// when its context ends, with nothing sent (threat: a peer that stops
// reading holding every writer, and the queue growing without bound).
func TestWriteGivesUpWhenQueueFull(t *testing.T) {
	r, _ := io.Pipe()
	w := newGatedWriter()
	c := NewConn(r, w, nil, Options{}, func() { r.Close() })
	defer func() {
		close(w.gate) // let the blocked write end
		c.Close(nil)
	}()
	go c.Notify(context.Background(), "blocked", nil)
	recv(t, w.entered, "the first write to start")
	big := json.RawMessage(`"` + strings.Repeat("x", maxQueued) + `"`)
	if err := c.Notify(testCtx(t), "big", big); err != nil {
		t.Fatalf("queueing behind the write: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := c.Notify(ctx, "more", nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Notify with a full queue = %v, want it to give up with its context", err)
	}
}

// The reading worker answers the requests that arrived together in one
// write, and answers a lone request at once.
func TestAnswersBatched(t *testing.T) {
	inR, inW := io.Pipe()
	defer inW.Close()
	w := newGatedWriter()
	close(w.gate)
	c := NewConn(inR, w, echo, Options{}, func() { inR.Close() })
	serve(t, c)
	var batch bytes.Buffer
	for i := 1; i <= 5; i++ {
		fmt.Fprintf(&batch, `{"jsonrpc":"2.0","id":%d,"method":"echo","params":%d}`+"\n", i, i)
	}
	if _, err := inW.Write(batch.Bytes()); err != nil {
		t.Fatal(err)
	}
	recv(t, w.entered, "the answers")
	eventually(t, "the answers to be written", func() bool { return len(w.recorded()) > 0 })
	writes := w.recorded()
	if len(writes) != 1 || strings.Count(writes[0], "\n") != 5 {
		t.Fatalf("answers to 5 requests sent together written as %q, want one write of 5", writes)
	}

	// A lone request is answered without waiting for anything else.
	if _, err := io.WriteString(inW, `{"jsonrpc":"2.0","id":9,"method":"echo","params":9}`+"\n"); err != nil {
		t.Fatal(err)
	}
	recv(t, w.entered, "the lone answer")
	eventually(t, "the lone answer to be written", func() bool { return len(w.recorded()) == 2 })
}
