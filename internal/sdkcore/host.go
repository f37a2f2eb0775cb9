package sdkcore

import (
	"context"
	"encoding/json"
	"fmt"
)

// Caller is the transport a Host uses to call host functions: the
// protocol's connection, the wasm guest's imports, or an in-process
// tier's host. An error from the host is an *Error.
type Caller interface {
	CallHost(ctx context.Context, fn string, input json.RawMessage) (json.RawMessage, error)
}

// Host is the plugin's view of the host: its settings, its grants and the
// host functions it may call. A handler receives one with each call.
type Host struct {
	caller Caller
	config map[string]any
	grants []string
	funcs  []string
	phase  string
	phases map[string]*Host // this Host in each hook phase; read only
}

// NewHost makes a Host over caller.
func NewHost(caller Caller, config map[string]any, grants, functions []string) *Host {
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

// Phase returns the phase of the current hook call: "before", "define",
// "after", or "" for a direct function call.
func (h *Host) Phase() string { return h.phase }

// Config returns the plugin's settings.
func (h *Host) Config() map[string]any { return h.config }

// Grants returns the capabilities the host granted, not copied: callers
// must not change it.
func (h *Host) Grants() []string { return h.grants }

// Call calls the host function fn with in encoded as JSON and decodes its
// result into out (which may be nil).
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
