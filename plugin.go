package airlock

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"
	"golang.org/x/time/rate"

	"github.com/Masterminds/semver/v3"
	"github.com/airlock-go/airlock/internal/capability"
	"github.com/airlock-go/airlock/internal/manifest"
	"github.com/airlock-go/airlock/internal/tier"
	"github.com/airlock-go/airlock/protocol"
)

// loadedPlugin is one loaded plugin of any tier, with its supervision: it is
// restarted with backoff after a crash and disabled after too many.
type loadedPlugin struct {
	host     *Host
	name     string
	manifest *manifest.Manifest
	cfg      PluginConfig
	grants   capability.Set // what the plugin holds: declared and granted
	log      *slog.Logger
	spec     tier.Spec
	starter  tier.Starter
	policy   RestartPolicy
	calls    *rate.Limiter // host function calls
	// checks bounds the bytes of p's values being checked against their
	// schemas at once, to checkRoom (valuecheck.go).
	checks    *semaphore.Weighted
	checkRoom int64
	// pacedLog spaces out the warnings of host calls paced by
	// host_call_bytes_per_second (hostCallsPaced).
	pacedLog rate.Sometimes
	cleanup  func() // removes what loading created
	source   string // how the plugin's code was verified
	devMode  bool   // loaded unsigned on the operator's say-so

	mu       sync.Mutex
	inst     tier.Instance
	state    State
	ready    chan struct{} // closed when the state leaves "restarting"
	crashes  []time.Time
	restarts int
	lastErr  error
	stopCh   chan struct{}
	wg       sync.WaitGroup

	// Reload (reload.go): a retired plugin takes no new calls, passes
	// them to its replacement, and is stopped once the calls it has in
	// flight have finished.
	retired  bool
	inflight int
	next     *loadedPlugin // the replacement; nil when removed
	drained  chan struct{} // closed when retired with no call in flight
	code     string        // the code's version (codeVersion), set at start
}

// Load loads one plugin: it reads and checks the manifest, checks the
// grants (a plugin missing a required capability is never started),
// validates the settings, starts the plugin and runs the handshake.
func (h *Host) Load(ctx context.Context, conf PluginConfig) (PluginInfo, error) {
	src, p, err := h.prepare(ctx, conf)
	if err != nil {
		return PluginInfo{}, err
	}
	if err := h.kv.openFor(p); err != nil { // kv.go
		src.cleanup()
		return PluginInfo{}, &PluginError{Plugin: p.name, Op: OpLoad, Err: err}
	}
	man := src.manifest
	h.mu.Lock()
	switch {
	case h.closed:
		h.mu.Unlock()
		src.cleanup()
		return PluginInfo{}, &PluginError{Plugin: man.Name, Op: OpLoad, Err: ErrClosed}
	case h.plugins[man.Name] != nil:
		h.mu.Unlock()
		src.cleanup()
		return PluginInfo{}, &PluginError{Plugin: man.Name, Op: OpLoad, Err: fmt.Errorf("%w: a plugin named %s is already loaded", ErrInvalidConfig, man.Name)}
	}
	h.plugins[man.Name] = p // reserve the name while starting
	h.mu.Unlock()

	if err := p.begin(ctx, src); err != nil {
		h.mu.Lock()
		delete(h.plugins, man.Name)
		h.mu.Unlock()
		return PluginInfo{}, err
	}
	return p.info(), nil
}

// begin starts the plugin's first instance and watches it. On failure it
// cleans up the source.
func (p *loadedPlugin) begin(ctx context.Context, src *source) error {
	if p.code == "" {
		p.code = codeVersion(src)
	}
	inst, err := p.starter.Start(ctx, p.spec)
	if err != nil {
		src.cleanup()
		return &PluginError{Plugin: p.name, Op: OpStart, Err: err}
	}
	p.mu.Lock()
	p.inst, p.state = inst, StateRunning
	close(p.ready)
	p.mu.Unlock()
	p.watch(inst)
	p.log.Info("plugin started", "version", p.manifest.Version, "tier", p.manifest.Tier, "grants", p.grants.Strings(), "source", src.note)
	p.warnUnsigned()
	return nil
}

// prepare makes every check Load makes before it starts anything: the
// configuration, the code's source and trust, the contract, the platform,
// the grants and the settings. Discover reports its verdict; Load starts
// what it admits. The caller cleans up the source.
func (h *Host) prepare(ctx context.Context, conf PluginConfig) (*source, *loadedPlugin, error) {
	if err := conf.check(); err != nil {
		return nil, nil, &PluginError{Plugin: conf.label(), Op: OpLoad, Err: fmt.Errorf("%w: %v", ErrInvalidConfig, err)}
	}
	src, err := h.readSource(ctx, conf)
	if err != nil {
		return nil, nil, &PluginError{Plugin: conf.label(), Op: OpLoad, Err: err}
	}
	p, err := h.admit(src, conf)
	if err != nil {
		src.cleanup()
		return nil, nil, &PluginError{Plugin: src.manifest.Name, Op: OpLoad, Err: err}
	}
	return src, p, nil
}

func (conf PluginConfig) label() string {
	switch {
	case conf.Name != "":
		return conf.Name
	case conf.Builtin != "":
		return conf.Builtin
	case conf.Package != "":
		return conf.Package
	}
	return conf.Path
}

// admit checks the operator's configuration against the manifest and
// prepares everything the tier needs to start the plugin.
func (h *Host) admit(src *source, conf PluginConfig) (*loadedPlugin, error) {
	man := src.manifest
	if conf.Name != "" && conf.Name != man.Name {
		return nil, fmt.Errorf("%w: host config names plugin %q but %s says %q", ErrInvalidConfig, conf.Name, man.File, man.Name)
	}
	if err := checkMinVersion(conf.MinVersion, man); err != nil {
		return nil, err
	}
	if conf.Isolation != "" && man.Tier != manifest.TierNative { // native tier (internal/native)
		return nil, fmt.Errorf("%w: isolation = %q is for native plugins; %s is a %s plugin", ErrInvalidConfig, conf.Isolation, man.Name, man.Tier)
	}
	starter, ok := h.starters[man.Tier]
	if !ok {
		return nil, fmt.Errorf("%w: tier %q is not available in this host", ErrInvalidConfig, man.Tier)
	}
	if src.starter != nil {
		starter = src.starter // a verified package, unpacked afresh at every start
	}
	if err := h.checkContract(man); err != nil {
		return nil, err
	}
	if err := src.checkPlatform(conf); err != nil {
		return nil, err
	}
	granted, err := capability.NewSet(conf.Grants)
	if err != nil {
		return nil, fmt.Errorf("%w: grants: %v", ErrInvalidConfig, err)
	}
	if err := h.checkGrants(conf.Grants); err != nil {
		return nil, err
	}
	// Threat: a plugin started without what it requires would fail
	// later, in the middle of the host's work; refuse it up front and
	// say exactly what is missing.
	if missing := granted.Missing(man.Required()); len(missing) > 0 {
		names := make([]string, len(missing))
		for i, c := range missing {
			names[i] = c.String()
		}
		return nil, fmt.Errorf("%w: %s (grant them in the host configuration, e.g. grants = [%q])", ErrMissingGrant, strings.Join(names, ", "), strings.Join(names, `", "`))
	}
	grants := effectiveGrants(granted, man)
	settings, err := man.ResolveConfig(conf.Config)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}
	runAs, err := resolveRunAs(conf.RunAs)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}
	log := h.log.With("plugin", man.Name)
	p := &loadedPlugin{
		host:     h,
		name:     man.Name,
		manifest: man,
		cfg:      conf,
		grants:   grants,
		log:      log,
		starter:  starter,
		cleanup:  src.cleanup,
		source:   src.note,
		devMode:  conf.AllowUnsigned && src.unsigned,
		policy:   h.policy.restart.withDefaults(),
		state:    StateRestarting,
		ready:    make(chan struct{}),
		stopCh:   make(chan struct{}),
		drained:  make(chan struct{}),
	}
	limits := h.policy.limits.over(conf.Limits).tier()
	p.calls = rate.NewLimiter(rate.Limit(limits.HostCallsPerSec), limits.HostCallsPerSec)
	p.checkRoom = int64(limits.MaxMessage)
	p.checks = semaphore.NewWeighted(p.checkRoom)
	p.spec = tier.Spec{
		Manifest:     man,
		Dir:          src.dir,
		Entry:        conf.Entry,
		Code:         src.code,
		Assets:       src.assets,
		Name:         man.Name,
		Args:         conf.Args,
		Config:       settings,
		Grants:       grants,
		Functions:    h.allowedFuncs(grants),
		Limits:       limits,
		Log:          log,
		Sandbox:      string(conf.Sandbox),
		NoNamespaces: conf.Namespaces != nil && !*conf.Namespaces,
		RunAs:        runAs,
		Explain:      conf.Explain,
		Isolation:    string(conf.Isolation),
		Host: func(ctx context.Context, fn string, input json.RawMessage) (json.RawMessage, error) {
			return h.callHost(ctx, p, fn, input)
		},
		Paced: func(wait time.Duration) { h.hostCallsPaced(p, wait) },
	}
	p.pacedLog.Interval = pacedLogEvery
	return p, nil
}

// effectiveGrants returns the capabilities the plugin holds: those its
// manifest declares (required or optional) that the operator granted.
// Threat: an operator's broad grant ("fs.read:/") must not hand a plugin
// more than it declared; the narrower declared capability is what it gets.
func effectiveGrants(granted capability.Set, man *manifest.Manifest) capability.Set {
	var held []string
	for _, c := range append(man.Required(), man.Optional()...) {
		if granted.Allows(c) {
			held = append(held, c.String())
		}
	}
	s, _ := capability.NewSet(held) // already parsed: cannot fail
	return s
}

func (h *Host) allowedFuncs(grants capability.Set) []string {
	var names []string
	for name, f := range h.funcs {
		if grants.Allows(f.capability) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// call runs a call on the current instance, waiting for a restart in
// progress (within ctx).
func (p *loadedPlugin) call(ctx context.Context, params protocol.CallParams) (json.RawMessage, error) {
	cur, ok := p.enter()
	if !ok {
		// Replaced or removed by a reload since the caller found it.
		if next := p.successor(); next != nil {
			return next.call(ctx, params)
		}
		return nil, fmt.Errorf("%w: %s was removed by a reload", ErrUnknownPlugin, p.name)
	}
	defer p.leave()
	ctx, params, rec := p.host.tel.startCall(ctx, p, params) // telemetry.go
	res, err := p.callCurrent(ctx, params, cur)
	rec.end(ctx, err)
	return res, err
}

// current is what a call finds of its plugin: its state and instance.
type current struct {
	state   State
	inst    tier.Instance
	ready   chan struct{}
	lastErr error
}

// current returns what a call finds now. p.mu is held.
func (p *loadedPlugin) current() current {
	return current{p.state, p.inst, p.ready, p.lastErr}
}

// callCurrent runs a call on the current instance (cur, what the call
// found when it was admitted), waiting for a restart in progress (within
// ctx).
func (p *loadedPlugin) callCurrent(ctx context.Context, params protocol.CallParams, cur current) (json.RawMessage, error) {
	for ; ; cur = p.reread() {
		switch cur.state {
		case StateDisabled:
			return nil, fmt.Errorf("%w (last: %v)", ErrPluginDisabled, cur.lastErr)
		case StateStopped:
			return nil, ErrClosed
		case StateRestarting:
			select {
			case <-cur.ready:
				continue
			case <-ctx.Done():
				return nil, fmt.Errorf("%w: plugin is restarting after: %v", ErrDeadline, cur.lastErr)
			}
		}
		select {
		case <-cur.inst.Done():
			// It ended before this call reached it (the watcher has not
			// seen it yet): wait for its replacement instead of failing
			// a call the plugin never received.
			p.ended(cur.inst)
			continue
		default:
		}
		res, err := cur.inst.Call(ctx, params)
		if errors.Is(err, tier.ErrNotRunning) {
			p.ended(cur.inst) // never sent: wait for the replacement
			continue
		}
		if err != nil {
			return nil, fromTier(err)
		}
		return res, nil
	}
}

// reread returns what a call finds of p now.
func (p *loadedPlugin) reread() current {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.current()
}

// ended marks the plugin as restarting when inst, its current instance,
// has ended; the watcher does the restart.
func (p *loadedPlugin) ended(inst tier.Instance) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.inst == inst && p.state == StateRunning {
		p.state, p.ready = StateRestarting, make(chan struct{})
		p.lastErr = inst.Err()
	}
}

// watch waits for inst to end and, unless the plugin is being stopped,
// handles the crash.
func (p *loadedPlugin) watch(inst tier.Instance) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		select {
		case <-inst.Done():
		case <-p.stopCh:
			return
		}
		p.crashed(inst.Err())
	}()
}

// crashed records a crash and restarts the plugin after a backoff, or
// disables it after too many crashes in the window.
func (p *loadedPlugin) crashed(why error) {
	for {
		p.mu.Lock()
		if p.state == StateStopped {
			p.mu.Unlock()
			return
		}
		now := time.Now()
		p.crashes = append(p.crashes, now)
		p.crashes = slices.DeleteFunc(p.crashes, func(t time.Time) bool { return now.Sub(t) > time.Duration(p.policy.Window) })
		p.lastErr = why
		n := len(p.crashes)
		if p.state != StateRestarting {
			p.state, p.ready = StateRestarting, make(chan struct{})
		}
		if n >= p.policy.MaxCrashes {
			// Counted before the state is seen: whoever sees it disabled
			// finds it counted.
			p.host.tel.disabled(p) // telemetry.go
			p.state = StateDisabled
			close(p.ready)
			p.mu.Unlock()
			p.host.timers.cancelPlugin(p) // timers.go
			p.log.Error("plugin disabled: crashed too often", "crashes", n, "window", time.Duration(p.policy.Window), "last_error", why)
			return
		}
		backoff := time.Duration(p.policy.Backoff) << (n - 1)
		backoff = min(backoff, time.Duration(p.policy.MaxBackoff))
		p.mu.Unlock()
		p.host.timers.cancelPlugin(p) // timers.go: a restarted plugin sets its own again
		p.log.Warn("plugin crashed; restarting", "error", why, "backoff", backoff, "crashes_in_window", n)

		select {
		case <-time.After(backoff):
		case <-p.stopCh:
			return
		}
		inst, err := p.starter.Start(context.Background(), p.spec)
		if err != nil {
			why = err
			continue
		}
		p.mu.Lock()
		if p.state == StateStopped {
			p.mu.Unlock()
			_ = inst.Stop(context.Background())
			return
		}
		p.host.tel.restarted(p) // telemetry.go; counted before the state is seen
		p.inst, p.state = inst, StateRunning
		p.restarts++
		close(p.ready)
		p.mu.Unlock()
		p.log.Info("plugin restarted", "restarts", p.restarts, "source", p.source)
		p.warnUnsigned()
		p.watch(inst)
		return
	}
}

// warnUnsigned says, at every start, that the plugin runs unsigned on the
// operator's say-so.
func (p *loadedPlugin) warnUnsigned() {
	if p.devMode {
		p.log.Warn("plugin is NOT SIGNED: loaded in development mode (allow_unsigned)", "source", p.source)
	}
}

// stop ends the plugin for good.
func (p *loadedPlugin) stop(ctx context.Context) {
	p.mu.Lock()
	if p.state == StateStopped {
		p.mu.Unlock()
		return
	}
	if p.state == StateRestarting {
		close(p.ready)
	}
	p.state = StateStopped
	inst := p.inst
	close(p.stopCh)
	p.mu.Unlock()
	p.host.timers.cancelPlugin(p) // timers.go
	if inst != nil {
		_ = inst.Stop(ctx)
	}
	p.wg.Wait()
	p.cleanup()
}

func (p *loadedPlugin) info() PluginInfo {
	p.mu.Lock()
	state, restarts, inst, inflight := p.state, p.restarts, p.inst, p.inflight
	p.mu.Unlock()
	pid := 0
	if inst, ok := inst.(interface{ PID() int }); ok && state == StateRunning {
		pid = inst.PID()
	}
	return PluginInfo{
		Name:        p.name,
		Version:     p.manifest.Version,
		Description: p.manifest.Description,
		Tier:        Tier(p.manifest.Tier),
		Dir:         p.dir(),
		Hooks:       slices.Clone(p.manifest.Hooks),
		Functions:   slices.Clone(p.manifest.Functions),
		Grants:      p.grants.Strings(),
		Priority:    p.cfg.Priority,
		State:       state,
		Restarts:    restarts,
		InFlight:    inflight,
		PID:         pid,
	}
}

// dir returns the directory the plugin runs from: for a verified package,
// the one its current instance was unpacked into.
func (p *loadedPlugin) dir() string {
	if fs, ok := p.starter.(*freshStarter); ok {
		return fs.current()
	}
	return p.spec.Dir
}

// priority returns the operator's priority for the plugin in hook.
func (p *loadedPlugin) priority(hook string) int {
	if v, ok := p.cfg.HookPriority[hook]; ok {
		return v
	}
	return p.cfg.Priority
}

// checkMinVersion refuses a plugin older than the operator's min_version
// (threat: rollback to an older signed release).
func checkMinVersion(min string, man *manifest.Manifest) error {
	if min == "" {
		return nil
	}
	floor, err := semver.StrictNewVersion(min)
	if err != nil {
		return fmt.Errorf("%w: min_version %q is not a semantic version (MAJOR.MINOR.PATCH): %v", ErrInvalidConfig, min, err)
	}
	v, err := semver.StrictNewVersion(man.Version)
	if err != nil {
		return fmt.Errorf("%w: %s: version %q is not a semantic version: %v", ErrInvalidConfig, man.File, man.Version, err)
	}
	if v.LessThan(floor) {
		return fmt.Errorf("%w: %s is version %s, below the host's min_version %s (an older release, refused as a rollback)", ErrNotTrusted, man.Name, man.Version, min)
	}
	return nil
}
