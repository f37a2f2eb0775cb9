// Package jsonline keeps embedded JSON values on one line. A message of
// Airlock's protocol is one line; a line break in a value embedded in one
// would end the message early and let its tail be read as a message of
// its own (threat: a payload forging messages). Both the connection
// (internal/rpc) and the protocol's own encoders (package protocol) use it.
package jsonline

import (
	"bytes"
	"slices"

	"github.com/go-json-experiment/json/jsontext"
)

// OneLine returns raw with line breaks removed, for embedding in a message
// that was checked by whoever produced it but may still be spread over
// several lines. Inside a valid JSON value a line break can only be
// whitespace, so compacting is enough; an invalid value is left for the
// peer to refuse, but can no longer split the line.
func OneLine(raw []byte) []byte {
	if !HasLineBreak(raw) {
		return raw
	}
	v := slices.Clone(jsontext.Value(raw))
	if v.Compact() == nil {
		return v
	}
	return bytes.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, raw)
}

// HasLineBreak reports whether b holds a CR or LF (two IndexByte scans are
// several times faster than bytes.ContainsAny).
func HasLineBreak(b []byte) bool {
	return bytes.IndexByte(b, '\n') >= 0 || bytes.IndexByte(b, '\r') >= 0
}
