//go:build linux

package rpc

import (
	"encoding/binary"
	"io"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// pollInput reads a pipe by waiting in poll(2) on it and on an eventfd
// that interrupt signals.
//
// A thread blocked in poll(2) is woken by the kernel itself when the peer
// writes. Go's own poller does more for each message: a read that fails
// with EAGAIN, the goroutine parked, epoll_wait on some thread, the
// goroutine made runnable, then scheduled, often on another thread. On a
// small call that cost a third of a raw round trip when it was measured
// (bench: raw-pipe against raw-pipe-blocking; poll(2) measured the same as
// a blocking read); docs/BENCHMARKS.md has today's figures.
//
// An input also in Go's poller (an *os.File pipe made by os.Pipe) gains
// less: every message the peer writes also wakes the thread sleeping in
// epoll_wait, for nothing. The process tier therefore gives the plugin's
// output a pipe outside the poller (process.outputPipe), and every read of
// it waits in poll(2).
//
// For an input in the poller, reads go through the poller, interrupted by
// read deadlines, when other calls are in flight (busy reports it): a
// thread blocked in poll(2) keeps its P (Go's scheduler slot) until
// another thread steals its work or the runtime's monitor takes it back,
// and the poller needs no thread for that. Measured on the input outside
// the poller, where there is no choice, 64 calls in flight went no slower
// in poll(2) (docs/BENCHMARKS.md).
//
// Only the holder of the reader's role reads, so the fields used by a
// read need no lock.
type pollInput struct {
	raw  syscall.RawConn
	dl   *deadlineInput // the same input through Go's poller; nil if not in it
	busy func() bool
	efd  int
	fds  [2]unix.PollFd
	buf  []byte // the read in progress
	n    int
	err  error
	full bool                  // the last read filled its buffer
	step func(fd uintptr) bool // in.readFD, bound once
}

// newPollInput returns r read through poll(2), or nil if r has no file
// descriptor.
func newPollInput(r io.Reader, busy func() bool) interruptible {
	sc, ok := r.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil
	}
	in := &pollInput{raw: raw, busy: busy, efd: efd}
	if d, ok := r.(readDeadliner); ok && d.SetReadDeadline(time.Time{}) == nil {
		in.dl = &deadlineInput{r, d}
	}
	in.step = in.readFD
	return in
}

// Read waits until r has data or the input is interrupted. The descriptor
// is used inside RawConn.Read, so closing the file meanwhile does not
// close it under the poll (threat: a reused descriptor number read as the
// plugin's output).
func (in *pollInput) Read(p []byte) (int, error) {
	if in.dl != nil && in.busy() {
		return in.dl.Read(p)
	}
	in.buf, in.n, in.err = p, 0, nil
	if err := in.raw.Read(in.step); err != nil {
		return 0, err
	}
	in.buf = nil
	return in.n, in.err
}

func (in *pollInput) readFD(fd uintptr) bool {
	// After a read that filled the buffer, the rest of a long message is
	// likely there already: read before waiting.
	wait := !in.full
	for {
		if wait && !in.wait(int(fd)) {
			return true
		}
		wait = true
		n, err := unix.Read(int(fd), in.buf)
		switch {
		case err == unix.EINTR, err == unix.EAGAIN:
			continue
		case err != nil:
			in.err = os.NewSyscallError("read", err)
		case n == 0:
			in.err = io.EOF
		}
		in.n = n
		in.full = n > 0 && n == len(in.buf)
		return true
	}
}

// wait blocks until fd can be read (true) or the input is interrupted or
// poll fails (false, with in.err set).
func (in *pollInput) wait(fd int) bool {
	in.fds = [2]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}, {Fd: int32(in.efd), Events: unix.POLLIN}}
	for {
		_, err := unix.Poll(in.fds[:], -1)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			in.err = os.NewSyscallError("poll", err)
			return false
		case in.fds[1].Revents != 0:
			in.err = errInterrupted
			return false
		case in.fds[0].Revents != 0:
			return true
		}
	}
}

// interrupt stops a read of either kind.
func (in *pollInput) interrupt() {
	if in.dl != nil {
		in.dl.interrupt()
	}
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	_, _ = unix.Write(in.efd, one[:])
}

// interrupted clears both ways of interrupting: interrupts signalled
// since were meant for this reader too, and it checks why it may have to
// stop after this.
func (in *pollInput) interrupted(err error) bool {
	if !isInterrupt(err) {
		return false
	}
	if in.dl != nil {
		_ = in.dl.d.SetReadDeadline(time.Time{})
	}
	var count [8]byte
	_, _ = unix.Read(in.efd, count[:])
	return true
}

func (in *pollInput) release() { unix.Close(in.efd) }
