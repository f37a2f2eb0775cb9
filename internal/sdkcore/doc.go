// Package sdkcore is the core of the Go SDK (sdk/go/plugin): a plugin's
// handlers and how one is invoked, and the Host a handler sees. It is
// internal so that what only the SDK's transports and the host's
// in-process tiers use (NewHost, Caller, Plugin.Invoke, Call) is not part
// of the SDK's public API.
//
// The public package defines its Plugin and Host over this package's
// types (type Plugin sdkcore.Plugin), so that a *plugin.Plugin converts to
// a *sdkcore.Plugin without a copy: the builtin and native tiers
// (internal/inproc) take the plugin an author built and run it with
// Invoke. Error is shared by alias, so errors.As with a *plugin.Error
// matches what this package returns.
package sdkcore
