//go:build windows && (amd64 || arm64) && !airlock_nonative

package native

import (
	"fmt"

	"github.com/ebitengine/purego"
	"golang.org/x/sys/windows"
)

const supported = true

// dlopen loads the DLL at path; the altered search path finds the DLLs it
// depends on beside it rather than in the host's directory.
func dlopen(path string) (uintptr, error) {
	h, err := windows.LoadLibraryEx(path, 0, windows.LOAD_WITH_ALTERED_SEARCH_PATH)
	if err != nil {
		return 0, fmt.Errorf("LoadLibraryEx: %w", err)
	}
	return uintptr(h), nil
}

func dlsym(lib uintptr, name string) (uintptr, error) {
	return windows.GetProcAddress(windows.Handle(lib), name)
}

// uintptrescapes: the pointers converted to uintptr in a call's arguments
// are moved to the heap and kept alive, so the C code (and the Go callbacks
// it makes, which may grow this goroutine's stack) sees them stay put.
//
//go:uintptrescapes
func ccall(fn uintptr, args ...uintptr) uintptr {
	r, _, _ := purego.SyscallN(fn, args...)
	return r
}

func newCallback(fn any) uintptr { return purego.NewCallback(fn) }
