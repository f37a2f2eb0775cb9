package wasm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/sys"
	"golang.org/x/time/rate"

	"github.com/airlock-go/airlock/internal/deadline"
	"github.com/airlock-go/airlock/internal/rpc"
	"github.com/airlock-go/airlock/internal/tier"
	"github.com/airlock-go/airlock/internal/wasm/instrument"
	"github.com/airlock-go/airlock/protocol"
)

// plugin is one loaded wasm plugin: its compiled module, a bounded pool
// of instances, each serving one call at a time, and the memory budget
// they share.
type plugin struct {
	spec     tier.Spec
	starter  *Starter
	cache    *moduleCache // released at Stop
	rt       wazero.Runtime
	compiled wazero.CompiledModule
	info     protocol.InitializeResult
	seq      atomic.Int64
	epoch    time.Time // read once: call deadlines and idle times are kept as time since then

	watch         deadline.Watch // the calls' deadlines
	pool          pool
	mem           *budget
	initialMemory int64         // bytes of a new instance's memory
	tableBytes    int64         // bytes an instance's tables may hold (instrument.TableBytes)
	recordBytes   int64         // bytes wazero makes for an instance's globals, imports and segments (instrument.RecordBytes)
	files         openFiles     // the files its instances hold open (max_open_files)
	hostBytes     *rate.Limiter // its host calls' input bytes (host_call_bytes_per_second); nil: no bound
	stackBytes    int64         // bytes charged for an instance's call stack (stackReserve)

	done     chan struct{}
	stopping atomic.Bool // set as done is closed: a load where a call's path asks (a select costs more)
	stopOnce sync.Once
}

// newPlugin compiles code into rt (through the starter's authenticated
// cache), checks it against the contract before any of its code runs,
// and starts a first instance under the start timeout.
func newPlugin(ctx context.Context, s *Starter, cache *moduleCache, rt wazero.Runtime, code []byte, spec tier.Spec) (*plugin, error) {
	p := &plugin{
		spec:      spec,
		rt:        rt,
		mem:       &budget{limit: int64(pages(spec.Limits.MaxMemory)) * pageSize},
		files:     openFiles{limit: int64(spec.Limits.MaxOpenFiles), maxBytes: spec.Limits.MaxFileBytes},
		hostBytes: rpc.NewPace(spec.Limits.HostCallBytesPerSec, spec.Limits.MaxMessage),
		done:      make(chan struct{}),
		epoch:     time.Now(),
	}
	p.pool.changed = make(chan struct{})
	p.pool.ttl = idleTimeout
	p.mem.evict = p.evictIdle
	if err := p.instantiateWASI(ctx); err != nil {
		return nil, fmt.Errorf("%w: wasi: %v", tier.ErrStart, err)
	}
	if err := p.instantiateHostModule(ctx); err != nil {
		return nil, fmt.Errorf("%w: host module: %v", tier.ErrStart, err)
	}
	if err := p.instantiateInterrupt(ctx); err != nil {
		return nil, fmt.Errorf("%w: interrupt module: %v", tier.ErrStart, err)
	}
	compiled, err := s.compile(ctx, rt, cache, code)
	var invalid invalidModule
	switch {
	case errors.As(err, &invalid):
		return nil, fmt.Errorf("%w: %s is not a valid WebAssembly module: %v", tier.ErrStart, spec.Manifest.RunHere().Entry, err)
	case err != nil:
		return nil, fmt.Errorf("%w: %v", tier.ErrStart, err)
	}
	// Threat: a module importing what Airlock does not provide, or not
	// exporting the contract's functions. Checked before any guest code
	// runs.
	if err := checkContract(compiled); err != nil {
		return nil, fmt.Errorf("%w: %v", tier.ErrStart, err)
	}
	p.compiled = compiled
	p.starter, p.cache = s, cache
	p.initialMemory = int64(compiled.ExportedMemories()[exportMemory].Min()) * pageSize
	if p.tableBytes, err = instrument.TableBytes(code); err != nil {
		return nil, fmt.Errorf("%w: %v", tier.ErrStart, err)
	}
	if p.recordBytes, err = instrument.RecordBytes(code); err != nil {
		return nil, fmt.Errorf("%w: %v", tier.ErrStart, err)
	}
	p.stackBytes = stackReserve(p.mem.limit)
	if err := p.startFirst(ctx); err != nil {
		return nil, err
	}
	return p, nil
}

// startFirst creates the first instance and checks its handshake, all
// within the start timeout (threat: a start function, protocol export
// or handshake that never returns hanging the host's Start).
func (p *plugin) startFirst(ctx context.Context) error {
	sctx, cancel := context.WithTimeout(ctx, p.spec.Limits.StartTimeout)
	defer cancel()
	if !p.mem.reserve(p.instanceBytes()) {
		return fmt.Errorf("%w: %w: the module's initial memory (%d bytes), its tables at their maximum (%d bytes), the runtime's records of its globals, imports and segments (%d bytes) and its call stack (%d bytes) exceed max_memory_bytes (%d)",
			tier.ErrStart, tier.ErrResourceCaps, p.initialMemory, p.tableBytes, p.recordBytes, p.stackBytes, p.mem.limit)
	}
	p.pool.count = 1
	inst, info, err := p.newInstance(sctx)
	if err != nil {
		return err
	}
	if err := tier.CheckHandshake(p.spec.Manifest, info); err != nil {
		inst.close()
		return err
	}
	p.info = info
	p.put(inst, false)
	return nil
}

// Call runs one hook or function on an instance from the pool, holding
// one of the slots that bound the calls in flight.
func (p *plugin) Call(ctx context.Context, call protocol.CallParams) (json.RawMessage, error) {
	inst := p.takeFast()
	if inst == nil {
		if err := p.takeSlot(ctx); err != nil {
			return nil, err
		}
	}
	timeout := p.spec.Limits.CallTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(dl))
	}
	due := time.Since(p.epoch) + timeout
	if inst == nil {
		var err error
		if inst, err = p.getBy(ctx, due); err != nil {
			p.releaseSlot()
			return nil, err
		}
	}
	out, broken, err := p.serve(ctx, inst, call, timeout, due)
	p.release(inst, broken)
	return out, err
}

// serve runs call on inst, ending at due (since p.epoch), under the
// state the instance keeps for its calls (one call at a time: a state
// made for each was a tenth of a small call's cost), begun for it and
// ended before it returns, and so before the instance can serve
// another. broken says the instance must not be reused.
func (p *plugin) serve(ctx context.Context, inst *instance, call protocol.CallParams, timeout, due time.Duration) (out json.RawMessage, broken bool, err error) {
	cctx := &inst.state
	cctx.begin(ctx, &p.watch, p.epoch, due)
	defer cctx.end()
	call.TimeoutMS = max(timeout.Milliseconds(), 1)
	params, err := call.AppendJSON(inst.params[:0])
	if err != nil {
		return nil, false, fmt.Errorf("encode call: %w", err)
	}
	if cap(params) <= reuseParams {
		inst.params = params
	}
	out, err = inst.invoke(cctx, cctx, inst.call, params, p.spec.Limits.MaxMessage)
	if err == nil {
		return out, false, nil
	}
	if re := (*protocol.Error)(nil); errors.As(err, &re) {
		return nil, false, re // the plugin's own error: the instance is fine
	}
	// Threat: an instance reused after a trap, a deadline or a broken
	// contract, in whatever state the guest was left (a trap can stop it
	// halfway through its allocator). It is closed; the next call gets a
	// fresh one.
	switch {
	case p.stopping.Load():
		return nil, true, fmt.Errorf("%w: during the call", tier.ErrStopped)
	case cctx.Err() != nil && ctx.Err() == nil || errors.Is(err, errDeadline):
		return nil, true, fmt.Errorf("%w: no answer within %v (instance stopped)", tier.ErrDeadline, timeout.Round(time.Millisecond))
	}
	return nil, true, err
}

// reuseParams bounds the buffer an instance keeps for encoding its calls'
// parameters (a larger one is left to the garbage collector).
const reuseParams = 64 << 10

// Stop closes every instance and the runtime.
func (p *plugin) Stop(ctx context.Context) error {
	p.stopOnce.Do(func() {
		p.stopping.Store(true)
		close(p.done)
		p.closePool()
		p.rt.Close(ctx)
		p.starter.release(ctx, p.cache)
		p.watch.Stop()
	})
	return nil
}

func (p *plugin) Done() <-chan struct{}           { return p.done }
func (p *plugin) Err() error                      { return nil }
func (p *plugin) Info() protocol.InitializeResult { return p.info }

// describe shortens wazero's errors for people.
func describe(err error) string {
	s := err.Error()
	if i := strings.Index(s, "\nwasm stack trace:"); i > 0 {
		s = s[:i]
	}
	return s
}

var errDeadline = errors.New("deadline")

// classify turns a failed guest call into the tier's errors.
func classify(err error) error {
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		switch exit.ExitCode() {
		case sys.ExitCodeDeadlineExceeded, sys.ExitCodeContextCanceled:
			return errDeadline
		}
		return fmt.Errorf("%w: module exited with code %d", tier.ErrCrashed, exit.ExitCode())
	}
	msg := describe(err)
	if strings.Contains(msg, "out of bounds memory access") || strings.Contains(msg, "unreachable") ||
		strings.Contains(msg, "stack overflow") || strings.Contains(msg, "call stack exhausted") ||
		strings.Contains(msg, "integer divide by zero") || strings.Contains(msg, "integer overflow") {
		return fmt.Errorf("%w: trap: %s", tier.ErrCrashed, msg)
	}
	return fmt.Errorf("%w: %s", tier.ErrCrashed, msg)
}
