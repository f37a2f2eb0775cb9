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
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"

	"github.com/airlock-go/airlock/internal/deadline"
	"github.com/airlock-go/airlock/internal/rpc"
	"github.com/airlock-go/airlock/internal/tier"
)

// maxInstances bounds the instances of one plugin: one per concurrent
// call, up to this many (a Go-built module takes about 16 MiB each).
const maxInstances = 16

// plugin is one loaded wasm plugin: its compiled module and a bounded pool
// of instances, each serving one call at a time (wazero instances are not
// safe for concurrent use).
type plugin struct {
	spec     tier.Spec
	rt       wazero.Runtime
	compiled wazero.CompiledModule
	info     rpc.InitializeResult
	seq      atomic.Int64

	slots chan struct{}  // calls in flight
	watch deadline.Watch // the calls' deadlines
	idle  chan *instance // instances ready for a call
	mu    sync.Mutex
	count int // instances alive

	done     chan struct{}
	stopOnce sync.Once
}

// instance is one instantiated module with its exports looked up once.
type instance struct {
	mod               api.Module
	alloc, free, call api.Function
}

func newPlugin(ctx context.Context, rt wazero.Runtime, code []byte, spec tier.Spec) (*plugin, error) {
	p := &plugin{
		spec:  spec,
		rt:    rt,
		slots: make(chan struct{}, spec.Limits.MaxInflight),
		idle:  make(chan *instance, maxInstances),
		done:  make(chan struct{}),
	}
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		return nil, fmt.Errorf("%w: wasi: %v", tier.ErrStart, err)
	}
	if err := p.instantiateHostModule(ctx); err != nil {
		return nil, fmt.Errorf("%w: host module: %v", tier.ErrStart, err)
	}
	compiled, err := rt.CompileModule(ctx, code)
	if err != nil {
		return nil, fmt.Errorf("%w: %s is not a valid WebAssembly module: %v", tier.ErrStart, spec.Manifest.RunHere().Entry, err)
	}
	// Threat: a module importing what Airlock does not provide, or not
	// exporting the contract's functions. Checked before any guest code
	// runs.
	if err := checkContract(compiled); err != nil {
		return nil, fmt.Errorf("%w: %v", tier.ErrStart, err)
	}
	p.compiled = compiled
	inst, info, err := p.newInstance(ctx)
	if err != nil {
		return nil, err
	}
	if err := tier.CheckHandshake(spec.Manifest, info); err != nil {
		inst.mod.Close(ctx)
		return nil, err
	}
	p.info = info
	p.count = 1
	p.idle <- inst
	return p, nil
}

// newInstance instantiates the module with only what the grants allow,
// and runs its handshake.
func (p *plugin) newInstance(ctx context.Context) (*instance, rpc.InitializeResult, error) {
	var info rpc.InitializeResult
	cfg := p.moduleConfig()
	mod, err := p.rt.InstantiateModule(ctx, p.compiled, cfg)
	if err != nil {
		return nil, info, fmt.Errorf("%w: instantiate: %v", tier.ErrStart, describe(err))
	}
	inst := &instance{
		mod:   mod,
		alloc: mod.ExportedFunction(exportAlloc),
		free:  mod.ExportedFunction(exportFree),
		call:  mod.ExportedFunction(exportCall),
	}
	if v := mod.ExportedFunction(exportProtocol); v != nil {
		res, err := v.Call(ctx)
		if err != nil || len(res) != 1 || res[0] != 1 {
			mod.Close(ctx)
			return nil, info, fmt.Errorf("%w: module speaks protocol %v, host speaks 1", tier.ErrHandshake, res)
		}
	}
	params, _ := json.Marshal(rpc.InitializeParams{
		Protocols: []int{1},
		Plugin:    p.spec.Name,
		Config:    p.spec.Config,
		Grants:    p.spec.Grants.Strings(),
		Functions: p.spec.Functions,
	})
	hctx, cancel := context.WithTimeout(ctx, p.spec.Limits.StartTimeout)
	defer cancel()
	out, err := inst.invoke(hctx, mod.ExportedFunction(exportInit), params, p.spec.Limits.MaxMessage)
	if err != nil {
		mod.Close(ctx)
		return nil, info, fmt.Errorf("%w: %v", tier.ErrHandshake, err)
	}
	if err := json.Unmarshal(out, &info); err != nil {
		mod.Close(ctx)
		return nil, info, fmt.Errorf("%w: answer is not an initialize result: %v", tier.ErrHandshake, err)
	}
	return inst, info, nil
}

// moduleConfig grants the instance nothing by default (threat: ambient
// authority): no arguments, no environment but granted env: variables, no
// files but the fs.read (read-only) and fs.write grants, standard output
// and error into the plugin's log. Clocks and randomness are real.
func (p *plugin) moduleConfig() wazero.ModuleConfig {
	log := newLineWriter(p.spec.Log, p.spec.Limits)
	cfg := wazero.NewModuleConfig().
		WithName(fmt.Sprintf("%s-%d", p.spec.Name, p.seq.Add(1))).
		WithStdout(log).WithStderr(log).
		WithSysWalltime().WithSysNanotime().WithSysNanosleep().
		WithRandSource(randSource).
		WithStartFunctions()
	for _, fn := range p.compiled.ExportedFunctions() {
		if fn.ExportNames()[0] == "_initialize" {
			cfg = cfg.WithStartFunctions("_initialize")
		}
	}
	for _, name := range p.spec.Grants.Scopes("env") {
		if v, ok := lookupEnv(name); ok {
			cfg = cfg.WithEnv(name, v)
		}
	}
	fs := wazero.NewFSConfig()
	for _, dir := range p.spec.Grants.Scopes("fs.read") {
		fs = fs.WithReadOnlyDirMount(dir, dir)
	}
	for _, dir := range p.spec.Grants.Scopes("fs.write") {
		fs = fs.WithDirMount(dir, dir)
	}
	return cfg.WithFSConfig(fs)
}

// Call runs one hook or function on an instance from the pool.
func (p *plugin) Call(ctx context.Context, call rpc.CallParams) (json.RawMessage, error) {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: waiting for a free slot (%d calls in flight)", tier.ErrDeadline, cap(p.slots))
	case <-p.done:
		return nil, tier.ErrStopped
	}
	defer func() { <-p.slots }()
	timeout := p.spec.Limits.CallTimeout
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
		timeout = time.Until(dl)
	}
	cctx, cancel := p.watch.WithTimeout(ctx, timeout)
	defer cancel()
	inst, err := p.get(cctx)
	if err != nil {
		return nil, err
	}
	call.TimeoutMS = max(timeout.Milliseconds(), 1)
	params, err := call.AppendJSON(nil)
	if err != nil {
		p.put(inst, false)
		return nil, fmt.Errorf("encode call: %w", err)
	}
	out, err := inst.invoke(cctx, inst.call, params, p.spec.Limits.MaxMessage)
	var re *rpc.Error
	switch {
	case err == nil:
		p.put(inst, false)
		return out, nil
	case errors.As(err, &re):
		p.put(inst, false) // the plugin's own error: the instance is fine
		return nil, re
	}
	// A trap, a deadline, a broken contract: this instance is not used
	// again; the next call gets a fresh one.
	p.put(inst, true)
	if cctx.Err() != nil && ctx.Err() == nil || errors.Is(err, errDeadline) {
		return nil, fmt.Errorf("%w: no answer within %v (instance stopped)", tier.ErrDeadline, timeout.Round(time.Millisecond))
	}
	return nil, err
}

// get takes an idle instance, or makes a new one while under the bound.
func (p *plugin) get(ctx context.Context) (*instance, error) {
	select {
	case inst := <-p.idle:
		return inst, nil
	default:
	}
	p.mu.Lock()
	if p.count < min(maxInstances, cap(p.slots)) {
		p.count++
		p.mu.Unlock()
		inst, _, err := p.newInstance(context.WithoutCancel(ctx))
		if err != nil {
			p.mu.Lock()
			p.count--
			p.mu.Unlock()
			return nil, err
		}
		return inst, nil
	}
	p.mu.Unlock()
	select {
	case inst := <-p.idle:
		return inst, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: waiting for an instance", tier.ErrDeadline)
	case <-p.done:
		return nil, tier.ErrStopped
	}
}

// put returns an instance to the pool, or discards a broken one.
func (p *plugin) put(inst *instance, broken bool) {
	select {
	case <-p.done:
		broken = true
	default:
	}
	if !broken {
		p.idle <- inst
		return
	}
	inst.mod.Close(context.Background())
	p.mu.Lock()
	p.count--
	p.mu.Unlock()
}

// Stop closes every instance and the runtime.
func (p *plugin) Stop(ctx context.Context) error {
	p.stopOnce.Do(func() {
		close(p.done)
		p.rt.Close(ctx)
		p.watch.Stop()
	})
	return nil
}

func (p *plugin) Done() <-chan struct{}      { return p.done }
func (p *plugin) Err() error                 { return nil }
func (p *plugin) Info() rpc.InitializeResult { return p.info }

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
		strings.Contains(msg, "stack overflow") || strings.Contains(msg, "call stack exhausted") {
		return fmt.Errorf("%w: trap: %s", tier.ErrCrashed, msg)
	}
	return fmt.Errorf("%w: %s", tier.ErrCrashed, msg)
}
