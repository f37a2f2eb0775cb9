package rpc

import (
	"errors"
	"io"
	"os"
	"time"
)

// An interruptible input is one whose blocked read another goroutine can
// make return: what caller-reads mode needs to take the reader's role
// back from whoever holds it.
type interruptible interface {
	io.Reader
	// interrupt makes the read in progress, or the next one, return an
	// error for which interrupted reports true.
	interrupt()
	// interrupted reports whether err is such an error, and if so makes
	// the input ready to read again.
	interrupted(err error) bool
	// release frees what the input holds once nobody reads it any more.
	release()
}

// newInterruptible returns r made interruptible, or nil if it cannot be:
// on Linux, a pipe whose reads wait in poll(2) beside an eventfd while
// busy reports false (see interrupt_linux.go); elsewhere, an input with
// read deadlines.
func newInterruptible(r io.Reader, busy func() bool) interruptible {
	if in := newPollInput(r, busy); in != nil {
		return in
	}
	if d, ok := r.(readDeadliner); ok && d.SetReadDeadline(time.Time{}) == nil {
		return deadlineInput{r, d}
	}
	return nil
}

// errInterrupted ends a read that interrupt stopped (poll(2) mode).
var errInterrupted = errors.New("read interrupted")

// isInterrupt reports whether a read ended because of interrupt.
func isInterrupt(err error) bool {
	return errors.Is(err, errInterrupted) || errors.Is(err, os.ErrDeadlineExceeded)
}

// readDeadliner is an input whose blocked reads a read deadline ends.
type readDeadliner interface {
	SetReadDeadline(time.Time) error
}

// deadlineInput interrupts reads with a read deadline in the past.
type deadlineInput struct {
	io.Reader
	d readDeadliner
}

func (in deadlineInput) interrupt() { _ = in.d.SetReadDeadline(time.Unix(1, 0)) }

func (in deadlineInput) interrupted(err error) bool {
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		return false
	}
	_ = in.d.SetReadDeadline(time.Time{})
	return true
}

func (deadlineInput) release() {}
