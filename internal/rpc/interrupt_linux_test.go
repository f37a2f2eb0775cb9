package rpc

import (
	"errors"
	"io"
	"os"
	"testing"
)

// On Linux an operating-system pipe is read through poll(2); an input with
// only read deadlines is interrupted by them; anything else is not
// interruptible.
func TestNewInterruptible(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	ir, _ := io.Pipe()
	defer ir.Close()
	cases := []struct {
		name string
		in   io.Reader
		want string
	}{
		{"os pipe", r, "*rpc.pollInput"},
		{"deadlines only", deadlineOnly{r}, "rpc.deadlineInput"},
		{"in-memory pipe", ir, "<nil>"},
	}
	for _, c := range cases {
		in := newInterruptible(c.in, idle)
		if got := typeName(in); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
		if in != nil {
			in.release()
		}
	}
}

func typeName(v any) string {
	if v == nil {
		return "<nil>"
	}
	switch v.(type) {
	case *pollInput:
		return "*rpc.pollInput"
	case deadlineInput:
		return "rpc.deadlineInput"
	}
	return "other"
}

// An interrupt is kept until the reader sees it, whether it came before
// the read or during it; data written meanwhile is read next; the writer's
// end is EOF. The same whether the read waits in poll(2) or, with other
// calls in flight, in Go's poller.
func TestPollInputInterrupt(t *testing.T) {
	for _, c := range []struct {
		name string
		busy bool
	}{{"poll(2)", false}, {"Go's poller", true}} {
		t.Run(c.name, func(t *testing.T) {
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			in := newPollInput(r, func() bool { return c.busy })
			defer in.release()
			buf := make([]byte, 16)

			in.interrupt() // before the read
			in.interrupt() // twice: one wake-up, cleared once
			w.Write([]byte("data"))
			if _, err := in.Read(buf); !in.interrupted(err) {
				t.Fatalf("read after interrupt: %v, want it interrupted", err)
			}
			if n, err := in.Read(buf); err != nil || string(buf[:n]) != "data" {
				t.Fatalf("read after the interrupt was seen: %q, %v", buf[:n], err)
			}

			done := make(chan error, 1)
			go func() {
				_, err := in.Read(buf)
				done <- err
			}()
			in.interrupt() // during the read (or just before: either way it ends)
			if err := recv(t, done, "the read to be interrupted"); !in.interrupted(err) {
				t.Fatalf("read = %v, want it interrupted", err)
			}

			w.Close()
			if _, err := in.Read(buf); !errors.Is(err, io.EOF) {
				t.Fatalf("read after the writer closed: %v, want EOF", err)
			}
		})
	}
}
