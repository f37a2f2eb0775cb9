//go:build ((linux && !android) || darwin) && (amd64 || arm64) && !airlock_nonative

package native

import (
	"github.com/ebitengine/purego"
)

// supported reports whether this build can load native libraries.
const supported = true

// dlopen loads the library at path. RTLD_LOCAL keeps its symbols from
// satisfying other libraries' (two plugins may define the same names).
func dlopen(path string) (uintptr, error) {
	return purego.Dlopen(path, purego.RTLD_NOW|purego.RTLD_LOCAL)
}

func dlsym(lib uintptr, name string) (uintptr, error) { return purego.Dlsym(lib, name) }

// ccall calls the C function fn and returns its integer result.
//
// uintptrescapes: the pointers converted to uintptr in a call's arguments
// are moved to the heap and kept alive, so the C code (and the Go callbacks
// it makes, which may grow this goroutine's stack) sees them stay put.
//
//go:uintptrescapes
func ccall(fn uintptr, args ...uintptr) uintptr {
	r, _, _ := purego.SyscallN(fn, args...)
	return r
}

// newCallback makes a C function pointer of a Go function. There are at
// most 2000 in a process and they are never freed, so the host makes its
// two once (callbacks.go).
func newCallback(fn any) uintptr { return purego.NewCallback(fn) }
