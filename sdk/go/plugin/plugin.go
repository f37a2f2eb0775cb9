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
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/airlock-go/airlock/internal/rpc"
)

// HandlerFunc handles one hook or function call with raw JSON input and
// output. Most plugins use the typed Handle instead.
type HandlerFunc func(ctx context.Context, h *Host, input json.RawMessage) (any, error)

// Plugin is a set of handlers with the plugin's identity.
type Plugin struct {
	name, version string
	handlers      map[string]HandlerFunc
}

// New returns a plugin with no handlers. name and version must match the
// plugin's manifest; the host checks them in the handshake.
func New(name, version string) *Plugin {
	return &Plugin{name: name, version: version, handlers: map[string]HandlerFunc{}}
}

// Name returns the plugin's name.
func (p *Plugin) Name() string { return p.name }

// Version returns the plugin's version.
func (p *Plugin) Version() string { return p.version }

// HandleRaw registers fn for the hook or function called name. It replaces
// an earlier handler of the same name.
func (p *Plugin) HandleRaw(name string, fn HandlerFunc) { p.handlers[name] = fn }

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
func (p *Plugin) Names() []string {
	names := make([]string, 0, len(p.handlers))
	for n := range p.handlers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Call describes one invocation of a handler.
type Call struct {
	Name  string          // hook or function name
	Phase string          // before, define, after; empty for a direct call
	Input json.RawMessage // the input, as JSON
}

// Invoke runs the handler for call.Name without the wire protocol and
// returns its result as JSON. The builtin tier and the wasm guest use it;
// Run uses it for each call from the host.
func (p *Plugin) Invoke(ctx context.Context, h *Host, call Call) (json.RawMessage, error) {
	fn, ok := p.handlers[call.Name]
	if !ok {
		return nil, &Error{Code: CodeNotImplemented, Message: fmt.Sprintf("plugin %s does not implement %q", p.name, call.Name)}
	}
	hc := h.forPhase(call.Phase)
	out, err := callSafely(ctx, hc, fn, call.Input)
	if err != nil {
		return nil, err
	}
	if raw, ok := out.(json.RawMessage); ok {
		// The protocol sends it as it is: it must be valid JSON.
		raw, err := rpc.CheckRaw(raw)
		if err != nil {
			return nil, fmt.Errorf("%s: the handler returned %w", call.Name, err)
		}
		return raw, nil
	}
	raw, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("%s: encode result: %w", call.Name, err)
	}
	return raw, nil
}

// callSafely turns a panic in a handler into an error, so one bad call
// does not end the plugin.
func callSafely(ctx context.Context, h *Host, fn HandlerFunc, input json.RawMessage) (out any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("handler panicked: %v", r)
		}
	}()
	return fn(ctx, h, input)
}

// HostCaller is the transport a Host uses to call host functions.
type HostCaller interface {
	CallHost(ctx context.Context, fn string, input json.RawMessage) (json.RawMessage, error)
}

// Host is the plugin's view of the host: its settings, its grants and the
// host functions it may call. A handler receives one with each call.
type Host struct {
	caller HostCaller
	config map[string]any
	grants []string
	funcs  []string
	phase  string
	phases map[string]*Host // this Host in each hook phase; read only
}

// forPhase returns h as seen by a call in phase.
func (h *Host) forPhase(phase string) *Host {
	if phase == h.phase {
		return h
	}
	if p := h.phases[phase]; p != nil {
		return p
	}
	c := *h
	c.phase = phase
	return &c
}

// NewHost makes a Host over caller. Tiers that run plugins in-process use
// it; a plugin author gets a Host from the SDK and never calls this.
func NewHost(caller HostCaller, config map[string]any, grants, functions []string) *Host {
	h := &Host{caller: caller, config: config, grants: grants, funcs: functions}
	// One Host per hook phase, made once rather than on every call.
	h.phases = make(map[string]*Host, 3)
	for _, phase := range []string{"before", "define", "after"} {
		p := *h
		p.phase = phase
		h.phases[phase] = &p
	}
	return h
}

// Phase returns the phase of the current hook call: "before", "define",
// "after", or "" for a direct function call.
func (h *Host) Phase() string { return h.phase }

// Config returns the plugin's validated settings, defaults filled in.
func (h *Host) Config() map[string]any { return h.config }

// String returns a string setting, or "" if it is unset or not a string.
func (h *Host) String(name string) string {
	s, _ := h.config[name].(string)
	return s
}

// Granted reports whether the host granted capability c to this plugin
// (exactly as written in the grant).
func (h *Host) Granted(c string) bool { return slices.Contains(h.grants, c) }

// Grants returns the capabilities the host granted.
func (h *Host) Grants() []string { return slices.Clone(h.grants) }

// Call calls the host function fn with in encoded as JSON and decodes its
// result into out (which may be nil). An error from the host is an *Error;
// errors.Is(err, ErrDenied) reports a missing capability.
func (h *Host) Call(ctx context.Context, fn string, in, out any) error {
	raw, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("host call %s: encode input: %w", fn, err)
	}
	res, err := h.caller.CallHost(ctx, fn, raw)
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(res, out); err != nil {
		return fmt.Errorf("host call %s: decode result: %w", fn, err)
	}
	return nil
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

// Error is an error with a protocol code. A handler may return one to choose
// the code the host sees; any other error is sent as CodeFailed.
type Error struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Message }

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

// Is reports whether e has the same code as target.
func (e *Error) Is(target error) bool {
	var t *Error
	return errors.As(target, &t) && t.Code == e.Code
}

// protocolVersion is the contract version this SDK speaks.
const protocolVersion = 1
