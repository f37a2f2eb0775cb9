package rpc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/airlock-go/airlock/internal/jsonline"
	"github.com/airlock-go/airlock/protocol"
)

// The protocol's own messages are decoded and encoded with
// github.com/go-json-experiment/json (the JSON v2 that Go is adopting as
// encoding/json/v2): it checks a payload once, at several times the speed
// of encoding/json, and is strict where strictness is a defence (invalid
// UTF-8 and duplicate member names are errors, and names match exactly,
// case included, so that host and plugin cannot read one message two
// ways). Values belonging to
// the application (hook inputs and outputs) keep encoding/json's
// semantics: they are only checked here, never re-encoded.

// decoder reads messages, reusing its buffers from one message to the
// next; one reader at a time uses it.
type decoder struct {
	in       bytes.Buffer // a *bytes.Buffer is parsed in place, not copied first
	dec      jsontext.Decoder
	lastName string // the last call's name, reused while calls repeat it
}

// sameName reports whether v is the JSON string d.lastName, as written
// without escapes.
func (d *decoder) sameName(v jsontext.Value) bool {
	return d.lastName != "" && len(v) == len(d.lastName)+2 && v[0] == '"' && string(v[1:len(v)-1]) == d.lastName && bytes.IndexByte(v, '\\') < 0
}

// decode parses one line into m. It reads the envelope token by token
// rather than through reflection (a third of the cost on a small call),
// as strictly: one object, valid UTF-8, no member twice, nothing after
// it. Members the protocol does not define are skipped. m.ID is a slice
// of line; everything else m holds is its own.
//
// The params of a call request (method before params, as Airlock writes
// them) are decoded in the same pass into m.call, so that a plugin does
// not read its input a second time: on a large input each pass costs
// more than the pipe.
func (d *decoder) decode(line []byte, m *Message) error {
	return d.object(line, "a message", func(key string, v jsontext.Value) (err error) {
		switch key {
		case "jsonrpc":
			m.JSONRPC, err = stringValue(v, "jsonrpc")
		case "id":
			// A slice of line, not a copy: a response's id is only
			// parsed, and onRequest copies a request's.
			end := int(d.dec.InputOffset())
			m.ID = json.RawMessage(line[end-len(v) : end])
		case "method":
			m.Method, err = stringValue(v, "method")
		case "origin":
			m.Origin = bytes.Clone(v)
		case "params":
			m.Params = bytes.Clone(v)
		case "result":
			m.Result = bytes.Clone(v)
		case "error":
			if v.Kind() != 'n' {
				m.Error = new(protocol.Error)
				err = jsonv2.Unmarshal(v, m.Error)
			}
		}
		return err
	}, func(key string) (bool, error) {
		if key != "params" || m.Method != protocol.MethodCall || d.dec.PeekKind() != '{' {
			return false, nil
		}
		return true, d.callParams(line, m)
	})
}

// callParams reads a call request's params, the next value, into m.Params
// and, if they are well formed, into m.call, whose input is a slice of
// m.Params. Params that are valid JSON but not well-formed call params
// (a name that is not a string, say) leave m.hasCall false: DecodeCallParams
// then says what is wrong, in an answer rather than by ending the
// connection.
func (d *decoder) callParams(line []byte, m *Message) error {
	start := int(d.dec.InputOffset())
	for start < len(line) && strings.IndexByte(" \t\r\n:", line[start]) >= 0 {
		start++
	}
	var p protocol.CallParams
	var inStart, inEnd int
	var bad error
	err := d.members("call params", func(key string, v jsontext.Value) error {
		if key == "name" && d.sameName(v) {
			p.Name = d.lastName // the usual case: no string to allocate
			return nil
		}
		if key == "input" {
			inEnd = int(d.dec.InputOffset())
			inStart = inEnd - len(v)
		}
		if err := setCallMember(&p, key, v); err != nil && bad == nil {
			bad = err
		}
		return nil
	}, nil)
	if err != nil {
		return err
	}
	m.Params = bytes.Clone(line[start:int(d.dec.InputOffset())])
	if p.Name != "" {
		d.lastName = p.Name
	}
	if bad == nil {
		if inEnd > 0 {
			p.Input = json.RawMessage(m.Params[inStart-start : inEnd-start])
		}
		m.call, m.hasCall = p, true
	}
	return nil
}

// object reads data, which must be one JSON object and nothing else, and
// calls member for each member with its name (as memberName gives it) and
// its value, which is valid only during the call. descend, if not nil, is
// asked first for each member: if it returns true, it has read the value
// itself.
func (d *decoder) object(data []byte, what string, member func(key string, v jsontext.Value) error, descend func(key string) (bool, error)) error {
	d.in = *bytes.NewBuffer(data)
	d.dec.Reset(&d.in)
	if err := d.members(what, member, descend); err != nil {
		return err
	}
	if _, err := d.dec.ReadToken(); err != io.EOF {
		if err == nil {
			err = fmt.Errorf("data after %s", what)
		}
		return err
	}
	return nil
}

// members reads the object that comes next, member by member (see object).
func (d *decoder) members(what string, member func(key string, v jsontext.Value) error, descend func(key string) (bool, error)) error {
	tok, err := d.dec.ReadToken()
	if err != nil {
		return err
	}
	if tok.Kind() != '{' {
		return fmt.Errorf("%s must be a JSON object", what)
	}
	for d.dec.PeekKind() != '}' {
		name, err := d.dec.ReadValue()
		if err != nil {
			return err
		}
		key := memberName(name) // before the next read invalidates name
		if descend != nil {
			done, err := descend(key)
			if err != nil {
				return err
			}
			if done {
				continue
			}
		}
		v, err := d.dec.ReadValue()
		if err != nil {
			return err
		}
		if err := member(key, v); err != nil {
			return err
		}
	}
	_, err = d.dec.ReadToken()
	return err
}

// memberName returns the unquoted name. The protocol's own names without
// escapes (all of them, in practice) are returned without allocating.
func memberName(name jsontext.Value) string {
	if bytes.IndexByte(name, '\\') < 0 {
		switch string(name[1 : len(name)-1]) {
		case "jsonrpc":
			return "jsonrpc"
		case "id":
			return "id"
		case "method":
			return "method"
		case "origin":
			return "origin"
		case "params":
			return "params"
		case "result":
			return "result"
		case "error":
			return "error"
		case "name":
			return "name"
		case "phase":
			return "phase"
		case "input":
			return "input"
		case "timeout_ms":
			return "timeout_ms"
		case "traceparent":
			return "traceparent"
		case "tracestate":
			return "tracestate"
		}
		return ""
	}
	s, err := jsontext.AppendUnquote(nil, name)
	if err != nil {
		return ""
	}
	return string(s)
}

// stringValue returns the JSON string v unquoted; the protocol's own
// values are returned without allocating.
func stringValue(v jsontext.Value, what string) (string, error) {
	if v.Kind() != '"' {
		return "", fmt.Errorf("%q must be a string", what)
	}
	if bytes.IndexByte(v, '\\') < 0 {
		if s, ok := protocolString(v[1 : len(v)-1]); ok {
			return s, nil
		}
	}
	s, err := jsontext.AppendUnquote(nil, v)
	return string(s), err
}

// protocolString returns b as one of the protocol's own strings (its
// version, methods and hook phases), which then cost no allocation.
func protocolString(b []byte) (string, bool) {
	switch string(b) {
	case protocol.JSONRPC:
		return protocol.JSONRPC, true
	case protocol.MethodCall:
		return protocol.MethodCall, true
	case protocol.MethodInitialize:
		return protocol.MethodInitialize, true
	case protocol.MethodShutdown:
		return protocol.MethodShutdown, true
	case protocol.MethodCancel:
		return protocol.MethodCancel, true
	case "before":
		return "before", true
	case "define":
		return "define", true
	case "after":
		return "after", true
	}
	return "", false
}

// Unmarshal decodes a protocol value (params or result of Airlock's own
// methods) into v, as strictly as messages are decoded.
func Unmarshal(data []byte, v any) error {
	return jsonv2.Unmarshal(data, v)
}

// Marshal encodes a protocol value. Raw values inside it are checked and
// compacted onto one line.
func Marshal(v any) (json.RawMessage, error) {
	return jsonv2.Marshal(v)
}

// CheckRaw returns raw fit to travel inside a message: it must be exactly
// one valid JSON value (valid UTF-8, no duplicate member names); a value
// spread over several lines is compacted onto one, in a copy (threat: a
// newline in an embedded value would split the message and let its tail
// be read as a message of its own).
func CheckRaw(raw []byte) (json.RawMessage, error) {
	v := jsontext.Value(raw)
	if !ValidValue(v) {
		// Decode it only to learn what is wrong.
		var x jsontext.Value
		if err := jsonv2.Unmarshal(raw, &x); err != nil {
			return nil, invalidJSON(err)
		}
		return nil, errors.New("invalid JSON")
	}
	if jsonline.HasLineBreak(raw) {
		v = slices.Clone(v)
		if err := v.Compact(); err != nil {
			return nil, invalidJSON(err)
		}
	}
	return json.RawMessage(v), nil
}

func invalidJSON(err error) error {
	return fmt.Errorf("invalid JSON: %s", strings.TrimPrefix(err.Error(), "jsontext: "))
}

// appender is a value that encodes itself faster than Marshal would.
type appender interface {
	AppendJSON(buf []byte) ([]byte, error)
}

// decoders are reused by DecodeCallParams, which handlers call
// concurrently.
var decoders = sync.Pool{New: func() any { return new(decoder) }}

// DecodeCallParams decodes the params of a call request, as strictly as
// Unmarshal and without reflection. The input it returns is a slice of
// raw. A plugin's connection has usually decoded them already, in the same
// pass as the message (DecodedCallParams).
func DecodeCallParams(raw []byte) (protocol.CallParams, error) {
	d := decoders.Get().(*decoder)
	defer func() {
		d.in = bytes.Buffer{} // keep nothing of raw in the pool
		d.dec.Reset(&d.in)
		decoders.Put(d)
	}()
	var p protocol.CallParams
	err := d.object(raw, "call params", func(key string, v jsontext.Value) error {
		if key == "input" {
			// A slice of raw, not a copy: the value just read ends where
			// the decoder stands.
			end := int(d.dec.InputOffset())
			v = jsontext.Value(raw[end-len(v) : end])
		}
		return setCallMember(&p, key, v)
	}, nil)
	return p, err
}

// setCallMember sets the member key of p to v. An input is kept as it
// is: v must stay valid.
func setCallMember(p *protocol.CallParams, key string, v jsontext.Value) (err error) {
	switch key {
	case "name":
		p.Name, err = stringValue(v, "name")
	case "phase":
		p.Phase, err = stringValue(v, "phase")
	case "traceparent":
		if v.Kind() != '"' {
			return errors.New(`"traceparent" must be a string`)
		}
		// Escapes are decoded first: not a valid traceparent, then none.
		var tp []byte
		if tp, err = jsontext.AppendUnquote(nil, v); err == nil {
			p.Traceparent = parseTraceparent(tp)
		}
	case "tracestate":
		p.Tracestate, err = stringValue(v, "tracestate")
	case "input":
		p.Input = json.RawMessage(v)
	case "timeout_ms":
		if v.Kind() != '0' {
			return errors.New(`"timeout_ms" must be a number`)
		}
		p.TimeoutMS, err = strconv.ParseInt(string(v), 10, 64)
	}
	return err
}
