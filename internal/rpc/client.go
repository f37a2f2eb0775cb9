package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/airlock-go/airlock/protocol"
)

// pendingCall is a call waiting for its answer.
type pendingCall struct {
	ch  chan answer
	at  time.Time       // its deadline; zero if none
	ctx context.Context // the caller's, for the peer's requests made during it (origin.go)
}

// answer is what a call waiting for its response receives: the response's
// result or error, or word that its deadline passed. It travels by value,
// so that the message it came in is not kept (nor allocated) for it.
type answer struct {
	result  json.RawMessage
	err     *protocol.Error
	expired bool
}

// Call sends a request and waits for its response. When ctx ends first, it
// sends $/cancel and returns ctx's error; if the peer then answers nothing
// within the grace period, the connection is closed with ErrOverdue.
// params given as a json.RawMessage must be valid JSON; anything else is
// encoded with encoding/json.
func (c *Conn) Call(ctx context.Context, method string, params any) (json.RawMessage, error) {
	return c.call(ctx, 0, method, params)
}

// CallTimeout is Call with a deadline: if the peer has not answered within
// timeout, the call fails with ErrTimeout and, as when ctx ends, the peer is
// sent $/cancel and given the grace period to answer (threat: a plugin that
// never answers holding its caller, and its slot, for ever). timeout <= 0
// means no deadline but ctx's.
func (c *Conn) CallTimeout(ctx context.Context, timeout time.Duration, method string, params any) (json.RawMessage, error) {
	return c.call(ctx, timeout, method, params)
}

func (c *Conn) call(ctx context.Context, timeout time.Duration, method string, params any) (json.RawMessage, error) {
	// Params that encode themselves are encoded straight into the outgoing
	// buffer, not into one of their own first: one copy of a large input
	// fewer.
	a, direct := params.(appender)
	var raw json.RawMessage
	if !direct {
		var err error
		if raw, err = marshalParams(params); err != nil {
			return nil, err
		}
	}
	id := c.nextID.Add(1)
	var ch chan answer
	select {
	case ch = <-c.chans:
	default:
		ch = make(chan answer, 1)
	}
	c.mu.Lock()
	select {
	case <-c.done:
		c.mu.Unlock()
		return nil, fmt.Errorf("%w: %w", ErrNotSent, c.err)
	default:
	}
	p := pendingCall{ch: ch, ctx: ctx}
	if timeout > 0 {
		p.at = time.Now().Add(timeout)
		c.armDeadline(p.at)
	}
	c.pending[id] = p
	c.mu.Unlock()

	// A request running on the reading worker that calls the peer needs
	// someone else to read the answer.
	if h := c.inline.Load(); h != nil {
		c.handOffOnce(h)
	}
	if c.input != nil {
		c.beginCall()
		defer c.endCall()
	}
	if err := c.write(ctx, &Message{JSONRPC: protocol.JSONRPC, numID: id, Method: method, Origin: c.originOf(ctx), Params: raw, appendParams: a}); err != nil {
		c.forget(id)
		if errors.Is(err, c.Err()) {
			err = fmt.Errorf("%w: %w", ErrNotSent, err)
		}
		return nil, err
	}
	ans, err := c.await(ctx, id, ch)
	if err != nil {
		return nil, err // ch may yet get an answer: not reused
	}
	select {
	case c.chans <- ch: // emptied, and nobody else sends on it any more
	default:
	}
	switch {
	case ans.expired:
		return nil, ErrTimeout
	case ans.err != nil:
		return nil, ans.err
	}
	return ans.result, nil
}

// await waits for the answer to request id. In caller-reads mode it leads
// the reading when no one else does (callerreads.go); in the default mode
// c.tok is nil, so that case never fires and the reading worker delivers
// the answer.
func (c *Conn) await(ctx context.Context, id int64, ch chan answer) (answer, error) {
	for {
		select {
		case a := <-ch:
			return a, nil
		case <-c.tok:
			c.lead(ctx, ch)
			c.tok <- struct{}{}
			// The answer, the end of ctx or of the connection: the next
			// turn of the loop sees which.
			select {
			case a := <-ch:
				return a, nil
			default:
			}
		case <-c.done:
			c.forget(id)
			return answer{}, c.err
		case <-ctx.Done():
			c.abandon(id)
			return answer{}, ctx.Err()
		}
	}
}

// onResponse delivers a response to the call waiting for it.
func (c *Conn) onResponse(m *Message, line []byte) *ViolationError {
	id, err := strconv.ParseInt(string(m.ID), 10, 64)
	if err != nil {
		return violation("response id is not one we sent", line)
	}
	c.mu.Lock()
	p, ok := c.pending[id]
	if ok {
		c.unpend(id)
	}
	_, late := c.overdue[id]
	if late {
		delete(c.overdue, id)
	}
	c.mu.Unlock()
	switch {
	case ok:
		p.ch <- answer{result: m.Result, err: m.Error}
	case late:
		// The answer to a request we gave up on: drop it.
	default:
		// Threat: a peer answering requests never made, or answering one
		// twice, is forging or confused; either way it is not trusted.
		return violation("response to an unknown or already answered id", line)
	}
	return nil
}

// unpend removes call id from the pending calls. c.mu is held.
func (c *Conn) unpend(id int64) { delete(c.pending, id) }

func (c *Conn) forget(id int64) {
	c.mu.Lock()
	c.unpend(id)
	c.mu.Unlock()
}

// abandon gives up on request id: it tells the peer, and gives it the
// grace period to answer, after which the connection is closed
// (threat: a plugin that ignores cancellation would otherwise hold its
// resources, and its share of the host's, for ever).
func (c *Conn) abandon(id int64) {
	c.mu.Lock()
	if _, ok := c.pending[id]; !ok {
		c.mu.Unlock()
		return // answered in the meantime
	}
	c.unpend(id)
	if at := c.giveUp(id); !at.IsZero() {
		c.armDeadline(at)
	}
	c.mu.Unlock()
	c.sendCancel(id)
}

// giveUp records that request id, no longer pending, was given up on,
// and returns the end of its grace period (zero when there is no grace
// limit), by which the timer must fire (deadlines.go). The overdue entry
// lets the late answer be dropped. c.mu is held.
func (c *Conn) giveUp(id int64) time.Time {
	var at time.Time
	if c.opts.CancelGrace > 0 {
		at = time.Now().Add(c.opts.CancelGrace)
	}
	c.overdue[id] = at
	return at
}

// sendCancel tells the peer, without waiting, that request id was given
// up on.
func (c *Conn) sendCancel(id int64) {
	idRaw := json.RawMessage(strconv.AppendInt(nil, id, 10))
	go func() {
		ctx, cancel := c.baseCtx, context.CancelFunc(func() {})
		if c.opts.CancelGrace > 0 {
			ctx, cancel = context.WithTimeout(c.baseCtx, c.opts.CancelGrace)
		}
		defer cancel()
		_ = c.Notify(ctx, protocol.MethodCancel, protocol.CancelParams{ID: idRaw})
	}()
}

// Notify sends a notification, which gets no answer.
func (c *Conn) Notify(ctx context.Context, method string, params any) error {
	raw, err := marshalParams(params)
	if err != nil {
		return err
	}
	return c.write(ctx, &Message{JSONRPC: protocol.JSONRPC, Method: method, Params: raw})
}

func marshalParams(params any) (json.RawMessage, error) {
	switch p := params.(type) {
	case nil:
		return nil, nil
	case json.RawMessage:
		return p, nil
	case appender:
		return p.AppendJSON(nil)
	}
	raw, err := Marshal(params)
	if err != nil {
		return nil, fmt.Errorf("encode params: %w", err)
	}
	return raw, nil
}
