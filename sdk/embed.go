// Package sdk holds the sources of Airlock's SDKs for languages other than
// Go, embedded in the airlock command so that `airlock new` can copy them
// into a new plugin: no registry that users reach publishes them, and a
// plugin reads nothing outside its own directory, so each plugin carries
// its own copy. The Go SDK is the package sdk/go/plugin, required as a
// module instead.
package sdk

import "embed"

// Files holds the SDK sources, at their paths under sdk/: the Python
// module, the C guest SDK, the TypeScript package's runtime files and the
// Rust crate's manifest and sources. It holds no tests, build outputs or lock
// files.
//
//go:embed python/airlock_plugin.py
//go:embed c/airlock.c c/airlock.h
//go:embed typescript/index.js typescript/index.d.ts typescript/package.json typescript/README.md
//go:embed rust/Cargo.toml rust/README.md rust/src/*.rs
var Files embed.FS
