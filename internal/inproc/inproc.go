// Package inproc runs a Go SDK plugin in the host's own process: the
// instance of the builtin tier (a plugin compiled into the host) and of the
// native tier's in-process isolation (a library wrapped as a plugin).
//
// Such code has full trust and cannot be killed. What the instance keeps
// is the caller's side of the contract: each call runs on a goroutine of
// its own, so the caller gets its deadline even from code that ignores its
// context, and at most Limits.MaxInflight calls run at once.
package inproc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/airlock-go/airlock/internal/manifest"
	"github.com/airlock-go/airlock/internal/sdkcore"
	"github.com/airlock-go/airlock/internal/tier"
	"github.com/airlock-go/airlock/protocol"
	"github.com/airlock-go/airlock/sdk/go/plugin"
)

// Instance is one plugin running in the host's process. A call past its
// deadline returns an error to its caller, while the plugin's code runs on
// and keeps its slot until it returns.
type Instance struct {
	plugin *sdkcore.Plugin
	spec   tier.Spec
	host   *sdkcore.Host
	info   protocol.InitializeResult
	what   string // the plugin's kind in errors: "builtin", "native plugin"
	done   chan struct{}
	// slots bounds the handlers running at once (Limits.MaxInflight). A
	// slot is held until the handler returns, even past its caller's
	// deadline, so code that ignores its context cannot pile up
	// goroutines either.
	slots chan struct{}
}

// Start checks p's identity and hooks against spec's manifest, as a
// handshake would, and returns the instance that runs it. what names the
// kind of plugin in errors ("builtin", "native plugin").
func Start(spec tier.Spec, p *plugin.Plugin, what string) (tier.Instance, error) {
	// A *plugin.Plugin is a *sdkcore.Plugin (sdk/go/plugin defines it so).
	core := (*sdkcore.Plugin)(p)
	info := protocol.InitializeResult{Protocol: manifest.ProtocolVersion, Name: core.Name(), Version: core.Version(), Hooks: core.Names()}
	if err := tier.CheckHandshake(spec.Manifest, info); err != nil {
		return nil, err
	}
	spec.Limits = spec.Limits.WithDefaults()
	inst := &Instance{plugin: core, spec: spec, info: info, what: what, done: make(chan struct{}),
		slots: make(chan struct{}, spec.Limits.MaxInflight)}
	inst.host = sdkcore.NewHost(hostCaller{spec.Host}, spec.Config, spec.Grants.Strings(), spec.Functions)
	return inst, nil
}

// Call runs the handler in a goroutine so that the caller gets its
// deadline (ErrDeadline) even from code that ignores its context; such a
// handler keeps running and keeps its slot until it returns. The plugin's
// own error, and a panic in its code, is a *protocol.Error.
func (n *Instance) Call(ctx context.Context, call protocol.CallParams) (json.RawMessage, error) {
	if err := n.acquire(ctx); err != nil {
		return nil, err
	}
	timeout := n.spec.Limits.CallTimeout
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	type answer struct {
		res json.RawMessage
		err error
	}
	done := make(chan answer, 1)
	go func() {
		defer func() { <-n.slots }()
		res, err := n.plugin.Invoke(cctx, n.host, sdkcore.Call{Name: call.Name, Phase: call.Phase, Input: call.Input})
		done <- answer{res, err}
	}()
	select {
	case a := <-done:
		if a.err != nil {
			return nil, toRPC(a.err)
		}
		return a.res, nil
	case <-cctx.Done():
		if ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w: no answer within %v", tier.ErrDeadline, timeout.Round(time.Millisecond))
	}
}

// acquire waits for a free slot, within ctx. Threat: callers piling up
// goroutines (and, for a library, threads) in the host behind slow
// in-process code; as in the other tiers, callers beyond MaxInflight wait
// instead.
func (n *Instance) acquire(ctx context.Context) error {
	// Checked first: select picks at random among ready cases, and a
	// free slot must not let a call into a stopped instance.
	select {
	case <-n.done:
		return n.stopped()
	default:
	}
	select {
	case n.slots <- struct{}{}:
		return nil
	case <-n.done:
		return n.stopped()
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("%w: waiting for a free slot (%d calls in flight)", tier.ErrDeadline, cap(n.slots))
		}
		return ctx.Err()
	}
}

// stopped is the error of a call that reached a stopped instance.
func (n *Instance) stopped() error {
	return fmt.Errorf("%w: %s %s stopped", tier.ErrNotRunning, n.what, n.spec.Name)
}

// Stop ends the instance: later calls fail with ErrNotRunning. Code still
// running goes on until it returns; a native library stays loaded
// (docs/NATIVE.md).
func (n *Instance) Stop(context.Context) error {
	select {
	case <-n.done:
	default:
		close(n.done)
	}
	return nil
}

// Done is closed by Stop.
func (n *Instance) Done() <-chan struct{} { return n.done }

// Err is always nil: in-process code cannot crash apart from the host.
func (n *Instance) Err() error { return nil }

// Info is the plugin's identity and hooks, as a handshake would answer.
func (n *Instance) Info() protocol.InitializeResult { return n.info }

// CallTimeout is the deadline Call gives each call (Limits.CallTimeout,
// defaults filled in); for the test that follows each limit to where it
// is enforced.
func (n *Instance) CallTimeout() time.Duration { return n.spec.Limits.CallTimeout }

// MaxInflight is the number of calls that may run at once: the slots Call
// takes (Limits.MaxInflight, defaults filled in).
func (n *Instance) MaxInflight() int { return cap(n.slots) }
