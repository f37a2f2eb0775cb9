//go:build !unix

package privdir

import "os"

// checkOwner cannot check ownership portably here.
func checkOwner(os.FileInfo) error { return nil }

// checkMode has no Unix modes to check here: on Windows access is governed
// by ACLs, and the default locations (under %LOCALAPPDATA%) are the user's
// own.
func checkMode(os.FileInfo) error { return nil }
