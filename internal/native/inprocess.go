package native

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

// inProcess is a library running in the host's process. Like a builtin
// plugin it cannot be killed: a call past its deadline returns an error to
// its caller and keeps its slot until the library returns.
type inProcess struct {
	plugin *plugin.Plugin
	spec   tier.Spec
	host   *plugin.Host
	info   rpc.InitializeResult
	done   chan struct{}
	slots  chan struct{} // calls in flight (Limits.MaxInflight)
}

func startInProcess(spec tier.Spec, libPath string) (tier.Instance, error) {
	lib, err := Load(libPath, spec.Name)
	if err != nil {
		return nil, err
	}
	p := lib.Plugin()
	info := rpc.InitializeResult{Protocol: manifest.ProtocolVersion, Name: p.Name(), Version: p.Version(), Hooks: p.Names()}
	if err := tier.CheckHandshake(spec.Manifest, info); err != nil {
		return nil, err
	}
	spec.Limits = spec.Limits.WithDefaults()
	inst := &inProcess{plugin: p, spec: spec, info: info, done: make(chan struct{}),
		slots: make(chan struct{}, spec.Limits.MaxInflight)}
	inst.host = plugin.NewHost(inst, spec.Config, spec.Grants.Strings(), spec.Functions)
	return inst, nil
}

// CallHost carries the library's host calls to the host, which checks the
// plugin's grants as for any other tier.
func (n *inProcess) CallHost(ctx context.Context, fn string, input json.RawMessage) (json.RawMessage, error) {
	res, err := n.spec.Host(ctx, fn, input)
	var re *rpc.Error
	if errors.As(err, &re) {
		return nil, &plugin.Error{Code: re.Code, Message: re.Message}
	}
	return res, err
}

func (n *inProcess) Call(ctx context.Context, call rpc.CallParams) (json.RawMessage, error) {
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
		res, err := n.plugin.Invoke(cctx, n.host, plugin.Call{Name: call.Name, Phase: call.Phase, Input: call.Input})
		done <- answer{res, err}
	}()
	select {
	case a := <-done:
		var pe *plugin.Error
		if errors.As(a.err, &pe) {
			return nil, &rpc.Error{Code: pe.Code, Message: pe.Message}
		}
		if a.err != nil {
			return nil, &rpc.Error{Code: rpc.CodeFailed, Message: a.err.Error()}
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
// goroutines and threads in the host behind a slow library.
func (n *inProcess) acquire(ctx context.Context) error {
	select {
	case n.slots <- struct{}{}:
		return nil
	case <-n.done:
		return fmt.Errorf("%w: native plugin %s stopped", tier.ErrNotRunning, n.spec.Name)
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("%w: waiting for a free slot (%d calls in flight)", tier.ErrDeadline, cap(n.slots))
		}
		return ctx.Err()
	}
}

// Stop ends the instance; the library stays loaded (docs/NATIVE.md).
func (n *inProcess) Stop(context.Context) error {
	select {
	case <-n.done:
	default:
		close(n.done)
	}
	return nil
}

func (n *inProcess) Done() <-chan struct{}      { return n.done }
func (n *inProcess) Err() error                 { return nil }
func (n *inProcess) Info() rpc.InitializeResult { return n.info }
