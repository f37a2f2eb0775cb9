// Package manifest reads and validates plugin.toml, the file every plugin
// carries to say what it is, how it runs, which hooks it implements, which
// capabilities it needs and which settings it takes.
//
// docs/MANIFEST.md documents every key.
package manifest

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/Masterminds/semver/v3"

	"github.com/airlock-go/airlock/internal/capability"
	"github.com/airlock-go/airlock/internal/regfile"
)

// FileName is the name of the manifest inside a plugin directory or package.
const FileName = "plugin.toml"

// ProtocolVersion is the contract version this build of Airlock speaks.
const ProtocolVersion = 1

// MaxSize bounds the manifest file (threat: a hostile package with a huge
// manifest exhausting host memory before anything is checked).
const MaxSize = 1 << 20

// Tiers a manifest may name.
const (
	TierProcess = "process"
	TierWasm    = "wasm"
	TierBuiltin = "builtin"
	// TierNative is a C-ABI shared library (internal/native, docs/NATIVE.md).
	TierNative = "native"
)

// Phases a plugin's hook handler runs in.
const (
	PhaseBefore = "before"
	PhaseDefine = "define"
	PhaseAfter  = "after"
)

// Manifest is a parsed and validated plugin.toml.
type Manifest struct {
	Name        string   `toml:"name"`
	Version     string   `toml:"version"`
	Description string   `toml:"description"`
	Tier        string   `toml:"tier"`
	Protocol    int      `toml:"protocol"`
	Contract    string   `toml:"contract"` // the host contract's version it was built against; may be empty
	Entry       string   `toml:"entry"`
	Args        []string `toml:"args"`
	Interpreter []string `toml:"interpreter"`
	Hooks       []string `toml:"hooks"`
	Functions   []string `toml:"functions"`

	Hook         map[string]HookSpec     `toml:"hook"`
	Capabilities Capabilities            `toml:"capabilities"`
	Config       map[string]Setting      `toml:"config"`
	Platform     map[string]PlatformSpec `toml:"platform"`
	Build        *Build                  `toml:"build"`

	// Dir is the directory the manifest was read from; empty for a manifest
	// parsed from bytes.
	Dir string `toml:"-"`
	// File names the manifest in error messages.
	File string `toml:"-"`

	required []capability.Cap
	optional []capability.Cap
	contract *semver.Version
}

// HookSpec refines how a plugin takes part in one hook.
type HookSpec struct {
	// Phase is before, define (the default) or after.
	Phase string `toml:"phase"`
	// Priority is what the plugin asks for. It is shown to the operator and
	// never applied: order is the operator's to set in the host config.
	Priority *int `toml:"priority"`
}

// Capabilities lists what the plugin needs and what it can use if granted.
type Capabilities struct {
	Required []string `toml:"required"`
	Optional []string `toml:"optional"`
}

// PlatformSpec overrides how the plugin runs on one OS or OS/arch, keyed
// "linux", "windows/amd64" and so on.
type PlatformSpec struct {
	Entry       string   `toml:"entry"`
	Interpreter []string `toml:"interpreter"`
	Args        []string `toml:"args"`
}

// Build is the command that builds the plugin's entry from source.
type Build struct {
	Command []string `toml:"command"`
	// Env adds variables to the build's environment, as KEY=VALUE.
	Env []string `toml:"env"`
}

var (
	nameRE = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)
	// Hook and function names: dotted identifiers, like host function names.
	identRE = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$`)
)

// Error is a manifest that could not be read or is invalid. It names the
// file and lists every problem found, each with its key.
type Error struct {
	File     string
	Problems []Problem
}

// Problem is one invalid key.
type Problem struct {
	Key     string // "config.greeting.type"; empty for the file as a whole
	Message string
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: ", e.File)
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteString("; ")
		}
		if p.Key != "" {
			fmt.Fprintf(&b, "key %q: ", p.Key)
		}
		b.WriteString(p.Message)
	}
	return b.String()
}

// Load reads and validates DIR/plugin.toml.
func Load(dir string) (*Manifest, error) {
	file := filepath.Join(dir, FileName)
	data, err := readBounded(file)
	if err != nil {
		return nil, &Error{File: file, Problems: []Problem{{Message: err.Error()}}}
	}
	m, err := Parse(file, data)
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	m.Dir = abs
	return m, nil
}

// readBounded reads a manifest file: a regular file of at most MaxSize
// bytes (threat: a pipe planted as plugin.toml would block Load for ever;
// internal/regfile).
func readBounded(file string) ([]byte, error) {
	f, err := regfile.Open(file, true)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no %s here: is this a plugin directory?", FileName)
		}
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxSize {
		return nil, fmt.Errorf("larger than %d bytes", MaxSize)
	}
	return data, nil
}

// Parse decodes and validates a manifest; file names it in errors.
func Parse(file string, data []byte) (*Manifest, error) {
	m := &Manifest{File: file}
	md, err := toml.Decode(string(data), m)
	if err != nil {
		return nil, &Error{File: file, Problems: []Problem{{Message: tomlMessage(err)}}}
	}
	var probs []Problem
	for _, k := range md.Undecoded() {
		probs = append(probs, Problem{Key: k.String(), Message: "unknown key (see docs/MANIFEST.md for the keys a manifest may have)"})
	}
	probs = append(probs, m.validate()...)
	if len(probs) > 0 {
		return nil, &Error{File: file, Problems: probs}
	}
	return m, nil
}

// tomlMessage renders a TOML syntax error with its line.
func tomlMessage(err error) string {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		return fmt.Sprintf("line %d: %s", pe.Position.Line, pe.Message)
	}
	return err.Error()
}

func (m *Manifest) validate() []Problem {
	var probs []Problem
	add := func(key, format string, args ...any) {
		probs = append(probs, Problem{Key: key, Message: fmt.Sprintf(format, args...)})
	}
	switch {
	case m.Name == "":
		add("name", "missing")
	case !nameRE.MatchString(m.Name) || len(m.Name) > 64:
		add("name", "%q: use lower-case letters, digits and single dashes, at most 64 characters", m.Name)
	}
	if m.Version == "" {
		add("version", "missing")
	} else if _, err := semver.StrictNewVersion(m.Version); err != nil {
		add("version", "%q is not a semantic version (like 1.2.3)", m.Version)
	}
	if m.Contract != "" {
		v, err := semver.StrictNewVersion(m.Contract)
		if err != nil {
			add("contract", "%q is not a semantic version (like 1.2.0): name the version of the host's contract the plugin was built against", m.Contract)
		}
		m.contract = v
	}
	switch m.Tier {
	case TierProcess, TierWasm, TierBuiltin, TierNative:
	case "":
		add("tier", "missing (process, wasm, native or builtin)")
	default:
		add("tier", "%q: must be process, wasm, native or builtin", m.Tier)
	}
	probs = append(probs, m.validateNative()...) // native tier: marked hunk (internal/native)
	switch {
	case m.Protocol == 0:
		add("protocol", "missing (this host speaks protocol %d)", ProtocolVersion)
	case m.Protocol != ProtocolVersion:
		add("protocol", "plugin speaks protocol %d, this host speaks %d", m.Protocol, ProtocolVersion)
	}
	if m.Tier != TierBuiltin {
		if m.Entry == "" {
			add("entry", "missing: name the file that runs, relative to the plugin directory")
		} else if msg := checkRelPath(m.Entry); msg != "" {
			add("entry", "%q: %s", m.Entry, msg)
		}
	}
	probs = append(probs, m.validateHooks()...)
	probs = append(probs, m.validateCapabilities()...)
	for name, s := range m.Config {
		probs = append(probs, s.validate("config."+name, name)...)
	}
	for key, p := range m.Platform {
		if !validPlatform(key) {
			add("platform."+key, "unknown platform: use GOOS or GOOS/GOARCH, like \"windows\" or \"linux/arm64\"")
		}
		if p.Entry != "" {
			if msg := checkRelPath(p.Entry); msg != "" {
				add("platform."+key+".entry", "%q: %s", p.Entry, msg)
			}
		}
	}
	if m.Build != nil && len(m.Build.Command) == 0 {
		add("build.command", "missing: the command to run, as a list")
	}
	slices.SortFunc(probs, func(a, b Problem) int { return strings.Compare(a.Key, b.Key) })
	return probs
}

func (m *Manifest) validateHooks() []Problem {
	var probs []Problem
	seen := map[string]bool{}
	for i, h := range m.Hooks {
		key := fmt.Sprintf("hooks[%d]", i)
		switch {
		case !identRE.MatchString(h):
			probs = append(probs, Problem{key, fmt.Sprintf("%q is not a hook name (lower-case, digits, '_' and '.')", h)})
		case seen[h]:
			probs = append(probs, Problem{key, fmt.Sprintf("%q listed twice", h)})
		}
		seen[h] = true
	}
	for i, f := range m.Functions {
		if !identRE.MatchString(f) {
			probs = append(probs, Problem{fmt.Sprintf("functions[%d]", i), fmt.Sprintf("%q is not a function name", f)})
		}
	}
	for name, spec := range m.Hook {
		key := "hook." + name
		if !seen[name] {
			probs = append(probs, Problem{key, fmt.Sprintf("hook %q is not listed in hooks", name)})
		}
		switch spec.Phase {
		case "", PhaseBefore, PhaseDefine, PhaseAfter:
		default:
			probs = append(probs, Problem{key + ".phase", fmt.Sprintf("%q: must be before, define or after", spec.Phase)})
		}
	}
	return probs
}

func (m *Manifest) validateCapabilities() []Problem {
	var probs []Problem
	parse := func(key string, list []string) []capability.Cap {
		var caps []capability.Cap
		for i, s := range list {
			c, err := capability.Parse(s)
			if err != nil {
				probs = append(probs, Problem{fmt.Sprintf("%s[%d]", key, i), err.Error()})
				continue
			}
			caps = append(caps, c)
		}
		return caps
	}
	m.required = parse("capabilities.required", m.Capabilities.Required)
	m.optional = parse("capabilities.optional", m.Capabilities.Optional)
	for _, c := range m.optional {
		if slices.Contains(m.required, c) {
			probs = append(probs, Problem{"capabilities.optional", fmt.Sprintf("%q is also required", c)})
		}
	}
	return probs
}

// validateNative refuses what a native plugin cannot use: its entry is a
// library loaded by the host, which runs no interpreter and passes no
// arguments. (Native tier: marked hunk, internal/native.)
func (m *Manifest) validateNative() []Problem {
	if m.Tier != TierNative {
		return nil
	}
	var probs []Problem
	for key, p := range m.Platform {
		if len(p.Interpreter) > 0 || len(p.Args) > 0 {
			probs = append(probs, Problem{Key: "platform." + key, Message: "a native library takes no interpreter or args"})
		}
	}
	if len(m.Interpreter) > 0 || len(m.Args) > 0 {
		probs = append(probs, Problem{Key: "interpreter", Message: "a native library takes no interpreter or args"})
	}
	return probs
}

// checkRelPath returns why p may not name a file inside the plugin
// directory, or "" if it may (threat: a manifest pointing its entry outside
// its own directory, at a host binary or another plugin's files).
func checkRelPath(p string) string {
	if filepath.IsAbs(p) || strings.HasPrefix(p, "/") || strings.HasPrefix(p, `\`) || filepath.VolumeName(p) != "" {
		return "must be relative to the plugin directory"
	}
	for _, part := range strings.FieldsFunc(p, func(r rune) bool { return r == '/' || r == '\\' }) {
		if part == ".." {
			return "must not leave the plugin directory"
		}
	}
	return ""
}

func validPlatform(key string) bool {
	goos, arch, _ := strings.Cut(key, "/")
	if !slices.Contains(knownOS, goos) {
		return false
	}
	return arch == "" || slices.Contains(knownArch, arch)
}

var (
	knownOS   = []string{"linux", "darwin", "windows", "android", "freebsd", "openbsd", "netbsd", "ios", "wasip1"}
	knownArch = []string{"amd64", "arm64", "386", "arm", "riscv64", "ppc64le", "s390x", "wasm"}
)

// Required returns the parsed required capabilities.
func (m *Manifest) Required() []capability.Cap { return slices.Clone(m.required) }

// Optional returns the parsed optional capabilities.
func (m *Manifest) Optional() []capability.Cap { return slices.Clone(m.optional) }

// Phase returns the phase the plugin's handler for hook runs in.
func (m *Manifest) Phase(hook string) string {
	if p := m.Hook[hook].Phase; p != "" {
		return p
	}
	return PhaseDefine
}

// ContractVersion returns the version of the host's contract the plugin
// was built against, or nil when the manifest does not say.
func (m *Manifest) ContractVersion() *semver.Version { return m.contract }

// ValidHookName reports whether name can name a hook: a lower-case
// identifier, optionally dotted ("greet", "payment.approve"), as a
// manifest's hooks list them.
func ValidHookName(name string) bool { return identRE.MatchString(name) }

// Implements reports whether the plugin lists hook.
func (m *Manifest) Implements(hook string) bool { return slices.Contains(m.Hooks, hook) }

// Run is how to start the plugin on one platform.
type Run struct {
	Entry       string   // relative to the plugin directory
	Interpreter []string // empty when the entry is executed directly
	Args        []string
}

// RunFor returns how to start the plugin on goos/goarch: the most specific
// [platform] table wins over the top-level keys, key by key.
func (m *Manifest) RunFor(goos, goarch string) Run {
	r := Run{Entry: m.Entry, Interpreter: m.Interpreter, Args: m.Args}
	for _, key := range []string{goos, goos + "/" + goarch} {
		p, ok := m.Platform[key]
		if !ok {
			continue
		}
		if p.Entry != "" {
			r.Entry = p.Entry
		}
		if p.Interpreter != nil {
			r.Interpreter = p.Interpreter
		}
		if p.Args != nil {
			r.Args = p.Args
		}
	}
	return r
}

// RunHere is RunFor for the platform this host runs on.
func (m *Manifest) RunHere() Run { return m.RunFor(runtime.GOOS, runtime.GOARCH) }
