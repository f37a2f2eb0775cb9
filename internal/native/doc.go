// Package native is the native tier: a C-ABI shared library (.so, .dylib,
// .dll) loaded without cgo, through github.com/ebitengine/purego, and
// spoken to through the small ABI of sdk/c/airlock_native.h
// (docs/NATIVE.md).
//
// A library runs in one of two ways, chosen by the operator:
//
//   - in-process (the default): loaded into the host. It has full trust:
//     it can read and write the host's memory, and a crash in it is the
//     host's crash. Grants are still checked on every host call.
//   - process: loaded by a copy of the host started through the process
//     tier (and so confined by its sandbox), which serves the library over
//     the protocol on its standard input and output. A crash costs one
//     call an error; the plugin is restarted like any process plugin.
//
// Either way the library is wrapped as a *plugin.Plugin of the Go SDK, so
// the same handlers, host calls and settings serve both. A library is
// never unloaded (docs/NATIVE.md, "Never unloaded").
package native
