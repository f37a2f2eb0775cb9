//go:build !unix

package bundle

// checkChain has no Unix owners and modes to check here: on Windows access
// is governed by ACLs, and the default run directory (under
// %LOCALAPPDATA%) is the user's own.
func checkChain(string) error { return nil }
