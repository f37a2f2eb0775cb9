// Package sdk holds the sources of Airlock's SDKs for languages other than
// Go, embedded in the airlock command so that `airlock new` can copy them
// into a new plugin: no registry that users reach publishes them, and a
// plugin reads nothing outside its own directory, so each plugin carries
// its own copy. The Go SDK is the package sdk/go/plugin, required as a
// module instead.
package sdk

import "embed"

// Files holds the SDK sources, at their paths under sdk/: the Python
// module, the C guest SDK, the native tier's C header and JSON library, the TypeScript package's runtime files and the
// Rust crates' manifests and sources (the process SDK, and the native
// tier's). It holds no tests, build outputs or lock
// files.
//
//go:embed python/airlock_plugin.py
//go:embed c/airlock.c c/airlock.h c/airlock_native.h c/airlock_json.c c/airlock_json.h
//go:embed typescript/index.js typescript/index.d.ts typescript/package.json typescript/README.md
//go:embed rust/Cargo.toml rust/README.md rust/src/*.rs
//go:embed rust-native/Cargo.toml rust-native/README.md rust-native/src/*.rs
var Files embed.FS
