package airlock

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"time"

	"github.com/airlock-go/airlock/internal/capability"
	"github.com/airlock-go/airlock/internal/rpc"
	"github.com/airlock-go/airlock/protocol"
)

// Function is a host function: something the host application lets
// plugins call, guarded by one capability. Make one with NewFunc (typed) or
// NewRawFunc.
type Function struct {
	name       string
	capability capability.Cap
	fn         func(ctx context.Context, c Caller, input json.RawMessage) (any, error)
	in, out    *typeSchema // nil for a raw function: any JSON value
}

// Name returns the name plugins call the function by.
func (f Function) Name() string { return f.name }

// Capability returns the capability a plugin needs to call the function.
func (f Function) Capability() string { return f.capability.String() }

// NewFunc declares a host function called name that needs capability cap
// (e.g. "ledger.read"). The plugin's input is decoded from JSON into In and
// fn's result is sent back as JSON. Airlock checks cap against the calling
// plugin's grants at every call, before fn runs; fn can check finer
// capabilities (a scope that depends on the input) with Caller.Allowed.
//
// In and Out are described by JSON Schemas generated from the Go types, as
// for hooks (docs/CONTRACT.md). The plugin's input is validated against
// In's before fn runs: an input with a missing, misspelled or mistyped
// field is refused with code -32602 (invalid params) and a message naming
// the JSON path of each problem, and fn never sees it. An In struct
// without required fields also accepts null: no input.
//
// NewFunc panics if name or cap is malformed (a name is at most 128
// lowercase letters, digits, dots and underscores, starting with a
// letter), or if In or Out cannot be carried in JSON: they are constants
// in the host's own code.
func NewFunc[In, Out any](name, cap string, fn func(ctx context.Context, c Caller, in In) (Out, error)) Function {
	f := newFunc(name, cap, func(ctx context.Context, c Caller, input json.RawMessage) (any, error) {
		var in In
		if len(input) > 0 && string(input) != "null" {
			if err := json.Unmarshal(input, &in); err != nil {
				return nil, protocol.Errorf(protocol.CodeInvalidParams, "%s: invalid input: %v", name, err)
			}
		}
		return fn(ctx, c, in)
	})
	what := fmt.Sprintf("host function %q", name)
	f.in = mustSchema(reflect.TypeFor[In](), true, what+" input")
	f.out = mustSchema(reflect.TypeFor[Out](), false, what+" output")
	return f
}

// NewRawFunc is NewFunc with the input as raw JSON; the result is encoded
// with encoding/json (a json.RawMessage is sent as it is). Its input and
// output are any JSON value: nothing is validated, and the contract
// describes them as such.
func NewRawFunc(name, cap string, fn func(ctx context.Context, c Caller, input json.RawMessage) (any, error)) Function {
	return newFunc(name, cap, fn)
}

func newFunc(name, cap string, fn func(ctx context.Context, c Caller, input json.RawMessage) (any, error)) Function {
	if !validFuncName(name) {
		panic(fmt.Sprintf("airlock: invalid host function name %q", name))
	}
	return Function{name: name, capability: capability.MustParse(cap), fn: fn}
}

func validFuncName(s string) bool {
	if s == "" || len(s) > maxFuncName || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '_') {
			return false
		}
	}
	return true
}

// Caller is the plugin calling a host function.
type Caller struct {
	plugin *loadedPlugin
}

// Plugin returns the calling plugin's name.
func (c Caller) Plugin() string { return c.plugin.name }

// Allowed reports whether the calling plugin holds capability cap, for
// checks finer than the function's own capability (e.g. "http:" plus the
// host the input names). A denial is audited like any other.
func (c Caller) Allowed(ctx context.Context, function, cap string) bool {
	parsed, err := capability.Parse(cap)
	if err == nil && c.plugin.grants.Allows(parsed) {
		return true
	}
	c.plugin.host.audit(ctx, AuditEvent{Plugin: c.plugin.name, Function: function, Capability: cap, Reason: AuditNotGranted})
	return false
}

// Logger returns the logger for the calling plugin.
func (c Caller) Logger() *slog.Logger { return c.plugin.log }

// AuditEvent records a host function call that was refused.
type AuditEvent struct {
	Plugin     string
	Function   string
	Capability string
	Reason     AuditReason
}

// maxUnknownFuncName bounds what the audit log and the answer quote of the
// name of a function the host does not have.
const maxUnknownFuncName = 128

// maxFuncName bounds a host function's name (the wasm tier cuts a name a
// guest calls at 1 KiB, before it copies it: no function may be named
// longer).
const maxFuncName = 128

// callHost runs host function fn for plugin p: the grant check, then the
// function. It is the only way a plugin reaches the host.
func (h *Host) callHost(ctx context.Context, p *loadedPlugin, fn string, input json.RawMessage) (json.RawMessage, error) {
	ctx, span := h.tel.startHostCall(ctx, p, fn) // telemetry.go
	res, err := h.runHostCall(ctx, p, fn, input)
	endHostCall(span, err)
	return res, err
}

// runHostCall is callHost without its telemetry.
func (h *Host) runHostCall(ctx context.Context, p *loadedPlugin, fn string, input json.RawMessage) (json.RawMessage, error) {
	// Threat: a plugin flooding the host with calls to starve it or the
	// other plugins.
	if !p.calls.Allow() {
		_, known := h.funcs[fn]
		h.tel.refusedHostCall(ctx, p.name, fn, known, "rate_limited") // telemetry.go
		return nil, protocol.Errorf(protocol.CodeRateLimited, "plugin %s: too many host function calls (limit %v a second)", p.name, p.calls.Limit())
	}
	f, ok := h.funcs[fn]
	if !ok {
		// Threat: a made-up name megabytes long (up to max_message_bytes;
		// a wasm guest's, up to its memory) copied into the audit log and
		// the answer at every call, up to host_calls_per_second times a
		// second. Names of host functions are short: it is cut.
		name, _ := cutUTF8(fn, maxUnknownFuncName)
		h.audit(ctx, AuditEvent{Plugin: p.name, Function: name, Reason: AuditNoSuchFunction})
		return nil, protocol.Errorf(protocol.CodeMethodNotFound, "no host function %q", name)
	}
	// Threat: a plugin calling a function its manifest never asked for, or
	// that the operator never granted (PluginOp, the QUIC plugin system in
	// ../shared/seeds, declared permissions and never checked them). Every
	// call is checked here, at the moment of the call.
	if !p.grants.Allows(f.capability) {
		h.audit(ctx, AuditEvent{Plugin: p.name, Function: fn, Capability: f.capability.String(), Reason: AuditNotGranted})
		return nil, protocol.Errorf(protocol.CodeDenied, "capability %q not granted to plugin %s (needed by host function %s)", f.capability, p.name, fn)
	}
	// Threat: a plugin's input with a field missing or misspelled would
	// reach the function as a zero value (an empty account, amount 0).
	// After the grant check, so that a plugin without the capability
	// learns nothing of the function's types.
	if err := p.checkValue(ctx, f.in, input); err != nil {
		if neverChecked(err) {
			return nil, err // the call ended while it waited
		}
		perr := &PluginError{Plugin: p.name, Op: OpHostCall, Name: fn, Err: fmt.Errorf("%w: %v", ErrBadInput, err)}
		p.log.Warn("host function input refused", "function", fn, "error", perr)
		return nil, protocol.Errorf(protocol.CodeInvalidParams, "%s", perr.Error())
	}
	out, err := runFunc(ctx, f, Caller{plugin: p}, input)
	if err != nil {
		return nil, err
	}
	var raw json.RawMessage
	if r, ok := out.(json.RawMessage); ok {
		if raw, err = rpc.CheckRaw(r); err != nil {
			return nil, protocol.Errorf(protocol.CodeInternalError, "host function %s returned %v", fn, err)
		}
	} else if raw, err = json.Marshal(out); err != nil {
		return nil, protocol.Errorf(protocol.CodeInternalError, "%s: encode result: %v", fn, err)
	}
	if h.opts.ValidateHostValues {
		if err := f.out.check(raw); err != nil {
			perr := &PluginError{Plugin: p.name, Op: OpHostCall, Name: fn, Err: fmt.Errorf("%w: %v", ErrBadResult, err)}
			h.log.Error("host function result does not match its output type", "function", fn, "plugin", p.name, "error", perr)
			return nil, protocol.Errorf(protocol.CodeInternalError, "host function %s failed: its result does not match its output type", fn)
		}
	}
	return raw, nil
}

// pacedLogEvery spaces out the warnings of a plugin whose host calls are
// paced: a plugin paced for hours logs once a minute, not at every wait.
const pacedLogEvery = time.Minute

// hostCallsPaced records that p's host calls are held back by wait, past
// host_call_bytes_per_second (a process plugin's reading, a wasm guest's
// host call: tier.Spec.Paced): the time counted in
// airlock.host_calls.paced, and a warning at most once every
// pacedLogEvery. It runs on the tier's reading or calling goroutine.
func (h *Host) hostCallsPaced(p *loadedPlugin, wait time.Duration) {
	h.tel.pacedHostCalls(p, wait) // telemetry.go
	p.pacedLog.Do(func() {
		p.log.Warn("host calls paced: the plugin sends more than its host_call_bytes_per_second allows; its messages are read more slowly",
			"limit", p.spec.Limits.HostCallBytesPerSec, "wait", wait.Round(time.Millisecond))
	})
}

// runFunc runs a host function, turning a panic into an error so that a
// plugin's odd input cannot bring down the host.
func runFunc(ctx context.Context, f Function, c Caller, input json.RawMessage) (out any, err error) {
	defer func() {
		if r := recover(); r != nil {
			c.plugin.host.log.Error("host function panicked", "function", f.name, "plugin", c.plugin.name, "panic", r)
			err = protocol.Errorf(protocol.CodeInternalError, "host function %s failed", f.name)
		}
	}()
	return f.fn(ctx, c, input)
}

func (h *Host) audit(ctx context.Context, ev AuditEvent) {
	h.log.LogAttrs(ctx, slog.LevelWarn, "airlock audit: host call refused",
		slog.String("plugin", ev.Plugin),
		slog.String("function", ev.Function),
		slog.String("capability", ev.Capability),
		slog.String("reason", string(ev.Reason)))
	_, known := h.funcs[ev.Function]
	h.tel.refusedHostCall(ctx, ev.Plugin, ev.Function, known, auditReasonLabel(ev.Reason)) // telemetry.go
	if h.opts.OnAudit != nil {
		h.opts.OnAudit(ev)
	}
}
