package airlock

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/airlock-go/airlock/internal/manifest"
	"github.com/airlock-go/airlock/internal/oci"
)

// Config is the host's configuration: the plugins to load, with what they
// are granted, their settings, order and limits. It is usually read from a
// host.toml file with ReadConfig; docs/CONFIG.md documents every key.
type Config struct {
	// Limits apply to every plugin unless its own Limits override them.
	Limits Limits `toml:"limits"`
	// Restart says how crashed plugins are restarted.
	Restart RestartPolicy `toml:"restart"`
	// Trust is the policy for signed packages.
	Trust Trust `toml:"trust"`
	// Hooks sets, per hook name, how the hook treats a disabled plugin
	// ([hook."payment.approve"] in host.toml).
	Hooks map[string]HookPolicy `toml:"hook"`
	// Plugins lists the plugins to load, in no particular order: order
	// among plugins comes from Priority.
	Plugins []PluginConfig `toml:"plugin"`
}

// HookPolicy is the operator's policy for one hook.
type HookPolicy struct {
	// WhenDisabled is what a plugin disabled after repeated crashes means
	// for the hook: SkipDisabled (run without it: the hook fails open) or
	// FailDisabled (the hook call fails with ErrPluginDisabled: it fails
	// closed). The default fails closed for a before handler, a guard,
	// and skips a define or after handler.
	WhenDisabled WhenDisabled `toml:"when_disabled"`
}

// WhenDisabled says what a hook does about a disabled plugin.
type WhenDisabled string

// The choices of HookPolicy.WhenDisabled.
const (
	SkipDisabled WhenDisabled = "skip" // run the hook without it: fail open
	FailDisabled WhenDisabled = "fail" // fail the hook call: fail closed
)

// PluginConfig is one plugin as the operator configures it.
type PluginConfig struct {
	// Path is the plugin's directory (holding plugin.toml). Relative paths
	// in a host.toml are relative to that file's directory.
	Path string `toml:"path"`
	// Builtin names a plugin compiled into the host (Options.Builtins)
	// instead of a Path.
	Builtin string `toml:"builtin"`
	// Package is a signed plugin package (a .tar.gz made by airlock pack)
	// instead of a Path. It is verified against the trust policy, then run
	// from the verified bytes.
	Package string `toml:"package"`
	// Signature is the package's detached signature (default: Package
	// with ".minisig" added).
	Signature string `toml:"signature"`
	// Publishers pins the key IDs allowed to sign this plugin.
	Publishers []string `toml:"publishers"`
	// AllowUnsigned lets an unsigned package load: development only,
	// logged at every start.
	AllowUnsigned bool `toml:"allow_unsigned"`
	// EntrySHA256 pins a directory plugin's entry by its sha256: the host
	// reads the directory once, checks the digest and runs from those bytes.
	EntrySHA256 string `toml:"entry_sha256"`
	// Name, if set, must match the plugin's manifest: a guard against
	// pointing Path at the wrong plugin.
	Name string `toml:"name"`
	// MinVersion, if set, is the lowest version of the plugin (its
	// manifest's, compared as semantic versions) the host will load, from
	// any source. Threat: a package rolled back to an older release that
	// is still validly signed, with a flaw the newer one fixed. Raise it
	// with each release that fixes one.
	MinVersion string `toml:"min_version"`
	// Entry, if set, is the absolute path of a process plugin's executable,
	// overriding the manifest's entry. It is for platforms where
	// executables cannot live beside the plugin's files: on Android, a
	// plugin executable ships as lib<name>.so and runs from the app's
	// nativeLibraryDir. Only the operator can point outside the plugin's
	// directory; a manifest cannot.
	Entry string `toml:"entry"`
	// Args are extra command-line arguments for a process plugin.
	Args []string `toml:"args"`
	// Grants are the capabilities the operator grants, e.g. "log",
	// "env:HOME", "fs.read:/srv/in". Grants beyond what the manifest asks
	// for are not passed on.
	Grants []string `toml:"grants"`
	// Config holds the plugin's settings, validated against the
	// manifest's [config] schema.
	Config map[string]any `toml:"config"`
	// Priority orders plugins within a hook's phase: higher runs first,
	// and the highest define handler wins. Ties are broken by name.
	Priority int `toml:"priority"`
	// HookPriority overrides Priority for single hooks.
	HookPriority map[string]int `toml:"hook_priority"`
	// Limits override the host-wide limits for this plugin.
	Limits Limits `toml:"limits"`
	// Sandbox is "on" (the default: confine a process plugin with what the
	// platform offers and log what is not enforced), "required" (refuse to
	// start it without full confinement) or "off" (trusted development
	// only; logged at every start).
	Sandbox SandboxMode `toml:"sandbox"`
	// Isolation is how a native plugin runs: "in-process" (the default:
	// loaded into the host, with full trust; a crash in it is the host's
	// crash) or "process" (loaded by a child confined like a process
	// plugin, under Sandbox, and served over the protocol: a crash costs
	// one call). Other tiers refuse it. See docs/NATIVE.md.
	Isolation Isolation `toml:"isolation"`
	// Namespaces, when false, turns off the sandbox's namespace layer on
	// Linux (PID, mount, network, IPC, UTS and, for a host not running as
	// root, user namespaces), leaving the system call filter to guard
	// other processes and file metadata. The default is to use them where
	// the kernel allows, and to fall back by itself where it does not.
	Namespaces *bool `toml:"namespaces"`
	// RunAs, for a host running as root, is the user ("nobody", "1001",
	// "1001:1001") a process plugin runs as. The plugin's files must be
	// readable by that user. A root host without it still drops every
	// capability before the plugin runs.
	RunAs string `toml:"run_as"`
	// Explain turns on the sandbox's explain mode for a process plugin
	// (Linux): the host logs every system call and path the sandbox
	// refuses, with the rule and the grant that would allow it
	// (docs/SECURITY.md, "Why was my plugin refused?"). It costs a round
	// trip to the host for each refused call and each path the plugin
	// opens: for finding out what a plugin needs, not for production.
	Explain bool `toml:"explain"`
	// Optional plugins that fail to load are logged and skipped; by
	// default a plugin that fails to load fails Open.
	Optional bool `toml:"optional"`
	// Disabled plugins are not loaded at all.
	Disabled bool `toml:"disabled"`
}

// RestartPolicy says how crashed plugins come back.
type RestartPolicy struct {
	// MaxCrashes within Window disable the plugin (default 3 in 1m).
	MaxCrashes int      `toml:"max_crashes"`
	Window     Duration `toml:"window"`
	// Backoff is the wait before the first restart; it doubles with each
	// crash in the window, up to MaxBackoff (defaults 100ms and 5s).
	Backoff    Duration `toml:"backoff"`
	MaxBackoff Duration `toml:"max_backoff"`
}

func (r RestartPolicy) withDefaults() RestartPolicy {
	if r.MaxCrashes <= 0 {
		r.MaxCrashes = 3
	}
	if r.Window <= 0 {
		r.Window = Duration(time.Minute)
	}
	if r.Backoff <= 0 {
		r.Backoff = Duration(100 * time.Millisecond)
	}
	if r.MaxBackoff <= 0 {
		r.MaxBackoff = Duration(5 * time.Second)
	}
	return r
}

// Duration is a time.Duration written as a string in TOML ("250ms", "5s").
type Duration time.Duration

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration (like 500ms or 5s)", b)
	}
	if v < 0 {
		return fmt.Errorf("%q: a duration cannot be negative", b)
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes the duration as a Go duration string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// ReadConfig reads a host configuration file. Relative plugin paths are
// made relative to the file's directory. Unknown keys are an error.
func ReadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}
	cfg, err := ParseConfig(path, data)
	if err != nil {
		return nil, err
	}
	base := filepath.Dir(path)
	rel := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(base, *p)
		}
	}
	for i := range cfg.Plugins {
		p := &cfg.Plugins[i]
		rel(&p.Path)
		if !oci.IsReference(p.Package) { // oci: a registry reference, not a file (internal/oci)
			rel(&p.Package)
		}
		rel(&p.Signature)
	}
	for i, k := range cfg.Trust.Keys {
		if _, err := os.Stat(filepath.Join(base, k)); err == nil && !filepath.IsAbs(k) {
			cfg.Trust.Keys[i] = filepath.Join(base, k)
		}
	}
	return cfg, nil
}

// ParseConfig parses a host configuration; file names it in errors.
func ParseConfig(file string, data []byte) (*Config, error) {
	var cfg Config
	md, err := toml.Decode(string(data), &cfg)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("%w: %s: line %d: %s", ErrInvalidConfig, file, pe.Position.Line, pe.Message)
		}
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalidConfig, file, err)
	}
	var probs []string
	for _, k := range md.Undecoded() {
		probs = append(probs, fmt.Sprintf("unknown key %q", k.String()))
	}
	for i, p := range cfg.Plugins {
		if err := p.check(); err != nil {
			probs = append(probs, fmt.Sprintf("plugin[%d]: %v", i, err))
		}
	}
	for name, hp := range cfg.Hooks {
		switch hp.WhenDisabled {
		case "", SkipDisabled, FailDisabled:
		default:
			probs = append(probs, fmt.Sprintf("hook %q: when_disabled = %q: use skip or fail", name, hp.WhenDisabled))
		}
	}
	if len(probs) > 0 {
		return nil, fmt.Errorf("%w: %s: %s", ErrInvalidConfig, file, strings.Join(probs, "; "))
	}
	return &cfg, nil
}

func (p PluginConfig) check() error {
	n := 0
	for _, s := range []string{p.Path, p.Builtin, p.Package} {
		if s != "" {
			n++
		}
	}
	switch n {
	case 0:
		return errors.New("set path (a plugin directory), package or builtin")
	case 2, 3:
		return errors.New("set only one of path, package and builtin")
	}
	if oci.IsReference(p.Package) { // oci: pinned by digest; the artifact carries the signature
		if _, err := oci.ParsePinned(p.Package); err != nil {
			return fmt.Errorf("package: %w", err)
		}
		if p.Signature != "" {
			return errors.New("signature: an oci:// package carries its own signature; remove the signature key")
		}
	}
	if p.Entry != "" && !filepath.IsAbs(p.Entry) {
		return fmt.Errorf("entry %q: must be an absolute path", p.Entry)
	}
	switch p.Sandbox {
	case "", SandboxOn, SandboxRequired, SandboxOff:
	default:
		return fmt.Errorf("sandbox = %q: use on, required or off", p.Sandbox)
	}
	switch p.Isolation { // native tier (internal/native)
	case "", IsolationInProcess, IsolationProcess:
	default:
		return fmt.Errorf("isolation = %q: use in-process or process", p.Isolation)
	}
	return nil
}

// policyOf takes the host-wide policy from cfg.
func policyOf(cfg *Config) policy {
	return policy{limits: cfg.Limits, restart: cfg.Restart, trust: cfg.Trust, hooks: maps.Clone(cfg.Hooks)}
}

// policy is the operator's host-wide part of a Config: what applies to
// every plugin. Open takes it from the Config; New uses the zero policy.
type policy struct {
	limits  Limits
	restart RestartPolicy
	trust   Trust
	hooks   map[string]HookPolicy
}

// skipDisabled reports whether hook runs without a disabled plugin of
// phase, by the operator's policy or the default.
func (p policy) skipDisabled(hook, phase string) bool {
	switch p.hooks[hook].WhenDisabled {
	case SkipDisabled:
		return true
	case FailDisabled:
		return false
	}
	return phase != manifest.PhaseBefore
}
