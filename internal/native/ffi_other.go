//go:build !(((linux && !android) || darwin || windows) && (amd64 || arm64) && !airlock_nonative)

package native

import (
	"errors"
	"runtime"
)

// supported is false: purego is not built in here (Android and other
// systems need cgo for it; the airlock_nonative tag leaves it out so that a
// host stays a static binary).
const supported = false

var errUnsupported = errors.New("the native tier is not available in this build (" + runtime.GOOS + "/" + runtime.GOARCH + ")")

func dlopen(string) (uintptr, error)         { return 0, errUnsupported }
func dlsym(uintptr, string) (uintptr, error) { return 0, errUnsupported }
func ccall(uintptr, ...uintptr) uintptr      { panic(errUnsupported) }
func newCallback(any) uintptr                { panic(errUnsupported) }
