package protocol

import (
	"fmt"
	"strconv"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/airlock-go/airlock/internal/jsonline"
)

// AppendJSON appends p's encoding to buf and returns the extended buffer.
// It encodes by hand, without reflection and without checking Input again
// (whoever produced the input checked it); a line break in Input is
// compacted away, so that the message stays on one line. "input" is always
// the last member, which the ABI promises guests (docs/ABI.md): a guest
// finds where the input ends without scanning it. The error is that of a
// string that cannot be encoded (invalid UTF-8).
func (p CallParams) AppendJSON(buf []byte) ([]byte, error) {
	if buf == nil {
		buf = make([]byte, 0, 64+len(p.Name)+len(p.Phase)+traceparentLen+len(p.Tracestate)+len(p.Input))
	}
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
	// Trace context (telemetry): before input, which stays last.
	if tp := p.Traceparent.Value(); !tp.IsZero() {
		buf = append(buf, `,"traceparent":"`...)
		buf, _ = tp.AppendText(buf)
		buf = append(buf, '"')
	}
	if p.Tracestate != "" {
		buf = append(buf, `,"tracestate":`...)
		if buf, err = jsontext.AppendQuote(buf, p.Tracestate); err != nil {
			return nil, fmt.Errorf("call tracestate: %w", err)
		}
	}
	buf = append(buf, `,"input":`...)
	if p.Input == nil {
		buf = append(buf, "null"...)
	} else {
		buf = append(buf, jsonline.OneLine(p.Input)...)
	}
	return append(buf, '}'), nil
}
