// Package plugintest runs a Go plugin's handlers in a test, without a
// host or the protocol, as net/http/httptest does for HTTP handlers:
//
//	h := &plugintest.Host{Config: map[string]any{"greeting": "hi"}, Grants: []string{"log"}}
//	out, err := h.Invoke(t.Context(), newPlugin(), plugintest.Call{Name: "greet", Phase: "define", Input: json.RawMessage(`{"name":"ada"}`)})
//
// The handler gets a *plugin.Host with these settings and grants, and its
// host calls go to Host.HostCall. No grant is checked: that is the host's
// part (airlock check DIR runs the plugin against a real one).
package plugintest

import (
	"context"
	"encoding/json"

	"github.com/airlock-go/airlock/internal/sdkcore"
	"github.com/airlock-go/airlock/sdk/go/plugin"
)

// Host is a stand-in host for a plugin under test. Its zero value has no
// settings and no grants, and answers every host call with null.
type Host struct {
	// Config holds the plugin's settings, as the host would pass them
	// (decoded from JSON: numbers are float64).
	Config map[string]any
	// Grants are the capabilities granted to the plugin.
	Grants []string
	// Functions are the host functions the plugin may call.
	Functions []string
	// HostCall, if set, answers the plugin's host calls. A *plugin.Error
	// it returns reaches the handler as the host's error; nil answers
	// every call with null.
	HostCall func(ctx context.Context, fn string, input json.RawMessage) (json.RawMessage, error)
}

// Call describes one call of a handler.
type Call struct {
	Name  string          // the hook or function
	Phase string          // before, define, after; empty for a direct call
	Input json.RawMessage // the input, as JSON; nil for none
}

// Invoke runs p's handler for call as the host would, in this goroutine,
// and returns its result as JSON, or its error: a *plugin.Error as the
// handler returned it, a code CodeNotImplemented one for a name p has no
// handler for, and an error for a panic in the handler.
func (h *Host) Invoke(ctx context.Context, p *plugin.Plugin, call Call) (json.RawMessage, error) {
	core := sdkcore.NewHost(caller{h.HostCall}, h.Config, h.Grants, h.Functions)
	// A *plugin.Plugin is a *sdkcore.Plugin (sdk/go/plugin defines it so).
	return (*sdkcore.Plugin)(p).Invoke(ctx, core, sdkcore.Call{Name: call.Name, Phase: call.Phase, Input: call.Input})
}

// caller carries host calls to Host.HostCall.
type caller struct {
	fn func(ctx context.Context, fn string, input json.RawMessage) (json.RawMessage, error)
}

func (c caller) CallHost(ctx context.Context, fn string, input json.RawMessage) (json.RawMessage, error) {
	if c.fn == nil {
		return json.RawMessage("null"), nil
	}
	return c.fn(ctx, fn, input)
}
