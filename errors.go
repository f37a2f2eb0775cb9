package airlock

import (
	"errors"
	"fmt"

	"github.com/airlock-go/airlock/internal/manifest"
	"github.com/airlock-go/airlock/internal/tier"
	"github.com/airlock-go/airlock/protocol"
)

// Sentinel errors, for errors.Is. Every error Airlock returns about a plugin
// is a *PluginError that wraps one of these (or a *RemoteError).
var (
	// ErrInvalidManifest: the plugin's plugin.toml is malformed or invalid.
	ErrInvalidManifest = errors.New("invalid manifest")
	// ErrInvalidConfig: the host configuration, or a plugin's settings in
	// it, are invalid.
	ErrInvalidConfig = errors.New("invalid configuration")
	// ErrMissingGrant: the plugin requires capabilities the operator did
	// not grant; it was not started.
	ErrMissingGrant = errors.New("required capabilities not granted")
	// ErrCapabilityDenied: a host function was called without the
	// capability it needs.
	ErrCapabilityDenied = errors.New("capability denied")
	// ErrStart: the plugin could not be started.
	ErrStart = tier.ErrStart
	// ErrHandshake: the plugin did not complete the handshake, or its
	// answer does not match its manifest.
	ErrHandshake = tier.ErrHandshake
	// ErrDeadline: the plugin did not answer in time.
	ErrDeadline = tier.ErrDeadline
	// ErrPluginCrashed: the plugin ended while calls were in flight.
	ErrPluginCrashed = tier.ErrCrashed
	// ErrProtocol: the plugin broke the protocol and was stopped.
	ErrProtocol = tier.ErrViolation
	// ErrResourceLimit: the plugin hit a memory, size or output cap, or a
	// message to or from it was over the size limit (it was not sent).
	ErrResourceLimit = tier.ErrResourceCaps
	// ErrPluginDisabled: the plugin crashed too often and is disabled
	// until the host reloads it.
	ErrPluginDisabled = errors.New("plugin disabled after repeated crashes")
	// ErrVetoed: a before handler refused the hook call.
	ErrVetoed = errors.New("vetoed")
	// ErrNotImplemented: the plugin does not implement that hook or
	// function.
	ErrNotImplemented = errors.New("not implemented")
	// ErrPluginFailed: the plugin ran and returned an error.
	ErrPluginFailed = errors.New("plugin returned an error")
	// ErrBadResult: a result does not fit its declared output type: a
	// define handler's result for its hook (always checked), or, with
	// Options.ValidateHostValues, a host function's or a hook default's.
	// The message gives the JSON path of each problem.
	ErrBadResult = errors.New("result does not match the output type")
	// ErrBadInput: an input does not fit its declared input type: what a
	// plugin sends a host function (always checked; the plugin is told
	// with code -32602 and the host logs it), or, with
	// Options.ValidateHostValues, a hook's input from the host. The
	// message gives the JSON path of each problem.
	ErrBadInput = errors.New("input does not match the input type")
	// ErrContract: a plugin or a call does not fit the contract the host
	// declared (Options.Hooks, Options.ContractVersion): the plugin
	// implements a hook the host does not have or was built against an
	// incompatible contract version (it is not started), or the host ran
	// a hook it did not declare.
	ErrContract = errors.New("does not fit the host's contract")
	// ErrPlatform: a process plugin's executable was built for another
	// operating system or architecture; it was not started.
	ErrPlatform = errors.New("not built for this platform")
	// ErrUnknownPlugin: no plugin of that name is loaded.
	ErrUnknownPlugin = errors.New("no such plugin")
	// ErrClosed: the host has been closed.
	ErrClosed = errors.New("host closed")
)

// PluginError is an error about one plugin: which plugin, during what, and
// why. Use errors.Is with the sentinel errors to test the cause, and
// errors.As to get the details.
type PluginError struct {
	Plugin string // the plugin's name
	Op     Op     // what the host was doing: OpLoad, OpStart, OpHook, OpCall...
	Name   string // the hook or function, when Op is OpHook, OpCall or OpHostCall
	Err    error
}

func (e *PluginError) Error() string {
	switch {
	case e.Plugin == "" && e.Name != "":
		return fmt.Sprintf("%s %s: %v", e.Op, e.Name, e.Err)
	case e.Name != "":
		return fmt.Sprintf("plugin %s: %s %s: %v", e.Plugin, e.Op, e.Name, e.Err)
	default:
		return fmt.Sprintf("plugin %s: %s: %v", e.Plugin, e.Op, e.Err)
	}
}

func (e *PluginError) Unwrap() error { return e.Err }

// RemoteError is an error the plugin itself returned, with the protocol's
// code: one of package protocol's Code constants (docs/PROTOCOL.md lists
// them), such as protocol.CodeFailed for a handler's own error.
type RemoteError struct {
	Code    int
	Message string
}

func (e *RemoteError) Error() string { return e.Message }

// Is makes errors.Is(err, ErrPluginFailed) true for every remote error,
// and matches ErrNotImplemented, ErrCapabilityDenied and ErrDeadline by
// code.
func (e *RemoteError) Is(target error) bool {
	switch target {
	case ErrPluginFailed:
		return true
	case ErrNotImplemented:
		return e.Code == protocol.CodeNotImplemented
	case ErrCapabilityDenied:
		return e.Code == protocol.CodeDenied
	case ErrDeadline:
		return e.Code == protocol.CodeCancelled
	}
	return false
}

// fromTier turns a tier's error into the host's: a plugin's own error
// becomes a *RemoteError.
func fromTier(err error) error {
	var re *protocol.Error
	if errors.As(err, &re) {
		return &RemoteError{Code: re.Code, Message: re.Message}
	}
	return err
}

// manifestError marks a manifest problem with ErrInvalidManifest while
// keeping the manifest's own message.
func manifestError(err error) error {
	var me *manifest.Error
	if errors.As(err, &me) {
		return fmt.Errorf("%w: %v", ErrInvalidManifest, me)
	}
	return fmt.Errorf("%w: %v", ErrInvalidManifest, err)
}
