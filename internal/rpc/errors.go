package rpc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
)

// Errors that end a connection.
var (
	// ErrClosed is returned by calls on a connection that has ended.
	ErrClosed = errors.New("connection closed")
	// ErrOverdue means the peer neither answered nor acknowledged a
	// cancelled request within the grace period.
	ErrOverdue = errors.New("ignored cancellation")
	// ErrNotSent wraps the error of a Call on a connection that had
	// already ended: the request never reached the peer.
	ErrNotSent = errors.New("request not sent")
)

// ErrTimeout is returned by CallTimeout when the peer has not answered in
// time. It matches context.DeadlineExceeded with errors.Is.
var ErrTimeout error = timeoutError{}

type timeoutError struct{}

func (timeoutError) Error() string   { return "no answer in time" }
func (timeoutError) Is(t error) bool { return t == context.DeadlineExceeded }

// ViolationError is a message that breaks the protocol. The connection ends
// with it: a peer that breaks the protocol is not trusted further.
type ViolationError struct {
	// Reason says which rule the message broke.
	Reason string
	// Prefix quotes the start of the offending line, at most 80 bytes.
	Prefix string
}

func (e *ViolationError) Error() string {
	if e.Prefix == "" {
		return "protocol violation: " + e.Reason
	}
	return fmt.Sprintf("protocol violation: %s: %q", e.Reason, e.Prefix)
}

func violation(reason string, line []byte) *ViolationError {
	const max = 80
	p := line
	if len(p) > max {
		p = p[:max]
	}
	return &ViolationError{Reason: reason, Prefix: string(bytes.ToValidUTF8(p, []byte("?")))}
}
