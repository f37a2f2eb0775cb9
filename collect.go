package airlock

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sync"

	"github.com/airlock-go/airlock/internal/manifest"
	"github.com/airlock-go/airlock/protocol"
)

// CollectHook is a hook that asks every plugin: where a Hook takes one
// answer (the highest-priority definer's), a CollectHook runs every plugin
// that defines it and returns all their answers, in the operator's
// priority order. It is for extension points that gather: menu entries,
// report sections, search providers.
//
// Running it runs, in order:
//   - the before handlers, in priority order, as for a Hook: any may veto
//     the whole call;
//   - every define handler, at the same time, each with its own copy of the
//     input and the call's deadline. A plugin that fails, crashes, times
//     out, is disabled, or answers outside Out's schema gives an Answer
//     with Err set; the others are not affected;
//   - the after handlers, in priority order, with the input and, as the
//     output, the JSON array of the answers that succeeded.
//
// Plugins implement it as they implement any hook: they list it in their
// manifest's hooks, in the define phase (the default). The contract
// (Host.Contract) marks it "collect": true, and its output schema is one
// answer's.
type CollectHook[In, Out any] struct {
	decl hookDecl
}

// Answer is one plugin's answer to a CollectHook.
type Answer[Out any] struct {
	// Plugin is the plugin that answered.
	Plugin string
	// Value is its answer, valid when Err is nil.
	Value Out
	// Err is why it gave no answer: a *PluginError naming the plugin,
	// matching ErrPluginFailed, ErrDeadline, ErrBadResult,
	// ErrPluginDisabled and the like with errors.Is.
	Err error
}

// NewCollectHook declares a collect hook. It panics, as NewHook does, if
// In or Out cannot be carried in JSON.
func NewCollectHook[In, Out any](name string) *CollectHook[In, Out] {
	what := fmt.Sprintf("hook %q", name)
	return &CollectHook[In, Out]{decl: hookDecl{
		name:    name,
		in:      mustSchema(reflect.TypeFor[In](), false, what+" input"),
		out:     mustSchema(reflect.TypeFor[Out](), false, what+" output"),
		collect: true,
	}}
}

// Name returns the hook's name, as plugins list it in their manifests.
func (k *CollectHook[In, Out]) Name() string { return k.decl.name }

func (k *CollectHook[In, Out]) declaration() *hookDecl {
	if k == nil {
		return nil
	}
	return &k.decl
}

// Run runs the hook on h's plugins with input in and returns every
// definer's answer, in priority order (highest first, ties by name). The
// error is for the call as a whole: a veto, an undeclared hook, a closed
// host; one plugin's failure is in its Answer. With no plugin defining
// the hook, Run returns no answers and no error.
func (k *CollectHook[In, Out]) Run(ctx context.Context, h *Host, in In) ([]Answer[Out], error) {
	ctx, rec := h.tel.startHook(ctx, &k.decl) // telemetry.go
	answers, err := k.run(ctx, h, in)
	rec.end(ctx, err)
	return answers, err
}

func (k *CollectHook[In, Out]) run(ctx context.Context, h *Host, in In) ([]Answer[Out], error) {
	run, err := h.startHook(ctx, &k.decl, in)
	if err != nil {
		return nil, err
	}
	answers := make([]Answer[Out], len(run.define))
	raw := make([]json.RawMessage, len(run.define))
	var wg sync.WaitGroup
	for i, p := range run.define {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i], raw[i] = k.ask(ctx, p, run.input)
		}()
	}
	wg.Wait()
	if len(run.after) > 0 {
		ok := make([]json.RawMessage, 0, len(raw))
		for i, r := range raw {
			if answers[i].Err == nil {
				ok = append(ok, r)
			}
		}
		output, _ := json.Marshal(ok)
		run.runAfter(ctx, output)
	}
	return answers, nil
}

// ask runs one plugin's define handler and checks its answer.
func (k *CollectHook[In, Out]) ask(ctx context.Context, p *loadedPlugin, input json.RawMessage) (Answer[Out], json.RawMessage) {
	a := Answer[Out]{Plugin: p.name}
	fail := func(err error) (Answer[Out], json.RawMessage) {
		a.Err = &PluginError{Plugin: p.name, Op: OpHook, Name: k.decl.name, Err: err}
		return a, nil
	}
	res, err := p.call(ctx, protocol.CallParams{Name: k.decl.name, Phase: manifest.PhaseDefine, Input: input})
	if err != nil {
		return fail(err)
	}
	// Threat: as for a Hook's definer, an answer of the wrong shape must
	// never reach the host as a half-filled value.
	if err := p.checkValue(ctx, k.decl.out, res); err != nil {
		err = badResult(err)
		p.host.tel.resultRefused(ctx, p, k.decl.name, manifest.PhaseDefine, err) // telemetry.go
		return fail(err)
	}
	if err := json.Unmarshal(res, &a.Value); err != nil {
		err = fmt.Errorf("%w: %v", ErrBadResult, err)
		p.host.tel.resultRefused(ctx, p, k.decl.name, manifest.PhaseDefine, err) // telemetry.go
		return fail(err)
	}
	return a, res
}
