package airlock

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"

	"github.com/airlock-go/airlock/internal/manifest"
	"github.com/airlock-go/airlock/internal/rpc"
	"github.com/airlock-go/airlock/protocol"
)

// Hook is one of the host's extension points, typed by its input and
// output. Declare hooks once, as package variables or fields of the host
// application, list them in Options.Hooks, and run them with Run.
//
// Running a hook runs, in order:
//   - the before handlers, in priority order: each sees a copy of the input
//     and may veto the call by returning an error (a before handler that
//     crashes or times out also stops the call: the hook fails closed);
//   - one define handler, the highest-priority plugin that defines the hook
//     and is not disabled; if there is none, the hook's default;
//   - the after handlers, in priority order: each sees copies of the input
//     and the output. Their errors are logged; they cannot change the
//     result.
//
// Plugins get JSON copies of the input, never the host's own values.
// Priority comes from the operator's configuration, never from the plugin.
//
// In and Out are described to plugins by JSON Schemas generated from the
// Go types (docs/CONTRACT.md gives the rules: encoding/json's names,
// required unless omitempty, no unknown fields). A define handler's result
// is validated against Out's schema before it is decoded, so a missing,
// misspelled or mistyped field is an ErrBadResult naming its JSON path,
// never a zero value.
type Hook[In, Out any] struct {
	decl hookDecl
	def  func(ctx context.Context, in In) (Out, error)
}

// hookDecl is what the host knows of a hook, whatever its types.
type hookDecl struct {
	name       string
	in, out    *typeSchema
	hasDefault bool
	collect    bool // a CollectHook: every definer answers
}

// AnyHook is a *Hook or a *CollectHook of any input and output types, for
// Options.Hooks. Only NewHook and NewCollectHook make one.
type AnyHook interface {
	// Name returns the hook's name.
	Name() string
	declaration() *hookDecl
}

// NewHook declares a hook. def is the default behaviour when no plugin
// defines the hook; it may be nil, in which case such a call fails with
// ErrNotImplemented.
//
// NewHook generates the JSON Schemas of In and Out, once per type (tens
// of microseconds; compiling them for validation, about a millisecond, is
// left to the first call that validates a value). It panics if either type
// cannot be carried in JSON (a channel, a function, a map with struct
// keys) or has a malformed jsonschema tag: hooks are declared in the
// host's own code.
func NewHook[In, Out any](name string, def func(ctx context.Context, in In) (Out, error)) *Hook[In, Out] {
	what := fmt.Sprintf("hook %q", name)
	return &Hook[In, Out]{
		decl: hookDecl{
			name:       name,
			in:         mustSchema(reflect.TypeFor[In](), false, what+" input"),
			out:        mustSchema(reflect.TypeFor[Out](), false, what+" output"),
			hasDefault: def != nil,
		},
		def: def,
	}
}

// Name returns the hook's name, as plugins list it in their manifests.
func (k *Hook[In, Out]) Name() string { return k.decl.name }

func (k *Hook[In, Out]) declaration() *hookDecl {
	if k == nil {
		return nil
	}
	return &k.decl
}

// Run runs the hook on h's plugins with input in.
//
// When h declares its contract (Options.Hooks or Options.ContractVersion),
// the hook must be one of Options.Hooks, with the same types; otherwise
// Run fails with ErrContract.
func (k *Hook[In, Out]) Run(ctx context.Context, h *Host, in In) (Out, error) {
	ctx, rec := h.tel.startHook(ctx, &k.decl) // telemetry.go
	out, err := k.run(ctx, h, in)
	rec.end(ctx, err)
	return out, err
}

func (k *Hook[In, Out]) run(ctx context.Context, h *Host, in In) (Out, error) {
	var zero Out
	run, err := h.startHook(ctx, &k.decl, in)
	if err != nil {
		return zero, err
	}
	out, output, err := k.define(ctx, run.define, in, run.input)
	if err != nil {
		return zero, err
	}
	if len(run.after) > 0 {
		if output == nil {
			output, _ = encodeJSON(out)
			if h.opts.ValidateHostValues {
				if err := k.decl.out.check(output); err != nil {
					return zero, &PluginError{Op: OpHook, Name: k.decl.name, Err: fmt.Errorf("%w: the default's result: %v", ErrBadResult, err)}
				}
			}
		}
		run.runAfter(ctx, output)
	}
	return out, nil
}

// hookRun is one run of a hook: its input as JSON and its handlers.
type hookRun struct {
	decl                  *hookDecl
	input                 json.RawMessage
	before, define, after []*loadedPlugin
}

// startHook checks that h declares the hook, encodes (and with
// ValidateHostValues, validates) the input, finds the handlers and runs
// the before phase: any before handler may veto.
func (h *Host) startHook(ctx context.Context, decl *hookDecl, in any) (*hookRun, error) {
	fail := func(err error) (*hookRun, error) { return nil, &PluginError{Op: OpHook, Name: decl.name, Err: err} }
	if err := h.declares(decl); err != nil {
		return fail(err)
	}
	input, err := encodeJSON(in)
	if err != nil {
		return fail(fmt.Errorf("encode input: %w", err))
	}
	before, define, after, err := h.handlers(decl.name)
	if err != nil {
		return fail(err)
	}
	if h.opts.ValidateHostValues && len(before)+len(define)+len(after) > 0 {
		if err := decl.in.check(input); err != nil {
			return fail(fmt.Errorf("%w: %v", ErrBadInput, err))
		}
	}
	for _, p := range before {
		if _, err := p.call(ctx, protocol.CallParams{Name: decl.name, Phase: manifest.PhaseBefore, Input: input}); err != nil {
			if errors.Is(err, ErrPluginFailed) {
				err = fmt.Errorf("%w: %w", ErrVetoed, err)
			}
			return nil, &PluginError{Plugin: p.name, Op: OpHook, Name: decl.name, Err: err}
		}
	}
	return &hookRun{decl: decl, input: input, before: before, define: define, after: after}, nil
}

// runAfter runs the after handlers with the input and output. Their errors
// are logged; they cannot change the result.
func (r *hookRun) runAfter(ctx context.Context, output json.RawMessage) {
	afterIn, _ := rpc.Marshal(protocol.AfterInput{Input: r.input, Output: output})
	for _, p := range r.after {
		if _, err := p.call(ctx, protocol.CallParams{Name: r.decl.name, Phase: manifest.PhaseAfter, Input: afterIn}); err != nil {
			p.log.Warn("after handler failed", "hook", r.decl.name, "error", errForLog(err, p.spec.Limits.MaxLogLine))
		}
	}
}

// define runs the winning define handler, or the default. It returns the
// output typed and, when a plugin produced it, as JSON.
func (k *Hook[In, Out]) define(ctx context.Context, definers []*loadedPlugin, in In, input json.RawMessage) (Out, json.RawMessage, error) {
	var out Out
	for _, p := range definers {
		res, err := p.call(ctx, protocol.CallParams{Name: k.decl.name, Phase: manifest.PhaseDefine, Input: input})
		if err != nil {
			return out, nil, &PluginError{Plugin: p.name, Op: OpHook, Name: k.decl.name, Err: err}
		}
		// Threat: a plugin that lies about its result's shape must not
		// hand the host a half-filled value as if it were valid: the
		// schema refuses missing, unknown and mistyped fields, which
		// json.Unmarshal would turn into zero values or skip.
		if err := p.checkValue(ctx, k.decl.out, res); err != nil {
			err = badResult(err)
			p.host.tel.resultRefused(ctx, p, k.decl.name, manifest.PhaseDefine, err) // telemetry.go
			return out, nil, &PluginError{Plugin: p.name, Op: OpHook, Name: k.decl.name, Err: err}
		}
		if err := json.Unmarshal(res, &out); err != nil {
			err = fmt.Errorf("%w: %v", ErrBadResult, err)
			p.host.tel.resultRefused(ctx, p, k.decl.name, manifest.PhaseDefine, err) // telemetry.go
			return out, nil, &PluginError{Plugin: p.name, Op: OpHook, Name: k.decl.name, Err: err}
		}
		return out, res, nil
	}
	if k.def == nil {
		return out, nil, &PluginError{Op: OpHook, Name: k.decl.name, Err: fmt.Errorf("%w: no plugin defines it and it has no default", ErrNotImplemented)}
	}
	out, err := k.def(ctx, in)
	if err != nil {
		return out, nil, err
	}
	return out, nil, nil
}

// handlers returns the plugins taking part in hook, by phase, each in
// priority order (highest first, ties by name). A disabled plugin is left
// out where the operator's policy skips it (Config.Hooks); where it does
// not, its call fails with ErrPluginDisabled and fails the hook.
func (h *Host) handlers(hook string) (before, define, after []*loadedPlugin, err error) {
	h.mu.RLock()
	if h.closed {
		h.mu.RUnlock()
		return nil, nil, nil, ErrClosed
	}
	for _, p := range h.plugins {
		if !p.manifest.Implements(hook) {
			continue
		}
		phase := p.manifest.Phase(hook)
		if p.disabled() && h.policy.skipDisabled(hook, phase) {
			continue
		}
		switch phase {
		case manifest.PhaseBefore:
			before = append(before, p)
		case manifest.PhaseAfter:
			after = append(after, p)
		default:
			define = append(define, p)
		}
	}
	h.mu.RUnlock()
	for _, list := range [][]*loadedPlugin{before, define, after} {
		sort.Slice(list, func(i, j int) bool {
			pi, pj := list[i].priority(hook), list[j].priority(hook)
			if pi != pj {
				return pi > pj
			}
			return list[i].name < list[j].name
		})
	}
	return before, define, after, nil
}

func (p *loadedPlugin) disabled() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state == StateDisabled
}
