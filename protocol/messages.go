package protocol

import "encoding/json"

// InitializeParams are the params of the handshake, the first request the
// host sends (MethodInitialize).
type InitializeParams struct {
	// Protocols lists the protocol versions the host speaks; the plugin
	// answers with one of them.
	Protocols []int `json:"protocols"`
	// Plugin is the name the host knows the plugin by (its manifest's
	// name).
	Plugin string `json:"plugin"`
	// Config holds the plugin's validated settings, defaults filled in.
	Config map[string]any `json:"config"`
	// Grants lists the capabilities granted to the plugin.
	Grants []string `json:"grants"`
	// Functions lists the host functions the plugin may call.
	Functions []string `json:"functions"`
}

// InitializeResult is the plugin's answer to the handshake.
type InitializeResult struct {
	// Protocol is the protocol version the plugin speaks, one of the
	// host's InitializeParams.Protocols.
	Protocol int `json:"protocol"`
	// Name is the plugin's own name, which must match its manifest's.
	Name string `json:"name"`
	// Version is the plugin's version, which must match its manifest's.
	Version string `json:"version"`
	// Hooks lists every hook and function the plugin implements; it
	// must be exactly its manifest's hooks plus functions.
	Hooks []string `json:"hooks"`
	// Functions lists, of Hooks, the functions, if the plugin says so;
	// the host goes by its manifest.
	Functions []string `json:"functions,omitempty"`
}

// CallParams are the params of a call request (MethodCall): they ask a
// plugin to run one hook or function. AppendJSON encodes them as the
// protocol expects, with Input last.
type CallParams struct {
	// Name is the hook's or function's name.
	Name string `json:"name"`
	// Phase is the hook phase to run: "before", "define" or "after";
	// empty for a direct function call.
	Phase string `json:"phase,omitempty"`
	// Input is the hook's or function's input, any JSON value. In the
	// after phase it is an AfterInput.
	Input json.RawMessage `json:"input"`
	// TimeoutMS is how long the host will wait, in milliseconds; 0 when
	// it did not say.
	TimeoutMS int64 `json:"timeout_ms,omitzero"`
	// Traceparent carries the host's trace context to the plugin, as a
	// W3C Trace Context traceparent header; nil when the host's call is
	// not traced. A traceparent that is not valid is decoded as none. (A
	// pointer: in every call's params, traced or not, a Traceparent would
	// take a larger size class.)
	Traceparent *Traceparent `json:"traceparent,omitempty"`
	// Tracestate is the W3C Trace Context tracestate header that goes
	// with Traceparent; empty when there is none.
	Tracestate string `json:"tracestate,omitempty"`
}

// AfterInput is the input of an after-phase handler: the hook's input and
// the result it produced.
type AfterInput struct {
	// Input is the input the hook was called with.
	Input json.RawMessage `json:"input"`
	// Output is the result the hook's define phase produced.
	Output json.RawMessage `json:"output"`
}

// CancelParams are the params of a $/cancel notification (MethodCancel):
// the sender gives up on one of its requests.
type CancelParams struct {
	// ID is the id of the request given up on, as it was sent.
	ID json.RawMessage `json:"id"`
}
