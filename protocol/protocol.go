// Package protocol holds the vocabulary of Airlock's plugin protocol
// (docs/PROTOCOL.md) that hosts, plugins and SDKs share: the protocol
// version, the method names, the error codes, the message size limit, and
// the params and results of the protocol's methods (InitializeParams,
// InitializeResult, CallParams, AfterInput, CancelParams), its error
// object (Error) and the W3C traceparent a call carries (Traceparent). The connection that carries them is the host's and the
// Go SDK's own business (internal/rpc).
//
// A host sees the codes in airlock.RemoteError.Code; a Go plugin returns
// them in a plugin.Error. The SDKs in other languages define the same
// values under their own spellings (Python's FAILED, TypeScript's
// Code.Failed, Rust's code::FAILED, C's AIRLOCK_FAILED); a test checks that
// they agree with this package.
package protocol

// Version is the protocol version a plugin's manifest names
// (protocol = 1) and its handshake answers.
const Version = 1

// JSONRPC is the value of every message's "jsonrpc" member.
const JSONRPC = "2.0"

// Methods.
const (
	MethodInitialize = "initialize" // host → plugin: the handshake
	MethodCall       = "call"       // host → plugin: run a hook or function
	MethodShutdown   = "shutdown"   // host → plugin: stop cleanly
	MethodCancel     = "$/cancel"   // either way (a notification): give up on a request
)

// A plugin calls a host function with a request whose method is the
// function's name ("log", "kv.get", or one of the host application's).

// Error codes. The -327xx and -326xx codes are JSON-RPC's own; the -320xx
// codes are Airlock's.
const (
	CodeParseError     = -32700 // a message is not JSON
	CodeInvalidRequest = -32600 // a message is not a valid request
	CodeMethodNotFound = -32601 // no such method (or host function)
	CodeInvalidParams  = -32602 // the params (or a hook's or function's input) do not fit
	CodeInternalError  = -32603 // the side answering failed

	CodeFailed         = -32000 // the handler ran and returned an error
	CodeDenied         = -32001 // a capability the call needs is not granted
	CodeCancelled      = -32002 // cancelled, or its deadline passed
	CodeBusy           = -32003 // too many requests in flight; try later
	CodeNotImplemented = -32004 // the plugin does not implement that hook or function
	CodeRateLimited    = -32005 // too many host calls in a short time
)

// MaxMessageBytes is the default bound on one message, in bytes, not
// counting its newline, in both directions. A host may set another
// (Limits.MaxMessageBytes).
const MaxMessageBytes = 4 << 20
