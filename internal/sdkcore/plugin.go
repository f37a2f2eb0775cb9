package sdkcore

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/airlock-go/airlock/internal/rpc"
)

// HandlerFunc handles one hook or function call with raw JSON input and
// output.
type HandlerFunc func(ctx context.Context, h *Host, input json.RawMessage) (any, error)

// Plugin is a set of handlers with the plugin's identity.
type Plugin struct {
	name, version string
	handlers      map[string]HandlerFunc
}

// New returns a plugin with no handlers.
func New(name, version string) *Plugin {
	return &Plugin{name: name, version: version, handlers: map[string]HandlerFunc{}}
}

// Name returns the plugin's name.
func (p *Plugin) Name() string { return p.name }

// Version returns the plugin's version.
func (p *Plugin) Version() string { return p.version }

// Handle registers fn for the hook or function called name, replacing an
// earlier handler of the same name.
func (p *Plugin) Handle(name string, fn HandlerFunc) { p.handlers[name] = fn }

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
// returns its result as JSON. A panic in the handler is its error. The
// SDK's transports (the protocol's server, the wasm guest) and the
// in-process tiers use it.
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
// does not end the plugin (or, in-process, the host).
func callSafely(ctx context.Context, h *Host, fn HandlerFunc, input json.RawMessage) (out any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("handler panicked: %v", r)
		}
	}()
	return fn(ctx, h, input)
}
