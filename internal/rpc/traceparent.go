package rpc

import "github.com/airlock-go/airlock/protocol"

// parseTraceparent returns the traceparent b, or nil if it is not valid
// (W3C Trace Context asks a receiver to ignore such a header, not to fail
// the request).
func parseTraceparent(b []byte) *protocol.Traceparent {
	t, ok := protocol.ParseTraceparent(b)
	if !ok {
		return nil
	}
	return &t
}
