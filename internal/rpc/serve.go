package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"

	"github.com/airlock-go/airlock/protocol"
)

// job runs the handler of one of the peer's requests or notifications and
// sends the answer. inline is true when the reading worker runs it: the
// answer may then wait for the worker's next flush (outbox.go).
type job func(inline bool)

// onRequest makes the job that handles request (or notification) m, if
// it is to run: a $/cancel is acted on at once, and a request over the
// limit is answered at once.
func (c *Conn) onRequest(m Message, line []byte) (job, *ViolationError) {
	// The id is a slice of line (decoder.decode): the answer needs a copy.
	m.ID = bytes.Clone(m.ID)
	if m.Method == protocol.MethodCancel {
		c.onCancel(m.Params)
		return nil, nil
	}
	if m.ID != nil && !validID(m.ID) {
		return nil, violation("request id must be a number or a string", line)
	}
	if c.handler == nil {
		if m.ID != nil {
			c.reply(m.ID, nil, protocol.Errorf(protocol.CodeMethodNotFound, "method %q not found", m.Method), true)
		}
		return nil, nil
	}
	// A notification cannot be cancelled on its own: it ends with the
	// connection.
	ctx := c.baseCtx
	var r *request
	key := string(m.ID)
	if m.ID != nil {
		r = &request{conn: c, id: m.ID, call: m.call, hasCall: m.hasCall, origin: c.origin(m.Origin)}
		c.mu.Lock()
		if _, dup := c.running[key]; dup {
			c.mu.Unlock()
			return nil, violation("request id already in use", line)
		}
		c.running[key] = r
		c.mu.Unlock()
		if c.Err() != nil {
			r.end(context.Canceled) // Close may have missed it
		}
		ctx = r
	}
	select {
	case c.handlers <- struct{}{}:
	default:
		if m.ID != nil {
			c.finish(key, r)
			c.reply(m.ID, nil, protocol.Errorf(protocol.CodeBusy, "too many requests in flight (limit %d)", c.opts.MaxHandlers), true)
		}
		return nil, nil
	}
	c.wg.Add(1)
	return func(inline bool) {
		defer c.wg.Done()
		// Free the id and the slot before answering: the peer may reuse
		// the id, or send its next request, as soon as it has the answer.
		result, err := func() (json.RawMessage, error) {
			// The request's slot passes to one of the answers' slots
			// before it is freed. Threat: a peer that stops reading
			// while it keeps sending requests: each answer then waits
			// for room in the outbox, and with the slot already free
			// the next request would start another handler, without
			// bound (goroutines and answers piling up in memory).
			defer func() { c.answers <- struct{}{}; <-c.handlers }()
			if r != nil {
				defer c.finish(key, r)
			}
			return c.handler(ctx, m.Method, m.Params)
		}()
		defer func() { <-c.answers }()
		if m.ID != nil {
			// Run inline by the reading worker, the answer may wait for
			// the worker's flush (outbox.go).
			c.reply(m.ID, result, err, !inline)
		}
	}, nil
}

// onCancel ends the context of the request a $/cancel names, if it is
// still running.
func (c *Conn) onCancel(params json.RawMessage) {
	var p protocol.CancelParams
	if Unmarshal(params, &p) != nil {
		return
	}
	c.mu.Lock()
	r := c.running[string(p.ID)]
	c.mu.Unlock()
	if r != nil {
		r.end(context.Canceled)
	}
}

// finish forgets request key, handled, and ends its context. Its
// deadline, if any, goes with it: the timer finds it no more.
func (c *Conn) finish(key string, r *request) {
	c.mu.Lock()
	delete(c.running, key)
	c.mu.Unlock()
	r.end(context.Canceled)
}

func validID(id json.RawMessage) bool {
	if len(id) == 0 {
		return false
	}
	switch id[0] {
	case '"':
		return true
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return true
	}
	return false
}

// reply answers request id; with flush false it only queues the answer
// (see outbox.go).
func (c *Conn) reply(id json.RawMessage, result json.RawMessage, err error, flush bool) {
	m := Message{JSONRPC: protocol.JSONRPC, ID: id}
	if err != nil {
		var re *protocol.Error
		if !errors.As(err, &re) {
			re = &protocol.Error{Code: protocol.CodeFailed, Message: err.Error()}
		}
		m.Error = re
	} else {
		if result == nil {
			result = json.RawMessage("null")
		}
		m.Result = result
	}
	if err := c.send(context.Background(), &m, flush); errors.Is(err, ErrTooLarge) {
		// An answer over the limit becomes an error the peer can read
		// (sizelimit.go).
		m.Result, m.Error = nil, tooLargeAnswer(err)
		_ = c.send(context.Background(), &m, flush)
	}
}

// queueNote queues the handler of a notification. Notifications run one
// after another, in the order they came, on one goroutine: a plugin's log
// lines stay in order however long one takes to handle.
func (c *Conn) queueNote(run job) {
	c.notesOnce.Do(func() {
		c.wg.Add(1)
		go c.runNotes()
	})
	// Never blocks: each queued job holds one of MaxHandlers slots.
	c.notes <- run
}

// runNotes runs the peer's notifications in order until the connection
// ends, then the ones still queued.
func (c *Conn) runNotes() {
	defer c.wg.Done()
	for {
		select {
		case run := <-c.notes:
			run(false)
		case <-c.done:
			for {
				select {
				case run := <-c.notes:
					run(false)
				default:
					return
				}
			}
		}
	}
}
