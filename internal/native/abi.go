package native

import (
	"unsafe"
)

// APIVersion is the version of the C ABI this host speaks
// (AIRLOCK_NATIVE_API_VERSION in sdk/c/airlock_native.h).
const APIVersion = 1

// The library's exports.
const (
	symVersion = "airlock_native_api_version"
	symInit    = "airlock_native_init"
)

// Status codes of the ABI besides the protocol's error codes.
const (
	statusOK              = 0
	statusNoCall          = -32600 // host_call outside a live call
	statusVersionMismatch = 1      // airlock_native_init refused the host's version
)

// callV1 mirrors airlock_call_v1. The host owns every buffer it points
// at, pinned for the length of the call.
type callV1 struct {
	name      *byte
	nameLen   uintptr
	phase     *byte
	phaseLen  uintptr
	input     *byte
	inputLen  uintptr
	config    *byte
	configLen uintptr
	ctx       uintptr
	// Appended to version 1 (hostV1.callSize tells a library they are
	// there): the call's W3C trace context, "" when it is not traced.
	traceparent    *byte
	traceparentLen uintptr
	tracestate     *byte
	tracestateLen  uintptr
}

// hostV1 mirrors airlock_host_v1.
type hostV1 struct {
	apiVersion uint32
	size       uint32
	hostCall   uintptr
	free       uintptr
	// Appended to version 1: the size of callV1 as this host fills it in.
	// A library reads it only if size covers it, and a call's fields past
	// ctx only if callSize covers them: older hosts have neither.
	callSize uint32
}

// pluginV1 mirrors airlock_plugin_v1; the library fills it in.
type pluginV1 struct {
	apiVersion uint32
	size       uint32
	name       *byte
	version    *byte
	hooks      *byte
	call       uintptr
	free       uintptr
}

// maxCString bounds the strings read from a library's table.
const maxCString = 64 << 10

// goString copies the NUL-terminated string at p, up to maxCString bytes.
func goString(p *byte) string {
	if p == nil {
		return ""
	}
	n := 0
	for n < maxCString && *(*byte)(unsafe.Add(unsafe.Pointer(p), n)) != 0 {
		n++
	}
	return string(unsafe.Slice(p, n))
}

// cBytes returns b with a NUL after it, so C may read it as a string too.
func cBytes(s string) []byte {
	b := make([]byte, len(s)+1)
	copy(b, s)
	return b
}
