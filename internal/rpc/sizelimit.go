package rpc

import (
	"errors"
	"fmt"

	"github.com/airlock-go/airlock/protocol"
)

// The message size limit holds in both directions: a Conn refuses to read
// a line longer than Options.MaxMessage (readLine) and refuses to write
// one (send). The peer of a host has the same default, so a message the
// host would send above it was one the plugin had to treat as a violation.
//
// Threat: a host (or an SDK) sending what it would itself refuse to read,
// making the peer end the connection, or buffer without bound.

// ErrTooLarge is the error of a send whose message, encoded, exceeds
// Options.MaxMessage (not counting the newline that ends it, as the
// reader does not). Nothing was sent; the connection goes on.
var ErrTooLarge = errors.New("message too large")

// checkSize returns ErrTooLarge, wrapped with the sizes, when the encoded
// message m of n bytes is over the limit.
func (c *Conn) checkSize(m *Message, n int) error {
	if n <= c.opts.MaxMessage {
		return nil
	}
	return fmt.Errorf("%w: %s of %d bytes exceeds the limit of %d", ErrTooLarge, describe(m), n, c.opts.MaxMessage)
}

// tooLargeAnswer is the answer sent instead of one that was too large to
// send, so that the peer gets an answer rather than waiting for ever.
func tooLargeAnswer(err error) *protocol.Error {
	return &protocol.Error{Code: protocol.CodeInternalError, Message: "answer not sent: " + err.Error()}
}
