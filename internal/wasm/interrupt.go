package wasm

import (
	"context"
	"errors"

	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"

	"github.com/airlock-go/airlock/internal/wasm/instrument"
)

// fuelRefill is the fuel the check hands a guest: about this many of its
// instructions run between two checks. At a few hundred picoseconds an
// instruction that is some tens of microseconds, for about 0.1 µs a
// check; at worst (every instruction a cache miss, ~100 ns) 6.5 ms, which
// bounds how late a deadline or the garbage collector's stop-the-world
// is served.
const fuelRefill = 1 << 16

// instantiateInterrupt provides the import the instrumentation adds
// (internal/wasm/instrument): the check a guest calls whenever its fuel
// runs out.
func (p *plugin) instantiateInterrupt(ctx context.Context) error {
	_, err := p.rt.NewHostModuleBuilder(instrument.ImportModule).
		NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(p.check), nil, []api.ValueType{i32}).
		Export(instrument.ImportName).
		Instantiate(ctx)
	return err
}

// check ends the guest's call, start or handshake if its context has
// ended or the plugin is stopping, and otherwise refills its fuel.
//
// Threat: a guest that never returns (a loop without calls, recursion
// without loops) holding its call and a core past its deadline, and,
// since compiled wasm code is not preemptible by Go's scheduler, the
// host's garbage collector with them. wazero's own remedy
// (WithCloseOnContextDone) costs a goroutine per call and a check at
// every loop iteration; here the guest's code counts down in a register
// and comes here every fuelRefill instructions or so, where the deadline
// is ctx.Err(): for a call, a comparison with the clock (callState, no
// timer armed), else the context's own, closed by its timer; and the
// call into Go is a point where the scheduler can stop the goroutine.
// The panic unwinds the guest as proc_exit does, and the call returns a
// *sys.ExitError, which classify turns into errDeadline.
func (p *plugin) check(ctx context.Context, _ api.Module, stack []uint64) {
	p.stopIfEnded(ctx)
	stack[0] = api.EncodeI32(fuelRefill)
}

// stopIfEnded ends the guest, from a host function it called, if ctx has
// ended or the plugin is stopping.
func (p *plugin) stopIfEnded(ctx context.Context) {
	if err := ctx.Err(); err != nil {
		code := sys.ExitCodeContextCanceled
		if errors.Is(err, context.DeadlineExceeded) {
			code = sys.ExitCodeDeadlineExceeded
		}
		panic(sys.NewExitError(code))
	}
	if p.stopping.Load() {
		panic(sys.NewExitError(sys.ExitCodeContextCanceled))
	}
}
