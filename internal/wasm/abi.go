package wasm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/airlock-go/airlock/internal/rpc"
	"github.com/airlock-go/airlock/internal/tier"
	"github.com/airlock-go/airlock/internal/wasm/instrument"
	"github.com/airlock-go/airlock/protocol"
)

// The contract, as docs/ABI.md describes it.
const (
	importModule   = "airlock"
	wasiModule     = "wasi_snapshot_preview1"
	exportMemory   = "memory"
	exportAlloc    = "airlock_alloc"
	exportFree     = "airlock_free"
	exportInit     = "airlock_init"
	exportCall     = "airlock_call"
	exportProtocol = "airlock_protocol"
	importHostCall = "host_call"
	importResult   = "host_result"
)

type signature struct {
	params, results []api.ValueType
}

var (
	i32 = api.ValueTypeI32
	i64 = api.ValueTypeI64

	requiredExports = map[string]signature{
		exportAlloc: {[]api.ValueType{i32}, []api.ValueType{i32}},
		exportFree:  {[]api.ValueType{i32, i32}, nil},
		exportInit:  {[]api.ValueType{i32, i32}, []api.ValueType{i64}},
		exportCall:  {[]api.ValueType{i32, i32}, []api.ValueType{i64}},
	}
	optionalExports = map[string]signature{
		exportProtocol: {nil, []api.ValueType{i32}},
		"_initialize":  {nil, nil},
	}
	hostImports = map[string]signature{
		importHostCall: {[]api.ValueType{i32, i32, i32, i32}, []api.ValueType{i32}},
		importResult:   {[]api.ValueType{i32}, nil},
	}
)

// checkContract checks a compiled module's imports and exports against the
// contract.
func checkContract(m wazero.CompiledModule) error {
	var probs []string
	for _, f := range m.ImportedFunctions() {
		mod, name, _ := f.Import()
		switch mod {
		case wasiModule:
			// Provided, restricted by the module's configuration.
		case instrument.ImportModule:
			// Added by the instrumentation, which refuses a module
			// that imports from it itself.
		case importModule:
			want, ok := hostImports[name]
			if !ok {
				probs = append(probs, fmt.Sprintf("imports %s.%s, which Airlock does not provide", mod, name))
			} else if !sameSig(f, want) {
				probs = append(probs, fmt.Sprintf("imports %s.%s with the wrong signature %s, want %s", mod, name, sigOf(f), want))
			}
		default:
			probs = append(probs, fmt.Sprintf("imports %s.%s: only the %q and %q modules are provided", mod, name, importModule, wasiModule))
		}
	}
	for _, mem := range m.ImportedMemories() {
		mod, name, _ := mem.Import()
		probs = append(probs, fmt.Sprintf("imports memory %s.%s: the module must define and export its own", mod, name))
	}
	exports := m.ExportedFunctions()
	for name, want := range requiredExports {
		f, ok := exports[name]
		switch {
		case !ok:
			probs = append(probs, fmt.Sprintf("does not export %s%s", name, want))
		case !sameSig(f, want):
			probs = append(probs, fmt.Sprintf("exports %s with the wrong signature %s, want %s", name, sigOf(f), want))
		}
	}
	for name, want := range optionalExports {
		if f, ok := exports[name]; ok && !sameSig(f, want) {
			probs = append(probs, fmt.Sprintf("exports %s with the wrong signature %s, want %s", name, sigOf(f), want))
		}
	}
	if _, ok := m.ExportedMemories()[exportMemory]; !ok {
		probs = append(probs, "does not export its memory as \"memory\"")
	}
	if len(probs) > 0 {
		slices.Sort(probs)
		return fmt.Errorf("module breaks the wasm contract (docs/ABI.md): %s", strings.Join(probs, "; "))
	}
	return nil
}

func sameSig(f api.FunctionDefinition, s signature) bool {
	return slices.Equal(f.ParamTypes(), s.params) && slices.Equal(f.ResultTypes(), s.results)
}

func sigOf(f api.FunctionDefinition) string {
	return signature{f.ParamTypes(), f.ResultTypes()}.String()
}

func (s signature) String() string {
	name := func(ts []api.ValueType) string {
		var out []string
		for _, t := range ts {
			out = append(out, api.ValueTypeName(t))
		}
		return strings.Join(out, ", ")
	}
	return fmt.Sprintf("(%s) -> (%s)", name(s.params), name(s.results))
}

// invoke passes input to fn through guest memory and returns the result of
// the envelope the guest answers with. A plugin's own error is an
// *protocol.Error; any other error means the instance must not be reused.
// While fn runs (not airlock_alloc or airlock_free), host_call is
// allowed if state, the call's, is not nil.
func (inst *instance) invoke(ctx context.Context, state *callState, fn api.Function, input []byte, limit int) (json.RawMessage, error) {
	if len(input) > limit {
		return nil, &protocol.Error{Code: protocol.CodeInvalidParams, Message: fmt.Sprintf("input of %d bytes exceeds the limit of %d", len(input), limit)}
	}
	mem := inst.mod.Memory()
	res, err := inst.enter(ctx, inst.alloc, uint64(len(input)))
	if err != nil {
		return nil, inst.classify(err)
	}
	ptr := uint32(res)
	// Threat: a guest returning a pointer outside its memory to make the
	// host read or write elsewhere; wazero's accessors check bounds.
	if !mem.Write(ptr, input) {
		return nil, fmt.Errorf("%w: %s returned an out-of-bounds pointer %d for %d bytes", tier.ErrViolation, exportAlloc, ptr, len(input))
	}
	if state != nil {
		state.inCall = true
	}
	res, err = inst.run(ctx, fn, uint64(ptr), uint64(len(input)))
	if state != nil {
		state.inCall, state.pending = false, nil
	}
	if err != nil {
		return nil, inst.classify(err)
	}
	outPtr, outLen := uint32(res>>32), uint32(res)
	if int(outLen) > limit {
		return nil, fmt.Errorf("%w: output of %d bytes exceeds the limit of %d", tier.ErrResourceCaps, outLen, limit)
	}
	view, ok := mem.Read(outPtr, outLen)
	if !ok {
		return nil, fmt.Errorf("%w: the module returned an out-of-bounds result (pointer %d, length %d, memory %d bytes)", tier.ErrViolation, outPtr, outLen, mem.Size())
	}
	out := append([]byte(nil), view...)
	if _, err := inst.enter(ctx, inst.free, uint64(outPtr), uint64(outLen)); err != nil {
		return nil, inst.classify(err)
	}
	if result, ok := compactResult(out); ok {
		return result, nil
	}
	var env struct {
		Result json.RawMessage `json:"result"`
		Error  *protocol.Error `json:"error"`
	}
	if err := rpc.Unmarshal(out, &env); err != nil {
		return nil, fmt.Errorf("%w: the module's answer is not a result envelope: %v", tier.ErrViolation, err)
	}
	if env.Error != nil {
		return nil, env.Error
	}
	if env.Result == nil {
		env.Result = json.RawMessage("null")
	}
	return env.Result, nil
}

// compactResult returns the result of an envelope in the form the SDKs
// write, {"result":VALUE} with nothing around VALUE, if VALUE is valid
// JSON (as strictly as rpc.Unmarshal checks it): the common answer, read
// without decoding. Any other form is for invoke to decode.
func compactResult(out []byte) (json.RawMessage, bool) {
	const prefix = `{"result":`
	n := len(out)
	if n < len(prefix)+2 || string(out[:len(prefix)]) != prefix || out[n-1] != '}' {
		return nil, false
	}
	v := out[len(prefix) : n-1]
	if isSpace(v[0]) || isSpace(v[len(v)-1]) || !rpc.ValidValue(v) {
		return nil, false
	}
	return json.RawMessage(v), true
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// run calls fn under ctx, which carries the call's deadline. The guest's
// instrumented code calls check at regular intervals, which stops it once
// ctx has ended, even if it never yields (interrupt.go); poll_oneoff
// wakes a guest asleep in WASI. A context that has already ended is not
// entered.
func (inst *instance) run(ctx context.Context, fn api.Function, args ...uint64) (uint64, error) {
	if ended(ctx) {
		return 0, errDeadline
	}
	return inst.enter(ctx, fn, args...)
}

// ended reports whether ctx has ended. Of a call's own state it asks the
// caller's context, and not the clock: the state was made moments ago,
// and a deadline passed since (a wait for an instance fails at it) is
// the guest's first check's to find, within fuelRefill instructions. A
// clock read is a tenth of a small call's own cost.
func ended(ctx context.Context) bool {
	if s, ok := ctx.(*callState); ok {
		return s.parent.Err() != nil || s.timed != nil && s.timed.Err() != nil
	}
	return ctx.Err() != nil
}

// enter calls fn (an export of the contract: at most two parameters and
// one result) with args under ctx, through the instance's stack, which
// wazero reads the arguments from and writes the results to: no
// allocation a call. It returns the first result, if any.
func (inst *instance) enter(ctx context.Context, fn api.Function, args ...uint64) (uint64, error) {
	// Every entry starts from the whole stack bound: the rewritten code
	// leaves the global at the level of the last function it entered
	// (instrument.StackExport).
	inst.stackLeft.Set(inst.stackLevel)
	stack := inst.stack[:]
	copy(stack, args)
	if err := fn.CallWithStack(ctx, stack); err != nil {
		return 0, err
	}
	return stack[0], nil
}

// instantiateHostModule provides the airlock import module: host_call
// runs a host function (checked against the grants by spec.Host) and
// keeps its answer; host_result copies the answer into guest memory.
func (p *plugin) instantiateHostModule(ctx context.Context) error {
	_, err := p.rt.NewHostModuleBuilder(importModule).
		NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(p.hostCall), []api.ValueType{i32, i32, i32, i32}, []api.ValueType{i32}).
		Export(importHostCall).
		NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(p.hostResult), []api.ValueType{i32}, nil).
		Export(importResult).
		Instantiate(ctx)
	return err
}

func (p *plugin) hostCall(ctx context.Context, mod api.Module, stack []uint64) {
	state, _ := ctx.Value(stateKey{}).(*callState)
	if state != nil && !state.inCall {
		state = nil
	}
	answer := func(v any) {
		data, _ := json.Marshal(v)
		if state != nil {
			state.pending = data
		}
		stack[0] = uint64(len(data))
	}
	fail := func(code int, format string, args ...any) {
		answer(map[string]any{"error": protocol.Errorf(code, format, args...)})
	}
	mem := mod.Memory()
	fn, ok1 := mem.Read(uint32(stack[0]), uint32(stack[1]))
	in, ok2 := mem.Read(uint32(stack[2]), uint32(stack[3]))
	switch {
	case state == nil:
		fail(protocol.CodeInvalidRequest, "host_call outside a call")
		return
	case !ok1 || !ok2:
		fail(protocol.CodeInvalidParams, "host_call: out-of-bounds pointer")
		return
	case len(in) > p.spec.Limits.MaxMessage:
		fail(protocol.CodeInvalidParams, "host_call: input of %d bytes exceeds the limit of %d", len(in), p.spec.Limits.MaxMessage)
		return
	}
	// Threat: inputs that cost the host more to check than the guest to
	// send: the same input, at the same place in its memory, again and
	// again, costs the guest nothing (internal/rpc/pace.go). The call
	// waits for its bytes within its deadline, or until the plugin stops.
	if p.hostBytes != nil && len(in) > 0 {
		if err := rpc.WaitPace(state.context(), p.hostBytes, len(in), p.done, p.spec.Paced); err != nil {
			fail(protocol.CodeRateLimited, "host_call: more than %d bytes of host calls a second (host_call_bytes_per_second): %v", p.spec.Limits.HostCallBytesPerSec, err)
			return
		}
	}
	input := json.RawMessage("null")
	if len(in) > 0 {
		// Threat: a guest handing a host function what no process plugin
		// can (the rpc decoder refuses it with the message): invalid JSON,
		// invalid UTF-8, a member twice (two readers may take either
		// value), nesting past the decoder's depth, or a second value
		// after the first (a host forwarding it would send it on).
		checked, err := rpc.CheckRaw(in)
		if err != nil {
			fail(protocol.CodeInvalidParams, "host_call: input is not one valid JSON value: %v", err)
			return
		}
		input = append(json.RawMessage(nil), checked...)
	}
	// Threat: a name as long as the guest's memory, copied into a string
	// at every host call (the host's answer quotes at most the first 128
	// bytes of a name it does not know). No host function has a name
	// this long: cut, it stays unknown, and the copy stays small.
	if len(fn) > maxHostFuncName {
		fn = fn[:maxHostFuncName]
	}
	res, err := p.spec.Host(state.context(), string(fn), input)
	if err != nil {
		var re *protocol.Error
		if !errors.As(err, &re) {
			re = &protocol.Error{Code: protocol.CodeFailed, Message: err.Error()}
		}
		answer(map[string]any{"error": re})
		return
	}
	answer(map[string]json.RawMessage{"result": res})
}

// maxHostFuncName is longer than any host function's name (at most 128
// bytes: airlock.NewFunc).
const maxHostFuncName = 1024

func (p *plugin) hostResult(ctx context.Context, mod api.Module, stack []uint64) {
	state, _ := ctx.Value(stateKey{}).(*callState)
	if state == nil || !state.inCall || state.pending == nil {
		return
	}
	// An out-of-bounds pointer writes nothing; the guest reads garbage
	// from its own memory, never the host's.
	mod.Memory().Write(uint32(stack[0]), state.pending)
	state.pending = nil
}

func lookupEnv(name string) (string, bool) { return os.LookupEnv(name) }
