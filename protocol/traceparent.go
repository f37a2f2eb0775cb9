package protocol

import "encoding/hex"

// Traceparent is a call's W3C traceparent (docs/PROTOCOL.md, "Trace
// context"), kept as its fields rather than as text: the host writes it
// into a call's params straight from its span context, and a Go plugin
// reads it back without a string or a parser of its own (on a small
// traced call each of those was a tenth of the tracing's cost).
//
// The zero Traceparent is none: the member is left out.
type Traceparent struct {
	TraceID [16]byte
	SpanID  [8]byte
	Flags   byte // the trace flags: sampled (0x01) and random (0x02)
}

// traceparentLen is the length of a version 00 traceparent.
const traceparentLen = len("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")

// IsZero reports whether t is none.
func (t Traceparent) IsZero() bool { return t == Traceparent{} }

// Value returns *t, or none if t is nil.
func (t *Traceparent) Value() Traceparent {
	if t == nil {
		return Traceparent{}
	}
	return *t
}

// AppendText appends t as a version 00 traceparent, without allocating
// when buf has room.
func (t Traceparent) AppendText(buf []byte) ([]byte, error) {
	n := len(buf)
	buf = append(buf, "00-00000000000000000000000000000000-0000000000000000-00"...)
	b := buf[n:]
	hex.Encode(b[3:35], t.TraceID[:])
	hex.Encode(b[36:52], t.SpanID[:])
	hex.Encode(b[53:55], []byte{t.Flags})
	return buf, nil
}

// MarshalText returns t as a version 00 traceparent.
func (t Traceparent) MarshalText() ([]byte, error) {
	return t.AppendText(make([]byte, 0, traceparentLen))
}

// String returns t as a version 00 traceparent.
func (t Traceparent) String() string {
	b, _ := t.MarshalText()
	return string(b)
}

// UnmarshalText sets t from a traceparent; one that is not valid sets t
// to none and is not an error: W3C Trace Context asks a receiver to
// ignore such a header, not to fail the request.
func (t *Traceparent) UnmarshalText(b []byte) error {
	*t, _ = ParseTraceparent(b)
	return nil
}

// ParseTraceparent parses a W3C traceparent: version 00 exactly, or a
// later version's first four fields (whatever follows them is that
// version's); ok is false (and t none) if it is not valid: wrong length,
// version ff, anything but lower-case hex, an all-zero trace or span id.
func ParseTraceparent(b []byte) (t Traceparent, ok bool) {
	if len(b) < traceparentLen || b[2] != '-' || b[35] != '-' || b[52] != '-' {
		return Traceparent{}, false
	}
	var version [1]byte
	if !lowerHex(version[:], b[0:2]) || version[0] == 0xff ||
		(version[0] == 0 && len(b) != traceparentLen) || (len(b) > traceparentLen && b[traceparentLen] != '-') {
		return Traceparent{}, false
	}
	var flags [1]byte
	if !lowerHex(t.TraceID[:], b[3:35]) || !lowerHex(t.SpanID[:], b[36:52]) || !lowerHex(flags[:], b[53:55]) {
		return Traceparent{}, false
	}
	t.Flags = flags[0]
	if t.TraceID == [16]byte{} || t.SpanID == [8]byte{} {
		return Traceparent{}, false
	}
	return t, true
}

// lowerHex decodes src, lower-case hex only, into dst.
func lowerHex(dst, src []byte) bool {
	for i := range dst {
		hi, ok1 := hexDigit(src[2*i])
		lo, ok2 := hexDigit(src[2*i+1])
		if !ok1 || !ok2 {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}
