//go:build windows && airlock_wine

package testutil

import _ "unsafe" // for go:linkname

// Wine 8 does not implement FileDispositionInformationEx, which Go's
// os.RemoveAll (and so every t.TempDir cleanup) uses on Windows; Go's own
// fallback for older Windows works. The wine test build
// (.ci/windows-tests: -tags airlock_wine -ldflags=-checklinkname=0) turns
// the fallback on. Never part of a normal build.
//
//go:linkname deleteatFallback internal/syscall/windows.TestDeleteatFallback
var deleteatFallback bool

func init() { deleteatFallback = true }
