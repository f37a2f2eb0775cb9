package rpc

import (
	"context"
	"io"
	"time"
)

// Caller-reads mode (Options.CallerReads).
//
// In the default mode one goroutine reads the input and hands each answer
// to the goroutine that made the call. That hand-off was a large part of
// the cost of a small call: waking a parked goroutine wakes an operating
// system thread, on the critical path of every call. In caller-reads mode the goroutines
// waiting for answers read the input themselves, one at a time (a leader
// and its followers): the one holding the reader's role reads every
// message, delivers the answers that belong to others, and stops once its
// own has come, passing the role on. A lone caller so reads its own answer,
// as a raw pipe round trip does.
//
// The peer may also send requests when no call is in flight (the protocol
// allows a plugin to call the host at any time), so a background reader
// takes the role once no call has run for idleDelay; a call that then
// finds it reading interrupts it. The input must therefore be
// interruptible (interrupt.go): on Linux, any file, read through poll(2)
// beside an eventfd; elsewhere, an input with read deadlines (an *os.File
// on a pollable pipe). Otherwise the Conn stays in the default mode.
//
// Requests read in this mode run on goroutines of their own, so that no
// reader is held up by a handler; notifications run one after another, in
// the order they came, on one goroutine, as in the default mode.

// idleDelay is how long no call must have been in flight before the
// background reader takes over reading.
const idleDelay = time.Millisecond

// setupCallerReads turns the mode on if r can be interrupted.
func (c *Conn) setupCallerReads(r io.Reader) {
	in := newInterruptible(r, func() bool { return c.calls.Load() > 1 })
	if in == nil {
		return
	}
	c.input = in
	c.r.Reset(in)
	c.tok = make(chan struct{}, 1)
	c.tok <- struct{}{}
	c.epoch = time.Now()
	if c.pace != nil {
		c.paceWake = make(chan struct{}, 1)
	}
}

// interrupt makes the read in progress, if any, return at once, and so a
// wait for the pace before a read (pace.go).
func (c *Conn) interrupt() {
	c.input.interrupt()
	if c.paceWake != nil {
		c.wakePace()
	}
}

// interrupted reports whether a read ended because of interrupt, and
// readies the input for the next read. An interrupt meant for an earlier
// reader is harmless: the reader only checks why it might have to stop,
// and reads on.
func (c *Conn) interrupted(err error) bool { return c.input.interrupted(err) }

// releaseInput frees the input once the connection has ended: whoever
// takes the reader's role after the end checks it before reading, so once
// this holds the role nobody reads again. It keeps the role.
func (c *Conn) releaseInput() {
	<-c.tok
	c.input.release()
}

// beginCall and endCall count the calls in flight, for the background
// reader to know when the connection is idle.
func (c *Conn) beginCall() {
	c.calls.Add(1)
	if c.bgReading.Load() {
		c.interrupt()
	}
}

func (c *Conn) endCall() {
	// Only the last call out reads the clock: with many in flight, the
	// others need not. (Two ending together may both skip it; the
	// background reader then takes over a little early, and a new call
	// interrupts it as usual.)
	if c.calls.Load() == 1 {
		c.lastCall.Store(int64(time.Since(c.epoch)))
	}
	c.calls.Add(-1)
}

// lead reads and dispatches messages until ch holds an answer, ctx ends or
// the connection does. The caller holds the reader's role.
func (c *Conn) lead(ctx context.Context, ch chan answer) {
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, c.interrupt)
		defer stop()
	}
	for len(ch) == 0 && ctx.Err() == nil {
		select {
		case <-c.done:
			return
		default:
		}
		if !c.readOne(ctx) {
			return
		}
	}
}

// readOne reads one message and dispatches it, once the peer's requests
// are within their rate (pace.go) or ctx has ended. It returns false when
// the connection has ended.
func (c *Conn) readOne(ctx context.Context) bool {
	if !c.waitPace(ctx) {
		return c.Err() == nil // interrupted: as a read would be
	}
	line, err := c.readLine()
	switch {
	case err == nil:
	case c.interrupted(err):
		return true
	default:
		c.Close(err)
		return false
	}
	run, notification, verr := c.dispatch(line)
	if verr != nil {
		c.Close(verr)
		return false
	}
	switch {
	case run == nil:
	case notification:
		c.queueNote(run)
	default:
		go run(false)
	}
	return true
}

// serveIdle is the background reader: it reads while no call is in flight
// and gives the role up as soon as one is.
func (c *Conn) serveIdle() {
	timer := time.NewTimer(idleDelay)
	defer timer.Stop()
	for {
		if !c.waitIdle(timer) {
			return
		}
		select {
		case <-c.tok:
		case <-c.done:
			return
		}
		select {
		case <-c.done:
			c.tok <- struct{}{}
			return
		default:
		}
		// With beginCall, a Dekker handshake: either the call sees
		// bgReading and interrupts, or this sees the call and does not
		// read.
		c.bgReading.Store(true)
		ok := true
		if c.calls.Load() == 0 {
			ok = c.readOne(context.Background())
		}
		c.bgReading.Store(false)
		c.tok <- struct{}{}
		if !ok {
			return
		}
	}
}

// waitIdle returns true once no call has been in flight for idleDelay, or
// false when the connection ends.
func (c *Conn) waitIdle(timer *time.Timer) bool {
	for {
		wait := idleDelay
		if c.calls.Load() == 0 {
			since := time.Since(c.epoch) - time.Duration(c.lastCall.Load())
			if since >= idleDelay {
				return true
			}
			wait = idleDelay - since
		}
		timer.Reset(wait)
		select {
		case <-timer.C:
		case <-c.done:
			return false
		}
	}
}
