// Package tier defines what every plugin tier (process, wasm, builtin)
// provides to the host: a Starter that starts a plugin from a Spec and the
// Instance it returns. The host's dispatch, supervision and grant checks sit
// above this interface and are the same for every tier.
package tier

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"time"

	"github.com/airlock-go/airlock/internal/capability"
	"github.com/airlock-go/airlock/internal/manifest"
	"github.com/airlock-go/airlock/internal/sandbox"
	"github.com/airlock-go/airlock/protocol"
)

// Errors a tier reports; the root package re-exports them for errors.Is.
var (
	ErrCrashed      = errors.New("plugin crashed")
	ErrDeadline     = errors.New("deadline exceeded")
	ErrHandshake    = errors.New("handshake failed")
	ErrViolation    = errors.New("protocol violation")
	ErrStart        = errors.New("plugin could not start")
	ErrTooLarge     = errors.New("message too large")
	ErrStopped      = errors.New("plugin stopped")
	ErrResourceCaps = errors.New("resource limit exceeded")
	// ErrNotRunning: the instance had ended before the call reached it;
	// the caller may wait for a replacement and try again.
	ErrNotRunning = errors.New("plugin instance not running")
)

// HostFunc calls a host function on the plugin's behalf. The host checks
// the plugin's grants inside it; tiers only carry the call.
type HostFunc func(ctx context.Context, fn string, input json.RawMessage) (json.RawMessage, error)

// Spec is everything a tier needs to start one plugin.
type Spec struct {
	Manifest *manifest.Manifest
	// Dir holds the plugin's files; usually Manifest.Dir, or the private
	// directory a verified package was unpacked into.
	Dir string
	// Assets are a wasm package's own files, which its guest reads under
	// /plugin (read-only); nil for a directory plugin, whose guest reads
	// Dir there.
	Assets fs.FS
	// Entry, if set, is an absolute path the operator chose for the
	// process entry, overriding the manifest's (which must stay inside Dir).
	Entry string
	// Code holds the entry's bytes when the host has already read (and
	// perhaps verified) them: a wasm tier compiles from these rather than
	// reading the file again, so what was checked is what runs.
	Code []byte
	// Name is the name the host knows the plugin by (the manifest's name).
	Name string
	// Args are extra arguments from the host's configuration.
	Args      []string
	Config    map[string]any
	Grants    capability.Set
	Functions []string // host functions the plugin may call
	Limits    Limits
	Log       *slog.Logger // already carries the plugin's name
	Host      HostFunc
	// Paced, if set, is told of each wait a plugin's host calls are held
	// to by Limits.HostCallBytesPerSec (a process plugin's reading, a wasm
	// guest's host call; not a wasm host call refused because its wait
	// would outlast its call). It must not block.
	Paced func(wait time.Duration)
	// Sandbox is the confinement mode for process plugins: SandboxOn (the
	// default: what the platform offers, with a warning for the rest),
	// SandboxRequired (refuse to start without full confinement) or
	// SandboxOff (trusted development only).
	Sandbox string
	// NoNamespaces turns off the sandbox's namespace layer (Linux), for
	// hosts where the kernel refuses it anyway.
	NoNamespaces bool
	// RunAs, for a host running as root, is the user and group a process
	// plugin runs as.
	RunAs *sandbox.Credential
	// Explain turns on the sandbox's explain mode for a process plugin
	// (Linux): every refusal is logged with the rule and the grant that
	// would allow it (sandbox.Policy.Explain).
	Explain bool
	// Isolation is how a native plugin runs: "in-process" (the default)
	// or "process" (a sandboxed child; internal/native).
	Isolation string
}

// Sandbox modes.
const (
	SandboxOn       = "on"
	SandboxRequired = "required"
	SandboxOff      = "off"
)

// Instance is one started plugin.
type Instance interface {
	// Call runs a hook or function and returns its JSON result. A plugin's
	// own error is a *protocol.Error; a crash wraps ErrCrashed; a deadline
	// wraps ErrDeadline.
	Call(ctx context.Context, call protocol.CallParams) (json.RawMessage, error)
	// Stop ends the plugin: orderly if it cooperates before ctx ends,
	// forcibly otherwise. It returns once the plugin is gone.
	Stop(ctx context.Context) error
	// Done is closed when the plugin has ended, for any reason.
	Done() <-chan struct{}
	// Err says why the plugin ended; nil while it runs.
	Err() error
	// Info is the plugin's answer to the handshake.
	Info() protocol.InitializeResult
}

// Starter starts plugins of one tier.
type Starter interface {
	Start(ctx context.Context, spec Spec) (Instance, error)
}

// CheckHandshake compares a plugin's handshake answer with its manifest,
// for tiers that run a handshake.
func CheckHandshake(m *manifest.Manifest, r protocol.InitializeResult) error {
	return checkHandshake(m, r)
}
