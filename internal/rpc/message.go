// Package rpc speaks JSON-RPC 2.0 over a pair of byte streams, one message
// per line, with requests in flight both ways at once. Both the host (to
// talk to a process plugin) and the Go plugin SDK (to talk to the host) use
// it. docs/PROTOCOL.md describes the wire format for people.
package rpc

import (
	"encoding/json"
	"fmt"

	"github.com/airlock-go/airlock/protocol"
)

// Version is the value of every message's "jsonrpc" member.
const Version = protocol.JSONRPC

// Methods of Airlock's protocol (package protocol documents them).
const (
	MethodInitialize = protocol.MethodInitialize
	MethodCall       = protocol.MethodCall
	MethodShutdown   = protocol.MethodShutdown
	MethodCancel     = protocol.MethodCancel
)

// Error codes (package protocol documents them).
const (
	CodeParseError     = protocol.CodeParseError
	CodeInvalidRequest = protocol.CodeInvalidRequest
	CodeMethodNotFound = protocol.CodeMethodNotFound
	CodeInvalidParams  = protocol.CodeInvalidParams
	CodeInternalError  = protocol.CodeInternalError

	CodeFailed         = protocol.CodeFailed
	CodeDenied         = protocol.CodeDenied
	CodeCancelled      = protocol.CodeCancelled
	CodeBusy           = protocol.CodeBusy
	CodeNotImplemented = protocol.CodeNotImplemented
	CodeRateLimited    = protocol.CodeRateLimited
)

// Message is any JSON-RPC 2.0 message: a request (ID and Method), a
// notification (Method, no ID) or a response (ID and Result or Error).
type Message struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id,omitempty"`
	Method  string          `json:"method,omitempty"`
	Params  json.RawMessage `json:"params,omitempty"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   *Error          `json:"error,omitempty"`
	// Origin, on a request, is the id of the peer's request during which
	// it is made: a plugin's host call names the host's call it serves
	// (origin.go).
	Origin json.RawMessage `json:"origin,omitempty"`

	call         CallParams // a call request's params, decoded with it (decoder.callParams)
	hasCall      bool       // call is set
	appendParams appender   // params to encode when writing, if Params is nil
	numID        int64      // the id to write, if ID is nil and this is not 0
}

// Error is a JSON-RPC error object; it is also the Go error a Call returns
// when the peer answers with an error.
type Error struct {
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data,omitempty"`
}

func (e *Error) Error() string { return fmt.Sprintf("%s (code %d)", e.Message, e.Code) }

// Errorf returns an *Error with code and a formatted message.
func Errorf(code int, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// InitializeParams is what the host sends in the handshake.
type InitializeParams struct {
	// Protocols lists the contract versions the host speaks.
	Protocols []int `json:"protocols"`
	// Plugin is the name the host knows the plugin by.
	Plugin string `json:"plugin"`
	// Config holds the validated settings, defaults filled in.
	Config map[string]any `json:"config"`
	// Grants lists the capabilities granted to the plugin.
	Grants []string `json:"grants"`
	// Functions lists the host functions the plugin may call.
	Functions []string `json:"functions"`
}

// InitializeResult is the plugin's answer to the handshake.
type InitializeResult struct {
	Protocol  int      `json:"protocol"`
	Name      string   `json:"name"`
	Version   string   `json:"version"`
	Hooks     []string `json:"hooks"`
	Functions []string `json:"functions,omitempty"`
}

// CallParams asks a plugin to run one hook or function.
type CallParams struct {
	Name  string          `json:"name"`
	Phase string          `json:"phase,omitempty"` // before, define, after; empty for a direct function call
	Input json.RawMessage `json:"input"`
	// TimeoutMS is how long the host will wait, in milliseconds.
	TimeoutMS int64 `json:"timeout_ms,omitzero"`
	// Traceparent and Tracestate carry the host's trace context to the
	// plugin, as W3C Trace Context headers (telemetry.go; docs/PROTOCOL.md):
	// nil when the host's call is not traced. A traceparent that is not
	// valid is decoded as none. (A pointer: in every call's params, traced
	// or not, a Traceparent would take a larger size class.)
	Traceparent *Traceparent `json:"traceparent,omitempty"`
	Tracestate  string       `json:"tracestate,omitempty"`
}

// AfterInput is the input of an after-phase handler: the hook's input and
// the result it produced.
type AfterInput struct {
	Input  json.RawMessage `json:"input"`
	Output json.RawMessage `json:"output"`
}

// CancelParams names the request a $/cancel gives up on.
type CancelParams struct {
	ID json.RawMessage `json:"id"`
}
