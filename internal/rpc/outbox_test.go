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

// The reading worker answers the requests that arrived together in few
// writes (one, unless a slow machine made it hand the reading over after
// handoffDelay), and answers a lone request at once.
func TestAnswersBatched(t *testing.T) {
	inR, inW := io.Pipe()
	defer inW.Close()
	w := newGatedWriter()
	close(w.gate)
	c := NewConn(inR, w, echo, Options{}, func() { inR.Close() })
	serve(t, c)
	const n = 20
	var batch bytes.Buffer
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&batch, `{"jsonrpc":"2.0","id":%d,"method":"echo","params":%d}`+"\n", i, i)
	}
	if _, err := inW.Write(batch.Bytes()); err != nil {
		t.Fatal(err)
	}
	answers := func() int { return strings.Count(strings.Join(w.recorded(), ""), "\n") }
	eventually(t, "the answers to be written", func() bool { return answers() == n })
	if writes := len(w.recorded()); writes > n/2 {
		t.Fatalf("answers to %d requests sent together took %d writes, want them batched", n, writes)
	}

	// A lone request is answered without waiting for anything else.
	before := len(w.recorded())
	if _, err := io.WriteString(inW, `{"jsonrpc":"2.0","id":99,"method":"echo","params":9}`+"\n"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the lone answer to be written", func() bool { return len(w.recorded()) == before+1 })
}

// Answers held back are written once they reach maxHeld, even while more
// requests wait in the buffer (threat: answers piling up in memory).
func TestHeldAnswersBounded(t *testing.T) {
	inR, inW := io.Pipe()
	defer inW.Close()
	w := newGatedWriter()
	close(w.gate)
	big := json.RawMessage(`"` + strings.Repeat("x", maxHeld/4) + `"`)
	h := handler(map[string]Handler{"big": func(context.Context, string, json.RawMessage) (json.RawMessage, error) { return big, nil }})
	c := NewConn(inR, w, h, Options{}, func() { inR.Close() })
	serve(t, c)
	const n = 16 // 4 maxHeld of answers, from requests sent together
	var batch bytes.Buffer
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&batch, `{"jsonrpc":"2.0","id":%d,"method":"big"}`+"\n", i)
	}
	if _, err := inW.Write(batch.Bytes()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the answers to be written", func() bool { return strings.Count(strings.Join(w.recorded(), ""), "\n") == n })
	// The first write is the worker's own, made once it held maxHeld (or
	// sooner, if a slow machine made it hand the reading over). Later ones
	// may carry answers queued behind a write in progress, which maxQueued
	// bounds instead.
	writes := w.recorded()
	if len(writes[0]) > maxHeld+len(big)+100 {
		t.Errorf("first write holds %d bytes, over maxHeld (%d) and one answer", len(writes[0]), maxHeld)
	}
	if len(writes) < 2 {
		t.Errorf("%d bytes of answers in %d write", len(writes[0]), len(writes))
	}
}
