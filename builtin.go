package airlock

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/airlock-go/airlock/internal/manifest"
	"github.com/airlock-go/airlock/internal/rpc"
	"github.com/airlock-go/airlock/internal/tier"
	"github.com/airlock-go/airlock/sdk/go/plugin"
)

// Builtin is a plugin compiled into the host: Go code with full trust,
// written with the same SDK as a process plugin, so it can move between
// tiers by changing only its build. It still has a manifest, still gets
// only the host functions its grants allow, and still receives copies of
// its inputs.
type Builtin struct {
	// Manifest is the plugin's plugin.toml, with tier = "builtin".
	Manifest string
	// Plugin holds its handlers.
	Plugin *plugin.Plugin
}

func (b Builtin) manifest(name string) (*manifest.Manifest, error) {
	man, err := manifest.Parse("builtin "+name+" manifest", []byte(b.Manifest))
	if err != nil {
		return nil, manifestError(err)
	}
	if man.Tier != manifest.TierBuiltin {
		return nil, fmt.Errorf("%w: builtin %s: tier must be \"builtin\", not %q", ErrInvalidManifest, name, man.Tier)
	}
	if b.Plugin == nil {
		return nil, fmt.Errorf("%w: builtin %s has no Plugin", ErrInvalidConfig, name)
	}
	return man, nil
}

// builtinStarter runs builtin plugins in the host's own process.
type builtinStarter struct {
	builtins map[string]Builtin
}

func (s builtinStarter) Start(_ context.Context, spec tier.Spec) (tier.Instance, error) {
	var b Builtin
	for _, cand := range s.builtins {
		if cand.Plugin != nil && cand.Plugin.Name() == spec.Name {
			b = cand
		}
	}
	if b.Plugin == nil {
		return nil, fmt.Errorf("%w: no builtin plugin %s", tier.ErrStart, spec.Name)
	}
	info := rpc.InitializeResult{Protocol: manifest.ProtocolVersion, Name: b.Plugin.Name(), Version: b.Plugin.Version(), Hooks: b.Plugin.Names()}
	if err := tier.CheckHandshake(spec.Manifest, info); err != nil {
		return nil, err
	}
	spec.Limits = spec.Limits.WithDefaults()
	inst := &builtinInstance{plugin: b.Plugin, spec: spec, info: info, done: make(chan struct{}),
		slots: make(chan struct{}, spec.Limits.MaxInflight)}
	inst.host = plugin.NewHost(inst, spec.Config, spec.Grants.Strings(), spec.Functions)
	return inst, nil
}

type builtinInstance struct {
	plugin *plugin.Plugin
	spec   tier.Spec
	host   *plugin.Host
	info   rpc.InitializeResult
	done   chan struct{}
	// slots bounds the handlers running at once (Limits.MaxInflight). A
	// slot is held until the handler returns, even past its caller's
	// deadline, so a builtin that ignores its context cannot pile up
	// goroutines either.
	slots chan struct{}
}

// CallHost lets the builtin call host functions, through the same grant
// checks as any other plugin.
func (b *builtinInstance) CallHost(ctx context.Context, fn string, input json.RawMessage) (json.RawMessage, error) {
	res, err := b.spec.Host(ctx, fn, input)
	var re *rpc.Error
	if errors.As(err, &re) {
		return nil, &plugin.Error{Code: re.Code, Message: re.Message}
	}
	return res, err
}

// Call runs the handler in a goroutine so that the caller gets its
// deadline even from a builtin that ignores its context; such a handler
// keeps running (a builtin has full trust and cannot be killed), and keeps
// its slot until it returns.
func (b *builtinInstance) Call(ctx context.Context, call rpc.CallParams) (json.RawMessage, error) {
	if err := b.acquire(ctx); err != nil {
		return nil, err
	}
	timeout := b.spec.Limits.CallTimeout
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	type result struct {
		res json.RawMessage
		err error
	}
	done := make(chan result, 1)
	go func() {
		defer func() { <-b.slots }()
		res, err := b.plugin.Invoke(cctx, b.host, plugin.Call{Name: call.Name, Phase: call.Phase, Input: call.Input})
		done <- result{res, err}
	}()
	select {
	case r := <-done:
		var pe *plugin.Error
		if errors.As(r.err, &pe) {
			return nil, &rpc.Error{Code: pe.Code, Message: pe.Message}
		}
		if r.err != nil {
			return nil, &rpc.Error{Code: rpc.CodeFailed, Message: r.err.Error()}
		}
		return r.res, nil
	case <-cctx.Done():
		if ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w: no answer within %v", tier.ErrDeadline, timeout.Round(time.Millisecond))
	}
}

// acquire waits for a free slot, within ctx. Threat: callers piling up
// goroutines and memory in the host behind a slow builtin; as in the
// other tiers, callers beyond MaxInflight wait instead.
func (b *builtinInstance) acquire(ctx context.Context) error {
	select {
	case b.slots <- struct{}{}:
		return nil
	case <-b.done:
		return fmt.Errorf("%w: builtin %s stopped", tier.ErrNotRunning, b.spec.Name)
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("%w: waiting for a free slot (%d calls in flight)", tier.ErrDeadline, cap(b.slots))
		}
		return ctx.Err()
	}
}

func (b *builtinInstance) Stop(context.Context) error {
	select {
	case <-b.done:
	default:
		close(b.done)
	}
	return nil
}

func (b *builtinInstance) Done() <-chan struct{}      { return b.done }
func (b *builtinInstance) Err() error                 { return nil }
func (b *builtinInstance) Info() rpc.InitializeResult { return b.info }
