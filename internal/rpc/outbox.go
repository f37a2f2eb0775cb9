package rpc

import (
	"bytes"
	"context"
	"fmt"
	"sync"
)

// The outbox: messages written at the same time leave in one write.
//
// A write(2) on a pipe costs more than encoding a small message, and with
// many calls in flight each side used to pay one per message. Here a
// goroutine that finds another writing leaves its message queued behind
// that write, and the writer writes everything queued before it stops: one
// system call for all the messages that came meanwhile. A lone writer
// writes at once, as before.
//
// The reading worker also holds back the answers of the requests it ran
// itself while a whole next message is already in its buffer, and writes
// them all before it reads from the pipe again (a peer that sends many
// requests at once gets their answers in one write). It never holds an
// answer back while waiting for input, so a peer waiting for an answer
// before it sends more is never kept waiting; and it writes them as it
// runs a request, so that if the write waits for the peer to read, the
// reading passes to another worker (see Conn.worker).
type outbox struct {
	mu      sync.Mutex
	buf     []byte        // encoded messages waiting to be written
	spare   []byte        // the previous write's buffer, for reuse
	writing bool          // someone is writing, and writes buf before it stops
	drained chan struct{} // closed when a write ends; made by a writer waiting for room
}

// maxHeld is how many bytes of answers the reading worker may hold back
// before it writes them anyway (threat: a peer sending a buffer full of
// small requests with large answers, making the answers pile up in
// memory). It costs nothing measurable: batches of small answers stay
// well under it.
const maxHeld = 64 << 10

// maxQueued is how many bytes may wait behind a write in progress before
// more writers wait too (threat: a peer that stops reading making the
// queue grow without bound).
const maxQueued = 1 << 20

// write sends one message, or queues it behind the write in progress. It
// sends nothing when ctx has already ended, and gives up when ctx ends
// while it waits for room in the queue.
func (c *Conn) write(ctx context.Context, m *Message) error { return c.send(ctx, m, true) }

// send is write; with flush false it only queues m, and someone must
// call flush later.
func (c *Conn) send(ctx context.Context, m *Message, flush bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	o := &c.out
	o.mu.Lock()
	for o.writing && len(o.buf) >= maxQueued {
		if o.drained == nil {
			o.drained = make(chan struct{})
		}
		drained := o.drained
		o.mu.Unlock()
		select {
		case <-drained:
		case <-ctx.Done():
			return ctx.Err()
		case <-c.done:
			return c.err
		}
		o.mu.Lock()
	}
	select {
	case <-c.done:
		o.mu.Unlock()
		return c.err
	default:
	}
	start := len(o.buf)
	buf, err := appendMessage(o.buf, m)
	if err != nil {
		o.mu.Unlock()
		return fmt.Errorf("encode %s: %w", describe(m), err)
	}
	// The limit holds for what we send too (sizelimit.go); o.buf keeps
	// its length, so the message is dropped from the queue.
	if err := c.checkSize(m, len(buf)-start); err != nil {
		o.mu.Unlock()
		return err
	}
	o.buf = append(buf, '\n')
	if o.writing || (!flush && len(o.buf) < maxHeld) {
		o.mu.Unlock()
		return nil
	}
	return c.writeQueued()
}

// flush writes the messages queued, unless a write in progress will.
func (c *Conn) flush() error {
	o := &c.out
	o.mu.Lock()
	if o.writing || len(o.buf) == 0 {
		o.mu.Unlock()
		return nil
	}
	return c.writeQueued()
}

// writeQueued writes until nothing is queued. c.out.mu is held, and
// released.
func (c *Conn) writeQueued() error {
	o := &c.out
	o.writing = true
	for len(o.buf) > 0 {
		buf := o.buf
		o.buf, o.spare = o.spare[:0], nil
		o.mu.Unlock()
		_, err := c.w.Write(buf)
		o.mu.Lock()
		if cap(buf) <= 64<<10 {
			o.spare = buf[:0]
		}
		if o.drained != nil {
			close(o.drained)
			o.drained = nil
		}
		if err != nil {
			o.writing = false
			o.buf = o.buf[:0]
			o.mu.Unlock()
			c.Close(fmt.Errorf("write: %w", err))
			return c.err
		}
	}
	o.writing = false
	o.mu.Unlock()
	return nil
}

// held reports whether messages are queued with nobody writing them.
func (o *outbox) held() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.buf) > 0 && !o.writing
}

// flushJob writes the answers the reading worker held back (job's
// signature, for the worker to run it as it runs a request).
func (c *Conn) flushJob(bool) { _ = c.flush() }

// lineBuffered reports whether a whole message is already in the read
// buffer, so that the next read will not wait on the pipe. Only the reader
// calls it.
func (c *Conn) lineBuffered() bool {
	n := c.r.Buffered()
	if n == 0 {
		return false
	}
	b, _ := c.r.Peek(n)
	return bytes.IndexByte(b, '\n') >= 0
}
