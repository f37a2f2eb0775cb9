package rpc

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"strconv"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/airlock-go/airlock/protocol"
)

// The messages of a call in the shape Airlock's own encoder writes them
// (appendMessage, protocol.CallParams.AppendJSON) are recognised without the
// general decoder: their fixed parts are compared byte for byte, and the
// one value of variable shape (a result, params, a call's input) is
// checked with jsontext.Value.IsValid, as strictly as decode would. On a
// small call this is about half the decoding work of each side.
//
// d.decodeShaped accepts only what d.decode accepts, and decodes it to the
// same Message (TestShapedMatchesDecode); anything else, a message from
// another encoder or one it cannot vouch for, is left to decode.

// shape reads a line from its start, byte by byte.
type shape struct {
	b   []byte
	pos int
}

// lit consumes s, if the line continues with it.
func (s *shape) lit(lit string) bool {
	if !bytes.HasPrefix(s.b[s.pos:], []byte(lit)) {
		return false
	}
	s.pos += len(lit)
	return true
}

// id consumes a request id as Airlock writes it: a non-negative integer
// of at most 18 digits, without a leading zero.
func (s *shape) id() ([]byte, bool) {
	start := s.pos
	for s.pos < len(s.b) && s.pos-start < 19 && '0' <= s.b[s.pos] && s.b[s.pos] <= '9' {
		s.pos++
	}
	n := s.pos - start
	if n == 0 || n > 18 || (n > 1 && s.b[start] == '0') {
		return nil, false
	}
	return s.b[start:s.pos], true
}

// plainString consumes a JSON string without escapes or control
// characters, in valid UTF-8, and returns its contents.
func (s *shape) plainString() ([]byte, bool) {
	if s.pos >= len(s.b) || s.b[s.pos] != '"' {
		return nil, false
	}
	end := bytes.IndexByte(s.b[s.pos+1:], '"')
	if end < 0 || !plainStringValue(s.b[s.pos:s.pos+end+2]) {
		return nil, false
	}
	str := s.b[s.pos+1 : s.pos+1+end]
	s.pos += end + 2
	return str, true
}

// tail returns the value that runs from here to the line's last byte,
// which must be closing braces, depth of them; the value must be valid.
func (s *shape) tail(depth int) (jsontext.Value, bool) {
	end := len(s.b) - depth
	if end <= s.pos {
		return nil, false
	}
	for _, c := range s.b[end:] {
		if c != '}' {
			return nil, false
		}
	}
	v := jsontext.Value(s.b[s.pos:end])
	// Whitespace around the value would be kept by IsValid but not by
	// decode: such a line is decode's.
	if isSpace(v[0]) || isSpace(v[len(v)-1]) || !ValidValue(v) {
		return nil, false
	}
	return v, true
}

// decodeShaped decodes line into m if it has one of the shapes Airlock
// writes: a response with a result, a request or a notification, and for
// a call request its params. It reports whether it did; if not, m is
// untouched.
func (d *decoder) decodeShaped(line []byte, m *Message) bool {
	s := shape{b: line}
	if !s.lit(`{"jsonrpc":"2.0",`) {
		return false
	}
	var id []byte
	if s.lit(`"id":`) {
		var ok bool
		if id, ok = s.id(); !ok || !s.lit(`,`) {
			return false
		}
	}
	if s.lit(`"result":`) {
		result, ok := s.tail(1)
		if !ok || id == nil {
			return false
		}
		*m = Message{JSONRPC: protocol.JSONRPC, ID: id, Result: bytes.Clone(result)}
		return true
	}
	if !s.lit(`"method":`) {
		return false
	}
	method, ok := s.plainString()
	if !ok {
		return false
	}
	var origin []byte
	if s.lit(`,"origin":`) { // a request made during one of the peer's
		if origin, ok = s.id(); !ok {
			return false
		}
		origin = bytes.Clone(origin)
	}
	if !s.lit(`,"params":`) {
		return false
	}
	name := intern(method)
	if name == protocol.MethodCall {
		return d.decodeShapedCall(&s, id, origin, m)
	}
	params, ok := s.tail(1)
	if !ok {
		return false
	}
	*m = Message{JSONRPC: protocol.JSONRPC, ID: id, Method: name, Origin: origin, Params: bytes.Clone(params)}
	return true
}

// decodeShapedCall decodes the params of a call request as
// protocol.CallParams.AppendJSON writes them: name, then phase, timeout_ms,
// traceparent and tracestate if set, then input, last.
func (d *decoder) decodeShapedCall(s *shape, id, origin []byte, m *Message) bool {
	start := s.pos
	var p protocol.CallParams
	if !s.lit(`{"name":`) {
		return false
	}
	name, ok := s.plainString()
	if !ok {
		return false
	}
	if s.lit(`,"phase":`) {
		phase, ok := s.plainString()
		if !ok {
			return false
		}
		p.Phase = intern(phase)
	}
	if s.lit(`,"timeout_ms":`) {
		digits, ok := s.id()
		if !ok {
			return false
		}
		p.TimeoutMS, _ = strconv.ParseInt(string(digits), 10, 64) // at most 18 digits: fits
	}
	if s.lit(`,"traceparent":`) { // trace context (telemetry)
		tp, ok := s.plainString()
		if !ok {
			return false
		}
		p.Traceparent = parseTraceparent(tp) // none if not valid, as decode
	}
	if s.lit(`,"tracestate":`) {
		ts, ok := s.plainString()
		if !ok {
			return false
		}
		p.Tracestate = string(ts)
	}
	if !s.lit(`,"input":`) {
		return false
	}
	inStart := s.pos
	input, ok := s.tail(2)
	if !ok {
		return false
	}
	params := bytes.Clone(s.b[start : len(s.b)-1])
	if string(name) != d.lastName { // a plugin usually gets the same calls over and over
		d.lastName = string(name)
	}
	p.Name = d.lastName
	p.Input = json.RawMessage(params[inStart-start : inStart-start+len(input)])
	*m = Message{JSONRPC: protocol.JSONRPC, ID: id, Method: protocol.MethodCall, Origin: origin, Params: params, call: p, hasCall: true}
	return true
}

// intern returns b as a string, without allocating for the protocol's
// own strings.
func intern(b []byte) string {
	if s, ok := protocolString(b); ok {
		return s
	}
	return string(b)
}

// ValidValue reports whether v is exactly one valid JSON value, as
// strictly as this package decodes (valid UTF-8, no duplicate member
// names), with a fast path for a plain string (plainStringValue). The
// wasm tier checks a guest's result with it.
func ValidValue(v []byte) bool {
	return plainStringValue(v) || jsontext.Value(v).IsValid()
}

// plainStringValue reports whether v is a JSON string without escapes or
// control characters, in valid UTF-8: valid, and checked several times
// faster than IsValid does, eight bytes at a time.
func plainStringValue(v []byte) bool {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return false
	}
	body := v[1 : len(v)-1]
	if bytes.IndexByte(body, '"') >= 0 || bytes.IndexByte(body, '\\') >= 0 {
		return false
	}
	i := 0
	for ; i+8 <= len(body); i += 8 {
		// A byte below 0x20 anywhere in x sets its high bit in this
		// (the classic "has less than" test on eight bytes at once).
		x := binary.LittleEndian.Uint64(body[i:])
		if (x-0x2020202020202020)&^x&0x8080808080808080 != 0 {
			return false
		}
	}
	for ; i < len(body); i++ {
		if body[i] < 0x20 {
			return false
		}
	}
	return utf8.Valid(body)
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }
