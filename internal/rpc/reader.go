package rpc

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"unicode/utf8"

	"github.com/airlock-go/airlock/protocol"
)

// The reader: who reads the input, in the default mode, and how a line
// read becomes a message dispatched to the client side (a response) or
// to the serving side (a request). Caller-reads mode (callerreads.go)
// reads with the same readLine and dispatch.

// Serve reads messages until the input ends or the peer breaks the
// protocol, then closes the connection and waits for running handlers. It
// returns why the connection ended.
func (c *Conn) Serve() error {
	if c.input != nil {
		c.serveIdle()
		c.wg.Wait()
		return c.err
	}
	c.loops.Add(1)
	c.worker(true)
	c.loops.Wait()
	c.wg.Wait()
	return c.err
}

// worker alternates between reading and handling. A worker reads until a
// request arrives and runs it itself, so that a small call is answered
// without waiting for another goroutine to be scheduled (most of the cost
// of a small call). If the request takes longer than handoffDelay, or
// calls the peer, the reader's role passes to an idle worker (or a new
// one) so that other messages keep flowing; otherwise this worker goes on
// reading. Workers are reused, and with them their grown stacks.
func (c *Conn) worker(reading bool) {
	defer c.loops.Done()
	watch := newInlineWatch(c)
	defer watch.stop()
	for {
		if !reading {
			select {
			case <-c.wake:
			case <-c.done:
				return
			}
		}
		run, ok := c.readUntilRequest()
		if !ok {
			return
		}
		handed := new(atomic.Bool)
		c.inline.Store(handed)
		watch.start(handed)
		run(true)
		watch.end()
		c.inline.CompareAndSwap(handed, nil)
		// If nobody took over, this worker is still the reader.
		reading = handed.CompareAndSwap(false, true)
		if !reading {
			// The new reader may already be waiting for input: it would
			// not see this answer held back.
			_ = c.flush()
		}
	}
}

// handOffOnce hands the reader's role over, once per inline request.
func (c *Conn) handOffOnce(handed *atomic.Bool) {
	if handed.CompareAndSwap(false, true) {
		c.handOff()
	}
}

// handOff gives the reader's role to an idle worker, or to a new one.
func (c *Conn) handOff() {
	select {
	case c.wake <- struct{}{}:
	case <-c.done:
	default:
		c.loops.Add(1)
		go c.worker(true)
	}
}

// readUntilRequest reads and dispatches messages until one is a request to
// run; notifications are queued to run in order. ok is false once the
// connection has ended.
func (c *Conn) readUntilRequest() (run job, ok bool) {
	for {
		if c.out.held() && (!c.lineBuffered() || c.paced()) {
			// Answers held back leave before a read that may wait (for
			// input, or for the pace), written as a request's job is run:
			// a write that waits for the peer hands the reading over, or
			// two peers both writing and neither reading would wait for
			// ever.
			return c.flushHeld, true
		}
		if !c.waitPace(context.Background()) {
			return nil, false
		}
		line, err := c.readLine()
		if err != nil {
			c.Close(err)
			return nil, false
		}
		run, notification, verr := c.dispatch(line)
		switch {
		case verr != nil:
			c.Close(verr)
			return nil, false
		case run != nil && notification:
			c.queueNote(run)
		case run != nil:
			return run, true
		}
	}
}

// maxKeptLine bounds the memory a connection keeps for reading long lines
// between them.
const maxKeptLine = 1 << 20

// readLine returns the next line without its line ending, skipping blank
// lines. A line longer than MaxMessage is a violation (threat: a flood with
// no newline growing the host's buffer without bound).
func (c *Conn) readLine() ([]byte, error) {
	for {
		frag, err := c.r.ReadSlice('\n')
		switch {
		case err == nil:
			line := frag
			if c.partial != nil {
				line = append(c.partial, frag...)
				c.partial = nil
				// Dispatch copies what it keeps of a line, so the next long
				// line may reuse this one's memory: a plugin exchanging
				// large messages would otherwise grow a new one each time.
				if cap(line) <= maxKeptLine {
					c.long = line[:0]
				}
			}
			if len(line)-1 > c.opts.MaxMessage {
				return nil, violation(fmt.Sprintf("message of %d bytes exceeds the limit of %d", len(line)-1, c.opts.MaxMessage), line)
			}
			line = bytes.TrimRight(line, "\r\n")
			if len(line) == 0 {
				continue
			}
			return line, nil
		case errors.Is(err, bufio.ErrBufferFull):
			if c.partial == nil {
				c.partial, c.long = c.long, nil
			}
			c.partial = append(c.partial, frag...)
			if len(c.partial) > c.opts.MaxMessage {
				return nil, violation(fmt.Sprintf("message exceeds the limit of %d bytes", c.opts.MaxMessage), c.partial)
			}
		case isInterrupt(err):
			// Interrupted (caller-reads mode): keep what was read for the
			// next reader.
			c.partial = append(c.partial, frag...)
			return nil, err
		case errors.Is(err, io.EOF) && len(c.partial)+len(frag) > 0:
			return nil, violation("stream ended inside a message", append(c.partial, frag...))
		default:
			return nil, err
		}
	}
}

// dispatch handles one incoming line. It returns the handler to run for a
// request, if any; a violation ends the connection.
func (c *Conn) dispatch(line []byte) (run job, notification bool, verr *ViolationError) {
	if line[0] != '{' {
		return nil, false, violation("line is not a JSON-RPC message", line)
	}
	var m Message
	if !c.dec.decodeShaped(line, &m) { // the shapes Airlock writes first (shape.go)
		if err := c.dec.decode(line, &m); err != nil {
			// The decoder reads the whole line and refuses invalid UTF-8
			// anywhere in it: the separate check is needed only to say so.
			if !utf8.Valid(line) {
				return nil, false, violation("message is not valid UTF-8", line)
			}
			return nil, false, violation(invalidJSON(err).Error(), line)
		}
	}
	if m.JSONRPC != protocol.JSONRPC {
		return nil, false, violation(`missing "jsonrpc": "2.0"`, line)
	}
	switch {
	case m.Method != "" && m.Result == nil && m.Error == nil:
		c.charge(len(line))
		run, verr := c.onRequest(m, line)
		return run, m.ID == nil, verr
	case m.Method == "" && m.ID != nil && (m.Result != nil) != (m.Error != nil):
		return nil, false, c.onResponse(&m, line)
	default:
		return nil, false, violation("neither a request nor a response", line)
	}
}
