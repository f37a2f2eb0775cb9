package wasm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/sys"

	"github.com/airlock-go/airlock/internal/tier"
	"github.com/airlock-go/airlock/internal/wasm/instrument"
	"github.com/airlock-go/airlock/protocol"
)

// instance is one instantiated module with its exports looked up once.
type instance struct {
	mod               api.Module
	mem               *linearMemory
	alloc, free, call api.Function
	idleSince         time.Duration     // when it was last returned to the pool, since plugin.epoch
	params            []byte            // the last call's encoded parameters, for the next to reuse
	stack             [2]uint64         // arguments and results of calls into the guest (enter)
	state             callState         // the state of the call it serves (plugin.call)
	stackLeft         api.MutableGlobal // the call stack the guest has left (instrument.StackExport)
	stackBound        int64             // bytes of call stack the guest may use
	stackLevel        uint64            // stackBound in instrument.StackUnit, as the global holds it
}

// classify turns a failed guest call into the tier's errors, telling a
// call stack that ran out from the guest's own unreachable.
func (inst *instance) classify(err error) error {
	if inst.stackLeft != nil && int32(inst.stackLeft.Get()) < 0 {
		return fmt.Errorf("%w: trap: call stack exhausted: the guest's calls went deeper than its bound of %d KiB of stack (half of stackReserve: a 128th of max_memory_bytes, within 64 KiB and 16 MiB)", tier.ErrCrashed, inst.stackBound>>10)
	}
	return classify(err)
}

// close closes the module and returns its memory to the budget (wazero
// frees it too when the module closes, but not for every path, so the
// pool does not rely on it).
func (inst *instance) close() {
	inst.mod.Close(context.Background())
	inst.mem.Free()
}

// newInstance instantiates the module with only what the grants allow,
// and runs its handshake. Its initial memory must have been reserved in
// the budget; it is released again if this fails.
//
// Every entry into the guest here runs under ctx, which has a deadline:
// the start timeout when the plugin starts, the call's deadline when a
// call needs a new instance. Threat: a module whose start section,
// _initialize, airlock_protocol or airlock_init never returns, hanging
// the host's Start or a call while a core spins. The instrumented code's
// checks end them once that context has ended (interrupt.go), which
// stops even a loop that never yields; a guest asleep in WASI is woken
// by poll_oneoff (poll.go).
func (p *plugin) newInstance(ctx context.Context) (*instance, protocol.InitializeResult, error) {
	var info protocol.InitializeResult
	begin := time.Now()
	mem := p.mem.memory(p.initialMemory, p.instanceBytes()-p.initialMemory)
	mod, err := p.rt.InstantiateModule(experimental.WithMemoryAllocator(ctx, mem), p.compiled, p.moduleConfig())
	if err != nil {
		mem.Free()
		return nil, info, p.entryError(ctx, begin, stageInstantiate, err)
	}
	inst := &instance{
		mod:   mod,
		mem:   mem,
		alloc: mod.ExportedFunction(exportAlloc),
		free:  mod.ExportedFunction(exportFree),
		call:  mod.ExportedFunction(exportCall),
	}
	// The call stack's bound (instrument.StackExport): half of what is
	// charged for it, since wazero doubles a stack as it grows it.
	inst.stackLeft, _ = mod.ExportedGlobal(instrument.StackExport).(api.MutableGlobal)
	if inst.stackLeft == nil {
		inst.close()
		return nil, info, fmt.Errorf("%w: the rewritten module exports no %s", tier.ErrStart, instrument.StackExport)
	}
	inst.stackBound = p.stackBytes / 2
	inst.stackLevel = api.EncodeI32(int32(inst.stackBound / instrument.StackUnit))
	if stage, err := inst.runStart(ctx); err != nil {
		inst.close()
		return nil, info, p.entryError(ctx, begin, stage, err)
	}
	if err := inst.checkProtocol(ctx); err != nil {
		inst.close()
		return nil, info, p.entryError(ctx, begin, exportProtocol, err)
	}
	out, err := inst.invoke(ctx, nil, mod.ExportedFunction(exportInit), p.initParams(), p.spec.Limits.MaxMessage)
	if err != nil {
		inst.close()
		return nil, info, p.entryError(ctx, begin, exportInit, err)
	}
	if err := json.Unmarshal(out, &info); err != nil {
		inst.close()
		return nil, info, fmt.Errorf("%w: answer is not an initialize result: %v", tier.ErrHandshake, err)
	}
	return inst, info, nil
}

// The start functions, in the order WebAssembly and WASI run them: the
// start section's (exported by the rewriting), then the reactor's
// _initialize. The host calls them, not wazero at instantiation.
// Threat: a start function entered before the host sets the call
// stack's bound would recurse from the global's initial level
// (instrument.DefaultStack), more than a small plugin's bound and than
// its budget is charged for; enter sets the bound first, as for every
// entry.
var startFunctions = []struct{ export, stage string }{
	{instrument.StartExport, "the module's start function (its start section)"},
	{"_initialize", "_initialize"},
}

// runStart runs the module's start functions under ctx, and returns the
// stage that failed, if one did.
func (inst *instance) runStart(ctx context.Context) (string, error) {
	for _, f := range startFunctions {
		fn := inst.mod.ExportedFunction(f.export)
		if fn == nil {
			continue
		}
		if _, err := inst.run(ctx, fn); err != nil {
			return f.stage, inst.classify(err)
		}
	}
	return "", nil
}

// checkProtocol asks the module for the contract version it speaks, if
// it exports airlock_protocol.
func (inst *instance) checkProtocol(ctx context.Context) error {
	v := inst.mod.ExportedFunction(exportProtocol)
	if v == nil {
		return nil
	}
	res, err := inst.run(ctx, v)
	if err != nil {
		return inst.classify(err)
	}
	if res != 1 {
		return fmt.Errorf("%w: module speaks protocol %d, host speaks 1", tier.ErrHandshake, int32(res))
	}
	return nil
}

func (p *plugin) initParams() []byte {
	params, _ := json.Marshal(protocol.InitializeParams{
		Protocols: []int{1},
		Plugin:    p.spec.Name,
		Config:    p.spec.Config,
		Grants:    p.spec.Grants.Strings(),
		Functions: p.spec.Functions,
	})
	return params
}

// entryError describes a failure while creating an instance. A deadline
// (ctx ended, or the guest was stopped for it) wraps tier.ErrStart and
// tier.ErrDeadline; another failure to instantiate or in a start
// function wraps tier.ErrStart, and a failed protocol check or handshake
// tier.ErrHandshake.
func (p *plugin) entryError(ctx context.Context, begin time.Time, stage string, err error) error {
	switch {
	case ctx.Err() != nil || errors.Is(err, errDeadline) || isDeadlineExit(err):
		within := time.Since(begin)
		if dl, ok := ctx.Deadline(); ok {
			within = dl.Sub(begin)
		}
		return fmt.Errorf("%w: %w: %s did not return within %v", tier.ErrStart, tier.ErrDeadline, stage, within.Round(time.Millisecond))
	case stage == stageInstantiate:
		return fmt.Errorf("%w: %s: %s", tier.ErrStart, stage, describe(err))
	case isStartStage(stage):
		return fmt.Errorf("%w: %s: %v", tier.ErrStart, stage, err)
	case errors.Is(err, tier.ErrHandshake):
		return err
	}
	return fmt.Errorf("%w: %v", tier.ErrHandshake, err)
}

const stageInstantiate = "instantiate"

// isStartStage reports whether stage is one of startFunctions'.
func isStartStage(stage string) bool {
	for _, f := range startFunctions {
		if f.stage == stage {
			return true
		}
	}
	return false
}

// isDeadlineExit reports whether err is the guest stopped because its
// context ended (by check or poll_oneoff).
func isDeadlineExit(err error) bool {
	var exit *sys.ExitError
	return errors.As(err, &exit) && (exit.ExitCode() == sys.ExitCodeDeadlineExceeded || exit.ExitCode() == sys.ExitCodeContextCanceled)
}

// moduleConfig grants the instance nothing by default (threat: ambient
// authority): no arguments, no environment but granted env: variables, no
// files but its own (read-only, at /plugin), the fs.read (read-only) and
// fs.write grants, and only regular files and directories there
// (fsguard.go), standard output
// and error into the plugin's log, no standard input. Clocks and
// randomness are real; the monotonic clock counts from monoEpoch, so
// that poll_oneoff can turn an absolute monotonic time into a wait.
func (p *plugin) moduleConfig() wazero.ModuleConfig {
	log := newLineWriter(p.spec.Log, p.spec.Limits)
	cfg := wazero.NewModuleConfig().
		WithName(fmt.Sprintf("%s-%d", p.spec.Name, p.seq.Add(1))).
		WithStdout(log).WithStderr(log).
		WithSysWalltime().WithNanotime(monotonic, 1).WithSysNanosleep().
		WithRandSource(randSource).
		WithStartFunctions() // the host runs them (runStart)
	for _, name := range p.spec.Grants.Scopes("env") {
		if v, ok := lookupEnv(name); ok {
			cfg = cfg.WithEnv(name, v)
		}
	}
	return cfg.WithFSConfig(mountGrants(p.spec.Grants.Scopes("fs.read"), p.spec.Grants.Scopes("fs.write"), p.spec.Assets, p.spec.Dir, &p.files))
}
