// Package airlock loads plugins into a Go host application through one
// contract, whatever their level of trust: WebAssembly modules run
// in-process under wazero, executables in any language run as child
// processes spoken to over their stdin and stdout, and Go code compiled
// into the host runs as builtins.
//
// A host author declares hooks (NewHook) and host functions (NewFunc) with
// ordinary Go types, lists them with a contract version in Options, then
// opens a Host from the operator's configuration (ReadConfig, Open) and runs
// hooks with a context. The operator grants each plugin its capabilities;
// a plugin whose required capabilities are not all granted is not started,
// and every host function call is checked against the grants.
//
// The hooks and host functions, their JSON Schemas (generated from the Go
// types) and the capabilities make the host's contract (Host.Contract,
// "airlock contract"): a plugin that implements a hook the host does not
// have, or was built against an incompatible contract version, is refused
// at load, and what plugins send the host is validated against the
// schemas.
//
// See docs/ for the contract, the protocol, the wasm ABI, the manifest,
// the security model and the CLI.
package airlock

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/Masterminds/semver/v3"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/airlock-go/airlock/internal/manifest"
	"github.com/airlock-go/airlock/internal/native"
	"github.com/airlock-go/airlock/internal/process"
	"github.com/airlock-go/airlock/internal/tier"
	"github.com/airlock-go/airlock/internal/wasm"
	"github.com/airlock-go/airlock/protocol"
)

// lazyWasm creates the wasm tier's starter (and its cache directory) the
// first time a wasm plugin is loaded.
type lazyWasm struct {
	opts    wasm.Options
	mu      sync.Mutex
	starter *wasm.Starter
}

func (l *lazyWasm) Start(ctx context.Context, spec tier.Spec) (tier.Instance, error) {
	l.mu.Lock()
	if l.starter == nil {
		s, err := wasm.NewStarter(l.opts)
		if err != nil {
			l.mu.Unlock()
			return nil, fmt.Errorf("%w: %v", tier.ErrStart, err)
		}
		l.starter = s
	}
	s := l.starter
	l.mu.Unlock()
	return s.Start(ctx, spec)
}

func (l *lazyWasm) close(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.starter == nil {
		return nil
	}
	return l.starter.Close(ctx)
}

// Options configure a Host. The zero value is usable.
type Options struct {
	// Logger receives the host's and the plugins' logs, each plugin's
	// records tagged with plugin=NAME (default slog.Default()).
	Logger *slog.Logger
	// Hooks are the host's hooks (each made with NewHook), which plugins
	// may implement. Listing them, or setting ContractVersion, declares
	// the host's contract: a plugin implementing a hook not listed here is
	// refused at load, with a "did you mean" for a near name; a grant
	// naming a capability the host does not know is an error; and Run
	// refuses a hook not listed. A host that sets neither (as before
	// contracts existed) loads any plugin's hooks and accepts any
	// well-formed grant; see docs/CONTRACT.md.
	Hooks []AnyHook
	// Functions are the host application's own host functions, besides
	// the standard ones (log, kv.get, kv.set, kv.delete, kv.list, kv.cas,
	// timer.after, timer.every, timer.cancel).
	Functions []Function
	// ContractVersion is the version of the host's contract, a semantic
	// version ("1.4.0") set by the host author: bump the minor version
	// when adding hooks, functions or optional fields, the major version
	// when changing or removing any. A plugin whose manifest names a
	// contract version with another major version, or a newer minor one,
	// is refused at load. Setting it declares the contract (as Hooks
	// does), even for a host with no hooks.
	ContractVersion string
	// ValidateHostValues also validates what the host sends plugins (hook
	// inputs, a hook default's result shown to after handlers, host
	// function results) against their schemas; what plugins send the host
	// is always validated. The host's own Go values always fit their
	// schemas, except for constraints from jsonschema tags (enum,
	// minimum, pattern...), which only this checks. It costs about as
	// much as validating a result (docs/CONTRACT.md gives the figures):
	// turn it on in tests.
	ValidateHostValues bool
	// Builtins are plugins compiled into the host, by name, for
	// PluginConfig.Builtin.
	Builtins map[string]Builtin
	// OnAudit, if set, is called for every refused host function call,
	// besides the warning logged for it. It must not block.
	OnAudit func(AuditEvent)
	// WasmCacheDir holds wasm plugins' compiled code across runs (default
	// os.UserCacheDir()/airlock/wasm-cache; "-" keeps it in memory only).
	// It must be writable by the host's user only: cached machine code is
	// code the host executes.
	WasmCacheDir string
	// WasmCacheMaxAge is how long the on-disk cache keeps the compiled
	// code of a module no host has started: 0 means 30 days, a negative
	// value forever. A host prunes the cache when it loads its first wasm
	// plugin, at most once a day.
	WasmCacheMaxAge time.Duration
	// RunDir is where verified packages of process plugins are unpacked,
	// each into a fresh private directory (default
	// os.UserCacheDir()/airlock/run). It must be the host user's and not
	// writable by others.
	RunDir string
	// OCICacheDir holds packages fetched from OCI registries
	// (package = "oci://..."), by digest (default
	// os.UserCacheDir()/airlock/oci). It must be the host user's and not
	// writable by others. docs/DISTRIBUTION.md.
	OCICacheDir string
	// KVStore, if set, holds the data of the "kv" capability in the host's
	// own database instead of the built-in store (KVPath is then unused).
	KVStore KVStore
	// KVPath is the bbolt file of the built-in kv store, opened when the
	// first plugin holding "kv" is loaded (default
	// STATE/airlock/kv/PROGRAM.db: $XDG_STATE_HOME or ~/.local/state on
	// Unix systems, os.UserConfigDir() on Windows and macOS, and the host
	// executable's name). "-" keeps the data in memory, lost at Close.
	// Only one host at a time may have the file open: another fails to
	// load its kv plugins with ErrKVLocked. See docs/CONFIG.md.
	KVPath string

	// Telemetry (telemetry.go, docs/OBSERVABILITY.md).

	// MeterProvider receives the host's metrics: calls, errors by kind,
	// latencies, restarts, refused host calls, calls in flight (default
	// otel.GetMeterProvider(), a no-op unless the application set it).
	MeterProvider metric.MeterProvider
	// TracerProvider receives a span for every hook run, plugin call and
	// host function call; a plugin call's trace context is passed to the
	// plugin (default otel.GetTracerProvider(), a no-op unless the
	// application set it).
	TracerProvider trace.TracerProvider
}

// Host loads plugins and dispatches hooks and calls to them. Its methods
// are safe for concurrent use.
type Host struct {
	opts     Options
	policy   policy // the operator's: from the Config given to Open
	log      *slog.Logger
	funcs    map[string]Function
	starters map[string]tier.Starter
	wasm     *lazyWasm
	kv       *kvStore    // kv.go
	timers   *timerSched // timers.go
	tel      *telemetry  // telemetry.go
	// The contract, immutable after New.
	hooks    map[string]*hookDecl
	version  *semver.Version // nil: no version declared
	declared bool            // Hooks or ContractVersion set: checked at load

	reloadMu sync.Mutex // one Reload at a time (reload.go)
	mu       sync.RWMutex
	plugins  map[string]*loadedPlugin
	closed   bool
}

// New returns a host with no plugins loaded and the default policy (the
// zero Config's limits, restart policy and trust); add plugins with Load.
// A host that sets its own policy, whether read from a host.toml or built
// in code, uses Open, with a Config that lists no plugins if it loads them
// itself.
//
// # Notes
//
//   - When the environment variable AIRLOCK_CONTRACT_OUT names a file, New
//     (and Open) writes the host's contract there (Host.Contract) and ends the
//     process with status 0, before any plugin is loaded: this is how
//     "airlock contract" reads a host's contract without running it
//     (docs/CONTRACT.md). The file must not exist yet.
func New(opts Options) (*Host, error) {
	return newHost(opts, policy{})
}

func newHost(opts Options, pol policy) (*Host, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	h := &Host{
		opts:    opts,
		policy:  pol,
		log:     opts.Logger,
		funcs:   map[string]Function{},
		hooks:   map[string]*hookDecl{},
		plugins: map[string]*loadedPlugin{},
	}
	if err := h.declareContract(opts); err != nil {
		return nil, err
	}
	h.kv, h.timers = newKVStoreFor(opts), newTimerSched()
	h.tel = newTelemetry(opts, h) // telemetry.go
	for _, f := range slices.Concat(standardFuncs(h.kv), h.timers.funcs(), opts.Functions) {
		if f.fn == nil {
			return nil, fmt.Errorf("%w: host function with no implementation (make it with NewFunc)", ErrInvalidConfig)
		}
		if _, dup := h.funcs[f.name]; dup {
			return nil, fmt.Errorf("%w: host function %q declared twice", ErrInvalidConfig, f.name)
		}
		h.funcs[f.name] = f
	}
	if path := os.Getenv(contractEnv); path != "" {
		exportContract(h, path) // does not return
	}
	h.wasm = &lazyWasm{opts: wasm.Options{CacheDir: opts.WasmCacheDir, CacheMaxAge: opts.WasmCacheMaxAge}}
	h.starters = map[string]tier.Starter{
		"process": process.Starter{},
		"builtin": builtinStarter{builtins: opts.Builtins},
		"wasm":    h.wasm,
		"native":  native.Starter{Process: process.Starter{}}, // native tier (internal/native)
	}
	return h, nil
}

// Open returns a host with cfg's policy (its limits, restart policy and
// trust) and every plugin of cfg loaded. A plugin that fails to load fails
// Open (and the plugins already started are stopped), unless it is marked
// optional, in which case the failure is logged.
//
// The Config is the one place for the operator's policy: Options hold what
// the host application provides (hooks, functions, builtins, logging).
func Open(ctx context.Context, cfg *Config, opts Options) (*Host, error) {
	h, err := newHost(opts, policyOf(cfg))
	if err != nil {
		return nil, err
	}
	for _, conf := range cfg.Plugins {
		if conf.Disabled {
			continue
		}
		if _, err := h.Load(ctx, conf); err != nil {
			if conf.Optional {
				h.log.Error("optional plugin not loaded", "error", err)
				continue
			}
			_ = h.Close(context.WithoutCancel(ctx))
			return nil, err
		}
	}
	return h, nil
}

// Close stops every plugin (orderly where they cooperate before ctx ends)
// and releases the host. Calls after Close fail with ErrClosed.
func (h *Host) Close(ctx context.Context) error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	plugins := make([]*loadedPlugin, 0, len(h.plugins))
	for _, p := range h.plugins {
		plugins = append(plugins, p)
	}
	h.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range plugins {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.stop(ctx)
		}()
	}
	wg.Wait()
	h.timers.close()
	h.tel.close() // telemetry.go
	return errors.Join(h.kv.close(), h.wasm.close(ctx))
}

// Unload stops one plugin and forgets it.
func (h *Host) Unload(ctx context.Context, name string) error {
	h.mu.Lock()
	p, ok := h.plugins[name]
	delete(h.plugins, name)
	h.mu.Unlock()
	if !ok {
		return &PluginError{Plugin: name, Op: OpUnload, Err: ErrUnknownPlugin}
	}
	p.stop(ctx)
	return nil
}

// PluginInfo describes a loaded plugin.
type PluginInfo struct {
	Name        string
	Version     string
	Description string
	Tier        Tier
	Dir         string   // empty for a builtin
	Hooks       []string // the hooks it implements
	Functions   []string // the functions it offers for direct calls
	Grants      []string // the capabilities it holds
	Priority    int
	State       State
	Restarts    int // restarts after crashes so far
	InFlight    int // calls to it (hooks and direct calls) not yet answered
	// PID is the running process of a process plugin, as the host sees
	// it (the plugin itself, in its own PID namespace, sees another
	// number); 0 for other tiers and while it is not running.
	PID int
}

// Plugins describes the loaded plugins, sorted by name.
func (h *Host) Plugins() []PluginInfo {
	h.mu.RLock()
	out := make([]PluginInfo, 0, len(h.plugins))
	for _, p := range h.plugins {
		out = append(out, p.info())
	}
	h.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Plugin describes one loaded plugin.
func (h *Host) Plugin(name string) (PluginInfo, bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	p, ok := h.plugins[name]
	if !ok {
		return PluginInfo{}, false
	}
	return p.info(), true
}

func (h *Host) lookup(name string) (*loadedPlugin, error) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.closed {
		return nil, ErrClosed
	}
	p, ok := h.plugins[name]
	if !ok {
		return nil, ErrUnknownPlugin
	}
	return p, nil
}

// Call calls function fn of plugin directly (not through a hook), with
// input encoded as JSON, and returns the plugin's JSON result. fn must be
// one of the hooks or functions the plugin's manifest declares. A
// function's result is the plugin's own business and is not validated; a
// hook of Options.Hooks that the plugin defines must return a result that
// fits the hook's output type (ErrBadResult otherwise).
func (h *Host) Call(ctx context.Context, plugin, fn string, input any) (json.RawMessage, error) {
	p, err := h.lookup(plugin)
	if err != nil {
		return nil, &PluginError{Plugin: plugin, Op: OpCall, Name: fn, Err: err}
	}
	hook := p.manifest.Implements(fn)
	if !hook && !slices.Contains(p.manifest.Functions, fn) {
		return nil, &PluginError{Plugin: plugin, Op: OpCall, Name: fn, Err: fmt.Errorf("%w: the manifest declares no function %q", ErrNotImplemented, fn)}
	}
	raw, err := encodeJSON(input)
	if err != nil {
		return nil, &PluginError{Plugin: plugin, Op: OpCall, Name: fn, Err: fmt.Errorf("encode input: %w", err)}
	}
	params := protocol.CallParams{Name: fn, Input: raw}
	if hook {
		params.Phase = p.manifest.Phase(fn)
	}
	res, err := p.call(ctx, params)
	if err != nil {
		return nil, &PluginError{Plugin: plugin, Op: OpCall, Name: fn, Err: err}
	}
	// A define handler called directly still answers for a hook of the
	// contract: its result must fit the hook's output type.
	if d := h.hooks[fn]; d != nil && params.Phase == manifest.PhaseDefine {
		if err := p.checkValue(ctx, d.out, res); err != nil {
			err = badResult(err)
			h.tel.resultRefused(ctx, p, fn, params.Phase, err) // telemetry.go
			return nil, &PluginError{Plugin: plugin, Op: OpCall, Name: fn, Err: err}
		}
	}
	return res, nil
}

// CallFunc is Host.Call with the result decoded into Out.
func CallFunc[Out any](ctx context.Context, h *Host, plugin, fn string, input any) (Out, error) {
	var out Out
	raw, err := h.Call(ctx, plugin, fn, input)
	if err != nil {
		return out, err
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return out, &PluginError{Plugin: plugin, Op: OpCall, Name: fn, Err: fmt.Errorf("%w: %v", ErrBadResult, err)}
	}
	return out, nil
}
