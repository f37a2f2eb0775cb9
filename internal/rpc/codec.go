package rpc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// The protocol's own messages are decoded and encoded with
// github.com/go-json-experiment/json (the JSON v2 that Go is adopting as
// encoding/json/v2): it checks a payload once, at several times the speed
// of encoding/json, and is strict where strictness is a defence (invalid
// UTF-8, duplicate member names and case-folded names are errors, so that
// host and plugin cannot read one message two ways). Values belonging to
// the application (hook inputs and outputs) keep encoding/json's
// semantics: they are only checked here, never re-encoded.

// decodeMessage parses one line into m.
func decodeMessage(line []byte, m *Message) error {
	return jsonv2.Unmarshal(line, m)
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
	if !v.IsValid() {
		// Decode it only to learn what is wrong.
		var x jsontext.Value
		if err := jsonv2.Unmarshal(raw, &x); err != nil {
			return nil, invalidJSON(err)
		}
		return nil, errors.New("invalid JSON")
	}
	if hasLineBreak(raw) {
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

// oneLine returns raw with line breaks removed, for embedding in a message
// that was checked by whoever produced it but may still be spread over
// several lines. Inside a valid JSON value a line break can only be
// whitespace, so compacting is enough; an invalid value is left for the
// peer to refuse, but can no longer split the line.
func oneLine(raw []byte) []byte {
	if !hasLineBreak(raw) {
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

// hasLineBreak reports whether b holds a CR or LF (two IndexByte scans are
// several times faster than bytes.ContainsAny).
func hasLineBreak(b []byte) bool {
	return bytes.IndexByte(b, '\n') >= 0 || bytes.IndexByte(b, '\r') >= 0
}

// AppendJSON appends p's encoding to buf, by hand: the call path's one
// struct, encoded without reflection and without checking Input again (its
// producer checked it, see CheckRaw). "input" is always the last member,
// which the ABI promises guests (docs/ABI.md): a guest finds where the
// input ends without scanning it.
func (p CallParams) AppendJSON(buf []byte) ([]byte, error) {
	var err error
	buf = append(buf, `{"name":`...)
	if buf, err = jsontext.AppendQuote(buf, p.Name); err != nil {
		return nil, fmt.Errorf("call name: %w", err)
	}
	if p.Phase != "" {
		buf = append(buf, `,"phase":`...)
		if buf, err = jsontext.AppendQuote(buf, p.Phase); err != nil {
			return nil, fmt.Errorf("call phase: %w", err)
		}
	}
	if p.TimeoutMS != 0 {
		buf = append(buf, `,"timeout_ms":`...)
		buf = strconv.AppendInt(buf, p.TimeoutMS, 10)
	}
	buf = append(buf, `,"input":`...)
	if p.Input == nil {
		buf = append(buf, "null"...)
	} else {
		buf = append(buf, oneLine(p.Input)...)
	}
	return append(buf, '}'), nil
}

// appender is a value that encodes itself faster than Marshal would.
type appender interface {
	AppendJSON(buf []byte) ([]byte, error)
}
