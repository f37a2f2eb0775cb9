// Package rpc speaks JSON-RPC 2.0 over a pair of byte streams, one message
// per line, with requests in flight both ways at once. Both the host (to
// talk to a process plugin) and the Go plugin SDK (to talk to the host) use
// it. The protocol's messages, methods and codes are package protocol's;
// this package is the connection that carries them. docs/PROTOCOL.md
// describes the wire format for people.
package rpc

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/airlock-go/airlock/internal/jsonline"
	"github.com/airlock-go/airlock/protocol"
)

// Message is any JSON-RPC 2.0 message: a request (ID and Method), a
// notification (Method, no ID) or a response (ID and Result or Error).
type Message struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id,omitempty"`
	Method  string          `json:"method,omitempty"`
	Params  json.RawMessage `json:"params,omitempty"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   *protocol.Error `json:"error,omitempty"`
	// Origin, on a request, is the id of the peer's request during which
	// it is made: a plugin's host call names the host's call it serves
	// (origin.go).
	Origin json.RawMessage `json:"origin,omitempty"`

	call         protocol.CallParams // a call request's params, decoded with it (decoder.callParams)
	hasCall      bool                // call is set
	appendParams appender            // params to encode when writing, if Params is nil
	numID        int64               // the id to write, if ID is nil and this is not 0
}

// appendMessage encodes m as one line of JSON. Params and Result are
// copied as they are, not checked again (that would cost a pass over every
// payload): they come from Marshal, or were checked by whoever produced
// them (see Call, Handler and CheckRaw). They are only kept on one line.
func appendMessage(buf []byte, m *Message) ([]byte, error) {
	buf = append(buf, `{"jsonrpc":"2.0"`...)
	switch {
	case m.ID != nil:
		buf = append(buf, `,"id":`...)
		buf = append(buf, jsonline.OneLine(m.ID)...)
	case m.numID != 0:
		buf = append(buf, `,"id":`...)
		buf = strconv.AppendInt(buf, m.numID, 10)
	}
	if m.Method != "" {
		var err error
		buf = append(buf, `,"method":`...)
		if buf, err = jsontext.AppendQuote(buf, m.Method); err != nil {
			return nil, fmt.Errorf("method name: %w", err)
		}
	}
	if m.Origin != nil {
		buf = append(buf, `,"origin":`...)
		buf = append(buf, jsonline.OneLine(m.Origin)...)
	}
	switch {
	case m.Params != nil:
		buf = append(buf, `,"params":`...)
		buf = append(buf, jsonline.OneLine(m.Params)...)
	case m.appendParams != nil:
		var err error
		buf = append(buf, `,"params":`...)
		if buf, err = m.appendParams.AppendJSON(buf); err != nil {
			return nil, err
		}
	}
	if m.Error != nil {
		e, err := Marshal(m.Error)
		if err != nil {
			return nil, err
		}
		buf = append(buf, `,"error":`...)
		buf = append(buf, e...)
	} else if m.Result != nil {
		buf = append(buf, `,"result":`...)
		buf = append(buf, jsonline.OneLine(m.Result)...)
	}
	return append(buf, '}'), nil
}

func describe(m *Message) string {
	if m.Method != "" {
		return m.Method
	}
	return "response"
}
