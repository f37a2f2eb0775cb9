// Package demo is a small example host: a "bank" that greets its
// customers through plugins. It declares its contract (its hook and host
// function, with a version), loads the example plugins, dispatches a hook
// through its before, define and after phases, shows a capability being
// denied and a crashing plugin being contained, and explains what happens
// as it goes. "airlock demo" and examples/host run it; "airlock contract
// ./examples/host" prints its contract.
package demo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/airlock-go/airlock"
	"github.com/airlock-go/airlock/sdk/go/plugin"
)

// GreetInput and GreetOutput are the greet hook's types, ordinary Go types
// in the host.
type GreetInput struct {
	Name string `json:"name"`
}

// GreetOutput is the greet hook's output.
type GreetOutput struct {
	Message string `json:"message"`
}

// Greet is the host's extension point; its default is used when no plugin
// defines it.
var Greet = airlock.NewHook("greet", func(_ context.Context, in GreetInput) (GreetOutput, error) {
	return GreetOutput{Message: "good day, " + in.Name}, nil
})

// ContractVersion is the version of the host's contract: Greet and
// ledgerBalance with their types. A plugin built against 1.x (x <= 0) runs
// on it.
const ContractVersion = "1.0.0"

// Options say where the example plugins are and where to write.
type Options struct {
	// Root is the repository's root, holding examples/plugins.
	Root string
	// Out receives the narration and the logs.
	Out io.Writer
	// Build builds the plugin in dir from source, as "airlock build DIR"
	// does, writing the tools' output to log.
	Build func(ctx context.Context, dir string, log io.Writer) error
}

// Run runs the demo.
func Run(ctx context.Context, o Options) error {
	if o.Build == nil {
		return errors.New("demo: Options.Build is not set")
	}
	d := &demo{out: &syncWriter{w: o.Out}, root: o.Root, build: o.Build, ticks: make(chan time.Time, 16)}
	return d.run(ctx)
}

// syncWriter serialises the narration and the host's logs, which are
// written from different goroutines.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

type demo struct {
	out   io.Writer
	root  string
	build func(ctx context.Context, dir string, log io.Writer) error
	built []string // plugins built by buildAll
	// nativeSkipped says why hello-native-c was not built.
	nativeSkipped string
	// ticks receives the time of each run of the reminder's timer.
	ticks chan time.Time
	// audit collects the host's audit events for display.
	mu     sync.Mutex
	audits []airlock.AuditEvent
}

func (d *demo) say(format string, args ...any) { fmt.Fprintf(d.out, format+"\n", args...) }

func (d *demo) step(n int, title string) {
	d.say("\n── %d. %s %s", n, title, strings.Repeat("─", max(0, 60-len(title))))
}

func (d *demo) plugin(name string) string { return filepath.Join(d.root, "examples", "plugins", name) }

func (d *demo) run(ctx context.Context) error {
	d.say("Airlock demo: a host that manages money loads plugins it does not trust:")
	d.say("process plugins in Go, Python and JavaScript, WebAssembly plugins in Go and C")
	d.say("running inside the host, a C shared library, and builtins, all behind one contract.")

	d.step(1, "Declare the host's contract")
	// Open, before anything slow: "airlock contract ./examples/host" runs
	// this program only as far as here (docs/CONTRACT.md).
	h, err := airlock.Open(ctx, d.policy(), d.hostOptions())
	if err != nil {
		return err
	}
	defer h.Close(context.WithoutCancel(ctx))
	d.say("  contract %s: the hook %q and the host function %q (capability %q),",
		ContractVersion, Greet.Name(), ledgerBalance.Name(), ledgerBalance.Capability())
	d.say("  each with the JSON Schemas of its Go types; \"airlock contract ./examples/host\"")
	d.say("  prints them. What plugins send the host is validated against them.")

	d.step(2, "Build the example plugins from source")
	if err := d.buildAll(ctx); err != nil {
		return err
	}

	d.step(3, "Discover what is there, and what the policy says of it")
	d.discover(ctx, h)

	d.step(4, "Load the plugins with the operator's grants")
	for _, pc := range d.config().Plugins {
		if _, err := h.Load(ctx, pc); err != nil {
			return err
		}
	}
	for _, p := range h.Plugins() {
		d.say("  %-15s %-8s priority %-3d grants %v", p.Name, p.Tier, p.Priority, p.Grants)
	}
	d.say("\n  A plugin whose required capabilities are not granted is never started:")
	_, err = h.Load(ctx, airlock.PluginConfig{Path: d.plugin("hello-go"), Grants: nil})
	d.say("  → %v", err)
	d.say("\n  Nor is one built for a hook this host does not have, or granted a capability")
	d.say("  nobody knows:")
	_, err = h.Load(ctx, airlock.PluginConfig{Builtin: "greeter-typo"})
	d.say("  → %v", err)
	_, err = h.Load(ctx, airlock.PluginConfig{Path: d.plugin("teller"), Grants: []string{"log", "ledger.raed"}})
	d.say("  → %v", err)

	d.step(5, "Run the greet hook: before (may veto), define (one wins), after")
	for _, name := range []string{"ada", "mallory"} {
		out, err := Greet.Run(ctx, h, GreetInput{Name: name})
		if err != nil {
			d.say("  greet(%q) → error: %v", name, err)
			d.say("    (errors.Is(err, airlock.ErrVetoed) = %v)", errors.Is(err, airlock.ErrVetoed))
			continue
		}
		d.say("  greet(%q) → %q   (hello-go has the highest priority, so it defines the hook)", name, out.Message)
	}
	d.say("\n  Every plugin also answers when called directly, whatever its language:")
	for _, p := range h.Plugins() {
		if p.Name == "teller" || p.Name == "crashy" || p.Tier == airlock.TierBuiltin {
			continue
		}
		out, err := airlock.CallFunc[GreetOutput](ctx, h, p.Name, "greet", GreetInput{Name: "grace"})
		if err != nil {
			d.say("  %-15s → error: %v", p.Name, err)
			continue
		}
		d.say("  %-15s → %q", p.Name, out.Message)
	}

	d.step(6, "A plugin calls a host function it was not granted")
	res, err := h.Call(ctx, "teller", "peek", map[string]string{"account": "alice"})
	if err != nil {
		return err
	}
	d.say("  teller.peek → %s", res)
	for _, ev := range d.auditEvents() {
		d.say("  audit: plugin=%s function=%s capability=%s (%s)", ev.Plugin, ev.Function, ev.Capability, ev.Reason)
	}

	d.step(7, "A plugin ignores its deadline")
	start := time.Now()
	before, _ := h.Plugin("crashy")
	_, err = h.Call(ctx, "crashy", "hang", nil)
	d.say("  crashy.hang → %v", err)
	d.say("  (the caller got its error after %v; errors.Is(err, airlock.ErrDeadline) = %v)", time.Since(start).Round(100*time.Millisecond), errors.Is(err, airlock.ErrDeadline))
	d.say("  The plugin was sent a cancel; it ignored it, so after the grace period it was killed.")
	info := d.waitRestarted(ctx, h, "crashy", before.Restarts)
	d.say("  crashy counts that as a crash and was restarted (restarts so far: %d)", info.Restarts)

	d.step(8, "A plugin crashes in the middle of a call")
	d.containCrash(ctx, h)

	d.step(9, "Change the configuration while calls go on")
	if err := d.reload(ctx, h); err != nil {
		return err
	}

	d.step(10, "The native tier: one C library, in the host and then contained")
	if err := d.native(ctx, h); err != nil {
		return err
	}

	d.step(11, fmt.Sprintf("A plugin asks the host to call it back every %v", tickPeriod))
	if err := d.timers(ctx, h); err != nil {
		return err
	}

	d.step(12, "The kv store outlives the host; each plugin sees only its own")
	if err := d.kv(ctx); err != nil {
		return err
	}

	d.step(13, "Shut down")
	d.say("  Close asks each plugin to shut down, then terminates and kills what is left.")
	return nil
}

// discover lists every plugin under examples/plugins with the host's
// verdict on it, as "airlock list" does, before loading anything.
func (d *demo) discover(ctx context.Context, h *airlock.Host) {
	operator := map[string]airlock.PluginConfig{}
	for _, pc := range d.config().Plugins {
		if pc.Path != "" {
			operator[filepath.Base(pc.Path)] = pc
		}
	}
	if slices.Contains(d.built, "hello-native-c") {
		operator["hello-native-c"] = d.nativeConfig()
	}
	cands, err := h.Discover(ctx, func(name string) airlock.PluginConfig { return operator[name] }, filepath.Join(d.root, "examples", "plugins"))
	if err != nil {
		d.say("  discover: %v", err)
		return
	}
	for _, c := range cands {
		if c.Err == nil {
			d.say("  %-18s %-8s would load", c.Name, c.Tier)
			continue
		}
		var pe *airlock.PluginError
		why := c.Err
		if errors.As(c.Err, &pe) {
			why = pe.Err
		}
		d.say("  %-18s %-8s not loaded: %v", c.Name, c.Tier, why)
	}
}

func (d *demo) containCrash(ctx context.Context, h *airlock.Host) {
	for i := 1; ; i++ {
		prev, _ := h.Plugin("crashy")
		before := prev.Restarts
		_, err := h.Call(ctx, "crashy", "crash", nil)
		d.say("  crashy.crash #%d → %v", i, err)
		d.say("    (errors.Is(err, airlock.ErrPluginCrashed) = %v)", errors.Is(err, airlock.ErrPluginCrashed))
		out, gerr := Greet.Run(ctx, h, GreetInput{Name: "ada"})
		d.say("    meanwhile greet(\"ada\") → %q, err=%v", out.Message, gerr)
		info := d.waitRestarted(ctx, h, "crashy", before)
		if info.State != airlock.StateRunning || i == 5 {
			break
		}
		d.say("    crashy was restarted (restarts so far: %d)", info.Restarts)
	}
	info, _ := h.Plugin("crashy")
	d.say("  crashy is now %s: three crashes within a minute disable it.", info.State)
	_, err := h.Call(ctx, "crashy", "ping", nil)
	d.say("  crashy.ping → %v", err)
	d.say("  The host and its other plugins kept serving throughout.")
}

// waitRestarted waits until the plugin has been restarted since it had
// restarted prev times, or disabled.
func (d *demo) waitRestarted(ctx context.Context, h *airlock.Host, name string, prev int) airlock.PluginInfo {
	deadline := time.Now().Add(5 * time.Second)
	for {
		info, _ := h.Plugin(name)
		done := info.State == airlock.StateDisabled || (info.State == airlock.StateRunning && info.Restarts > prev)
		if done || time.Now().After(deadline) || ctx.Err() != nil {
			return info
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (d *demo) auditEvents() []airlock.AuditEvent {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]airlock.AuditEvent(nil), d.audits...)
}

// buildAll builds the Go plugins (process and wasm) and, when clang is
// here, the C wasm plugin, and when cc is, the C native library.
func (d *demo) buildAll(ctx context.Context) error {
	tiers := map[string]airlock.Tier{"hello-go": airlock.TierProcess, "teller": airlock.TierProcess, "crashy": airlock.TierProcess,
		"hello-wasm-go": airlock.TierWasm, "hello-wasm-c": airlock.TierWasm, "hello-native-c": airlock.TierNative}
	names := []string{"hello-go", "teller", "crashy", "hello-wasm-go"}
	if have("clang") {
		names = append(names, "hello-wasm-c")
	} else {
		d.say("  (clang not found: skipping hello-wasm-c)")
	}
	// hello-native-c's [build] runs "sh -c ... cc".
	if d.nativeSkipped = nativeSkip(); d.nativeSkipped == "" {
		names = append(names, "hello-native-c")
	} else {
		d.say("  (%s: skipping hello-native-c)", d.nativeSkipped)
	}
	for _, name := range names {
		var log bytes.Buffer
		if err := d.build(ctx, d.plugin(name), &log); err != nil {
			return fmt.Errorf("build %s: %w\n%s", name, err, log.String())
		}
		d.say("  built %-14s (%s tier)", name, tiers[name])
		d.built = append(d.built, name)
	}
	return nil
}

// nativeSkip says why hello-native-c cannot be built here, or "".
func nativeSkip() string {
	switch {
	case runtime.GOOS == "windows":
		return "its build command is for Unix (docs/NATIVE.md says how to build the DLL)"
	case !have("cc"):
		return "no C compiler (cc) found"
	case !have("sh"):
		return "sh not found"
	}
	return ""
}

func have(program string) bool {
	_, err := exec.LookPath(program)
	return err == nil
}

// config is what an operator would write in host.toml (its [limits] are
// in policy: the host is opened before the plugins are built).
func (d *demo) config() *airlock.Config {
	cfg := &airlock.Config{
		Plugins: []airlock.PluginConfig{
			{Path: d.plugin("hello-go"), Grants: []string{"log"}, Priority: 10},
			{Path: d.plugin("teller"), Grants: []string{"log"}, Priority: 50},
			{Path: d.plugin("crashy")},
			{Builtin: "greeting-audit", Grants: []string{"log", "kv"}},
			{Path: d.plugin("hello-wasm-go"), Grants: []string{"log"}, Priority: 4, Config: map[string]any{"greeting": "hallo"}},
		},
	}
	if slices.Contains(d.built, "hello-wasm-c") {
		cfg.Plugins = append(cfg.Plugins, airlock.PluginConfig{Path: d.plugin("hello-wasm-c"), Grants: []string{"log"}, Priority: 3, Config: map[string]any{"greeting": "ciao"}})
	}
	if have("python3") {
		cfg.Plugins = append(cfg.Plugins, airlock.PluginConfig{Path: d.plugin("hello-python"), Grants: []string{"log"}, Priority: 5, Config: map[string]any{"greeting": "bonjour"}})
	} else {
		d.say("  (python3 not found: skipping hello-python)")
	}
	if have("node") {
		cfg.Plugins = append(cfg.Plugins, airlock.PluginConfig{Path: d.plugin("hello-node"), Grants: []string{"log"}, Priority: 1, Config: map[string]any{"greeting": "hola"}})
	} else {
		d.say("  (node not found: skipping hello-node)")
	}
	return cfg
}

// policy is the operator's part: the limits every plugin runs under. A
// host reading a host.toml gets it from ReadConfig instead.
func (d *demo) policy() *airlock.Config {
	return &airlock.Config{
		Limits: airlock.Limits{
			CallTimeout: airlock.Duration(time.Second), CancelGrace: airlock.Duration(300 * time.Millisecond),
			// The defaults, said here because the reload step paces its
			// caller below them (reload_test.go).
			HostCallsPerSecond: 1000, LogLinesPerSecond: 200,
		},
	}
}

// hostOptions declare the host's contract (its hooks, functions and
// version) and what the host itself provides.
func (d *demo) hostOptions() airlock.Options {
	return airlock.Options{
		ContractVersion: ContractVersion,
		Hooks:           []airlock.AnyHook{Greet},
		Functions:       []airlock.Function{ledgerBalance},
		Logger:          slog.New(slog.NewTextHandler(&indent{w: d.out}, &slog.HandlerOptions{Level: slog.LevelWarn, ReplaceAttr: dropTime})),
		Builtins:        map[string]airlock.Builtin{"greeting-audit": greetingAudit(), "greeter-typo": greeterTypo(), "reminder": reminder(d.ticks)},
		OnAudit: func(ev airlock.AuditEvent) {
			d.mu.Lock()
			d.audits = append(d.audits, ev)
			d.mu.Unlock()
		},
	}
}

// BalanceInput and BalanceOutput are the types of the ledger.balance host
// function. Plugins must send exactly these field names: what they send is
// validated against the contract's schema.
type BalanceInput struct {
	Account string `json:"account"`
}

// BalanceOutput is ledger.balance's result.
type BalanceOutput struct {
	Balance float64 `json:"balance"`
}

// ledgerBalance is one of the host application's own host functions,
// guarded by its own capability.
var ledgerBalance = airlock.NewFunc("ledger.balance", "ledger.read",
	func(_ context.Context, _ airlock.Caller, in BalanceInput) (BalanceOutput, error) {
		return BalanceOutput{Balance: 1234.56}, nil
	})

// greetingAudit is a builtin plugin: Go compiled into the host, written
// with the same SDK as hello-go, observing the greet hook after the fact.
func greetingAudit() airlock.Builtin {
	p := plugin.New("greeting-audit", "0.1.0")
	plugin.Handle(p, "greet", func(ctx context.Context, h *plugin.Host, in struct {
		Input  GreetInput  `json:"input"`
		Output GreetOutput `json:"output"`
	}) (any, error) {
		return nil, h.Call(ctx, "kv.set", map[string]any{"key": "last-greeting", "value": in.Output.Message}, nil)
	})
	return airlock.Builtin{Plugin: p, Manifest: `
name = "greeting-audit"
version = "0.1.0"
description = "Records the last greeting (after phase)."
tier = "builtin"
protocol = 1
hooks = ["greet"]
[hook.greet]
phase = "after"
[capabilities]
required = ["kv"]
optional = ["log"]
`}
}

// greeterTypo is a plugin built for a hook this host does not have: its
// manifest says "gret". The host refuses it at load.
func greeterTypo() airlock.Builtin {
	p := plugin.New("greeter-typo", "0.1.0")
	plugin.Handle(p, "gret", func(context.Context, *plugin.Host, GreetInput) (GreetOutput, error) {
		return GreetOutput{Message: "hi"}, nil
	})
	return airlock.Builtin{Plugin: p, Manifest: `
name = "greeter-typo"
version = "0.1.0"
contract = "1.0.0"
tier = "builtin"
protocol = 1
hooks = ["gret"]
`}
}

func dropTime(_ []string, a slog.Attr) slog.Attr {
	if a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}

// indent prefixes each log line so that logs stand apart from narration.
type indent struct {
	w io.Writer
}

func (i *indent) Write(p []byte) (int, error) {
	var b strings.Builder
	for _, line := range strings.SplitAfter(string(p), "\n") {
		if line != "" {
			b.WriteString("    log │ " + line)
		}
	}
	if _, err := io.WriteString(i.w, b.String()); err != nil {
		return 0, err
	}
	return len(p), nil
}

// FindRoot returns the repository root: the nearest directory at or above
// dir holding examples/plugins.
func FindRoot(dir string) (string, error) {
	for d := dir; ; d = filepath.Dir(d) {
		if st, err := os.Stat(filepath.Join(d, "examples", "plugins")); err == nil && st.IsDir() {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("examples/plugins not found at or above %s: run the demo from the Airlock repository", dir)
		}
	}
}
