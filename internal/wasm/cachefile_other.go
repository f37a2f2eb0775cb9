//go:build !unix

package wasm

import "os"

// private cannot check ownership or modes here: on Windows access is
// governed by ACLs, and the default cache (under %LOCALAPPDATA%) is the
// user's own.
func private(os.FileInfo) error { return nil }

// ownedByHost cannot check ownership here.
func ownedByHost(os.FileInfo) bool { return true }

// fileID identifies nothing here: every entry's MAC is checked on every
// sweep.
func fileID(os.FileInfo) string { return "" }
