package airlock

import (
	"github.com/airlock-go/airlock/internal/manifest"
	"github.com/airlock-go/airlock/internal/native"
	"github.com/airlock-go/airlock/internal/tier"
)

// Tier is how a plugin runs: its manifest's tier.
type Tier string

// The tiers (docs/RATIONALE.md says why there are several).
const (
	// TierProcess: an executable in any language, in its own sandboxed
	// process, spoken to over its standard input and output.
	TierProcess Tier = manifest.TierProcess
	// TierWasm: a WebAssembly module run inside the host by wazero, with no
	// ambient authority.
	TierWasm Tier = manifest.TierWasm
	// TierBuiltin: Go code compiled into the host, with full trust.
	TierBuiltin Tier = manifest.TierBuiltin
	// TierNative: a C-ABI shared library (.so, .dylib, .dll), in the host
	// with full trust or in a sandboxed child (Isolation; docs/NATIVE.md).
	TierNative Tier = manifest.TierNative
)

// Isolation is how a native plugin runs (PluginConfig.Isolation, the
// isolation key of host.toml).
type Isolation string

// The isolation modes of a native plugin. The empty mode is
// IsolationInProcess.
const (
	// IsolationInProcess loads the library into the host: full trust, the
	// fastest calls; a crash in it is the host's crash.
	IsolationInProcess Isolation = native.InProcess
	// IsolationProcess loads it in a child confined like a process plugin,
	// which serves it over the protocol: a crash costs one call.
	IsolationProcess Isolation = native.Process
)

// State is where a loaded plugin is in its life (PluginInfo.State).
type State string

// The states of a loaded plugin.
const (
	// StateRunning: it takes calls.
	StateRunning State = "running"
	// StateRestarting: it crashed and is being started again; calls wait
	// for it.
	StateRestarting State = "restarting"
	// StateDisabled: it crashed too often (RestartPolicy) and stays down
	// until it is loaded again; calls fail with ErrPluginDisabled.
	StateDisabled State = "disabled"
	// StateStopped: it was unloaded or the host closed.
	StateStopped State = "stopped"
)

// SandboxMode is how strictly a process plugin is confined
// (PluginConfig.Sandbox, the sandbox key of host.toml).
type SandboxMode string

// The sandbox modes. The empty mode is SandboxOn.
const (
	// SandboxOn confines the plugin with what the platform offers and logs
	// what it cannot enforce.
	SandboxOn SandboxMode = tier.SandboxOn
	// SandboxRequired refuses to start the plugin without full
	// confinement.
	SandboxRequired SandboxMode = tier.SandboxRequired
	// SandboxOff runs the plugin unconfined: trusted development only,
	// logged at every start.
	SandboxOff SandboxMode = tier.SandboxOff
)

// Op is what the host was doing when a PluginError happened.
type Op string

// The operations of PluginError.Op.
const (
	OpLoad     Op = "load"      // reading, checking and starting a plugin (Load, Open)
	OpStart    Op = "start"     // starting or restarting its instance
	OpUnload   Op = "unload"    // Unload
	OpHook     Op = "hook"      // running a hook (Hook.Run)
	OpCall     Op = "call"      // calling one of its functions (Host.Call)
	OpHostCall Op = "host call" // the plugin calling a host function
)

// AuditReason says why a host function call was refused (AuditEvent.Reason).
type AuditReason string

// The reasons of AuditEvent.Reason.
const (
	// AuditNotGranted: the plugin does not hold the function's capability.
	AuditNotGranted AuditReason = "capability not granted"
	// AuditNoSuchFunction: the host has no function of that name.
	AuditNoSuchFunction AuditReason = "no such host function"
)
