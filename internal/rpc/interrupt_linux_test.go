package rpc

import (
	"errors"
	"io"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// platformModes are the caller-reads modes TestCallerReadsMode runs
// beside poll and deadline: on Linux, a pipe outside Go's poller.
var platformModes = []string{"blocking"}

// blockingPipe is a pipe left in blocking mode, which Go's poller never
// registers: how the process tier makes a plugin's output pipe on Linux.
func blockingPipe() (r, w *os.File, err error) {
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC); err != nil {
		return nil, nil, err
	}
	return os.NewFile(uintptr(fds[0]), "r"), os.NewFile(uintptr(fds[1]), "w"), nil
}

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
	br, bw, err := blockingPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer br.Close()
	defer bw.Close()
	ir, _ := io.Pipe()
	defer ir.Close()
	cases := []struct {
		name string
		in   io.Reader
		want string
	}{
		{"os pipe", r, "*rpc.pollInput"},
		{"blocking pipe", br, "*rpc.pollInput"},
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
// calls in flight, in Go's poller (poll(2) again for a pipe outside it).
func TestPollInputInterrupt(t *testing.T) {
	for _, c := range []struct {
		name     string
		busy     bool
		blocking bool
	}{
		{"poll(2)", false, false},
		{"Go's poller", true, false},
		{"blocking pipe", false, true},
		{"blocking pipe, busy", true, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			newPipe := os.Pipe
			if c.blocking {
				newPipe = blockingPipe
			}
			r, w, err := newPipe()
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
