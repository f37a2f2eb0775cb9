package rpc

import (
	"context"
	"encoding/json"
	"strconv"
)

// A request can name the peer's request during which it is made (the
// message's "origin" member, docs/PROTOCOL.md): a plugin's host call names
// the host's call it is serving. The connection that receives it looks
// the id up among its own calls still waiting for an answer, and gives
// the handler that call's context (Origin): the host parents its span for
// the host call on the call's span.
//
// Threat: a plugin that names a call that is not its own, to attach its
// host calls to another trace, or to read another call's context. The id
// is looked up only among the calls this connection has sent and not yet
// had answered: another plugin's calls (on another connection), a call
// already answered and a made-up id all find nothing, and the request is
// handled without an origin. A plugin never sends a trace context back:
// the most it can do is attribute a host call to the wrong one of its own
// calls in flight.

// requestKey is the context key under which a request is found.
type requestKey struct{}

// originOf returns the id of the peer's request on c that ctx serves (a
// handler's context or one derived from it), or nil.
func (c *Conn) originOf(ctx context.Context) json.RawMessage {
	if len(c.handlers) == 0 {
		return nil // none of the peer's requests is being handled: no walk up ctx
	}
	r, ok := ctx.Value(requestKey{}).(*request)
	if !ok || r.conn != c {
		return nil
	}
	return r.id
}

// origin returns the context of c's call id, still waiting for its
// answer, or nil.
func (c *Conn) origin(id json.RawMessage) context.Context {
	if id == nil {
		return nil
	}
	n, err := strconv.ParseInt(string(id), 10, 64)
	if err != nil {
		return nil // c writes its ids as integers: not one of them
	}
	c.mu.Lock()
	p, ok := c.pending[n]
	c.mu.Unlock()
	if !ok {
		return nil
	}
	return p.ctx
}

// Origin returns the context of the call during which the peer made the
// request that ctx is the context of (a Handler's), if the peer named
// one and it is one of this connection's calls still waiting for an
// answer.
func Origin(ctx context.Context) (context.Context, bool) {
	r, ok := ctx.(*request)
	if !ok || r.origin == nil {
		return nil, false
	}
	return r.origin, true
}
