// Package plugin is the Go SDK for writing Airlock plugins. A plugin author
// registers typed handlers for hooks and functions and calls Run; the SDK
// speaks the protocol with the host, so the author never sees JSON-RPC.
//
//	func main() {
//		p := plugin.New("hello-go", "0.1.0")
//		plugin.Handle(p, "greet", func(ctx context.Context, h *plugin.Host, in Greeting) (Reply, error) {
//			_ = h.Log(ctx, "info", "greeting "+in.Name)
//			return Reply{Message: h.String("greeting") + ", " + in.Name}, nil
//		})
//		p.Main()
//	}
//
// The same plugin runs in the process tier (built as an executable) and, by
// changing only its build, in the builtin tier (compiled into the host).
// A test runs a handler without a host through package plugintest.
//
// A handler's context carries the host's trace context when the host
// traces its calls: trace.SpanContextFromContext(ctx) (package
// go.opentelemetry.io/otel/trace) returns the host's call span, as a remote
// span context, and spans the plugin starts from ctx with its own
// OpenTelemetry tracer join the host's trace (docs/OBSERVABILITY.md).
package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/airlock-go/airlock/internal/rpc"
	"github.com/airlock-go/airlock/internal/sdkcore"
)

// HandlerFunc handles one hook or function call with raw JSON input and
// output. Most plugins use the typed Handle instead.
type HandlerFunc func(ctx context.Context, h *Host, input json.RawMessage) (any, error)

// Plugin is a set of handlers with the plugin's identity.
//
// It is defined over the SDK's internal core, which the host's builtin
// and native tiers run directly; its fields are not for plugin authors.
type Plugin sdkcore.Plugin

// New returns a plugin with no handlers. name and version must match the
// plugin's manifest; the host checks them in the handshake.
func New(name, version string) *Plugin { return (*Plugin)(sdkcore.New(name, version)) }

// core returns p as the SDK's core runs it.
func (p *Plugin) core() *sdkcore.Plugin { return (*sdkcore.Plugin)(p) }

// Name returns the plugin's name.
func (p *Plugin) Name() string { return p.core().Name() }

// Version returns the plugin's version.
func (p *Plugin) Version() string { return p.core().Version() }

// HandleRaw registers fn for the hook or function called name. It replaces
// an earlier handler of the same name.
func (p *Plugin) HandleRaw(name string, fn HandlerFunc) {
	p.core().Handle(name, func(ctx context.Context, h *sdkcore.Host, input json.RawMessage) (any, error) {
		return fn(ctx, (*Host)(h), input)
	})
}

// Handle registers a typed handler for the hook or function called name.
// The input is decoded from JSON into In; the result is encoded as JSON.
func Handle[In, Out any](p *Plugin, name string, fn func(ctx context.Context, h *Host, in In) (Out, error)) {
	p.HandleRaw(name, func(ctx context.Context, h *Host, input json.RawMessage) (any, error) {
		var in In
		if raw, ok := any(&in).(*json.RawMessage); ok {
			*raw = input // already valid JSON: no need to decode it again
		} else if len(input) > 0 && string(input) != "null" {
			if err := json.Unmarshal(input, &in); err != nil {
				return nil, &Error{Code: CodeInvalidInput, Message: fmt.Sprintf("%s: invalid input: %v", name, err)}
			}
		}
		return fn(ctx, h, in)
	})
}

// Names returns the names of the registered handlers, sorted.
func (p *Plugin) Names() []string { return p.core().Names() }

// Host is the plugin's view of the host: its settings, its grants and the
// host functions it may call. A handler receives one with each call; a
// test makes one with package plugintest.
type Host sdkcore.Host

// core returns h as the SDK's core holds it.
func (h *Host) core() *sdkcore.Host { return (*sdkcore.Host)(h) }

// Phase returns the phase of the current hook call: "before", "define",
// "after", or "" for a direct function call.
func (h *Host) Phase() string { return h.core().Phase() }

// Config returns the plugin's validated settings, defaults filled in.
func (h *Host) Config() map[string]any { return h.core().Config() }

// String returns a string setting, or "" if it is unset or not a string.
func (h *Host) String(name string) string {
	s, _ := h.Config()[name].(string)
	return s
}

// Granted reports whether the host granted capability c to this plugin
// (exactly as written in the grant).
func (h *Host) Granted(c string) bool { return slices.Contains(h.core().Grants(), c) }

// Grants returns the capabilities the host granted.
func (h *Host) Grants() []string { return slices.Clone(h.core().Grants()) }

// Call calls the host function fn with in encoded as JSON and decodes its
// result into out (which may be nil). An error from the host is an *Error;
// errors.Is(err, ErrDenied) reports a missing capability.
func (h *Host) Call(ctx context.Context, fn string, in, out any) error {
	return h.core().Call(ctx, fn, in, out)
}

// Log writes one line to the host's log through the host's "log" function,
// which needs the "log" capability. level is debug, info, warn or error;
// attrs are key/value pairs.
func (h *Host) Log(ctx context.Context, level, msg string, attrs ...any) error {
	in := map[string]any{"level": level, "msg": msg}
	if len(attrs) > 0 {
		a := map[string]any{}
		for i := 0; i+1 < len(attrs); i += 2 {
			a[fmt.Sprint(attrs[i])] = attrs[i+1]
		}
		in["attrs"] = a
	}
	return h.Call(ctx, "log", in, nil)
}

// Error codes a handler or the host may return; they match the protocol's.
const (
	CodeFailed         = -32000
	CodeDenied         = -32001
	CodeCancelled      = -32002
	CodeBusy           = -32003
	CodeNotImplemented = -32004
	CodeInvalidInput   = -32602
)

// Error is an error with a protocol code (its fields Code and Message). A
// handler may return one to choose the code the host sees; any other error
// is sent as CodeFailed. errors.Is between two *Error compares their
// codes.
type Error = sdkcore.Error

// ErrDenied matches, with errors.Is, an error the host returned because a
// capability is not granted.
var ErrDenied = &Error{Code: CodeDenied, Message: "capability denied"}

// MaxMessage is the largest protocol message the SDK sends or reads, in
// bytes, not counting the newline that ends it: the host's default limit,
// which holds in both directions (docs/PROTOCOL.md, Framing).
const MaxMessage = 4 << 20

// ErrTooLarge matches, with errors.Is, the error of a host call whose input
// encodes to a message over MaxMessage: the call is not sent. A handler's
// result (or error) over the limit is not sent either: the host gets error
// -32603 saying the answer was too large, and the plugin runs on.
var ErrTooLarge = rpc.ErrTooLarge

// protocolVersion is the contract version this SDK speaks.
const protocolVersion = 1
