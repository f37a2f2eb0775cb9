//go:build wasip1

package plugin

// The wasm tier's guest side: the exports and imports of docs/ABI.md,
// built with GOOS=wasip1 GOARCH=wasm -buildmode=c-shared.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
	"unsafe"

	"github.com/airlock-go/airlock/internal/rpc"
	"github.com/airlock-go/airlock/internal/sdkcore"
	"github.com/airlock-go/airlock/protocol"
)

// reactor is the plugin this module serves; a wasm module holds one.
var reactor struct {
	make func() *Plugin
	p    *Plugin
	host *sdkcore.Host
}

// pinned keeps the buffers the host holds a pointer to alive until it
// frees them.
var pinned = map[uintptr][]byte{}

// Reactor makes the plugin that newPlugin returns the one this WebAssembly
// module serves. Call it from an init function; in a wasm build main is
// never run. In other builds it does nothing, so one source file serves
// both tiers:
//
//	func init() { plugin.Reactor(newPlugin) }   // wasm build
//	func main() { newPlugin().Main() }           // process build
func Reactor(newPlugin func() *Plugin) { reactor.make = newPlugin }

// Main reports that a wasm plugin must be built as a reactor.
func (p *Plugin) Main() {
	panic("airlock: build wasm plugins with -buildmode=c-shared and register them with plugin.Reactor")
}

//go:wasmimport airlock host_call
func hostCall(fnPtr, fnLen, inPtr, inLen uint32) uint32

//go:wasmimport airlock host_result
func hostResult(ptr uint32)

func alloc(n int) []byte {
	b := make([]byte, max(n, 1))
	pinned[uintptr(unsafe.Pointer(unsafe.SliceData(b)))] = b
	return b[:n]
}

func ptrOf(b []byte) uint32 {
	if cap(b) == 0 {
		return 0
	}
	return uint32(uintptr(unsafe.Pointer(unsafe.SliceData(b[:1]))))
}

//go:wasmexport airlock_protocol
func airlockProtocol() uint32 { return protocolVersion }

//go:wasmexport airlock_alloc
func airlockAlloc(size uint32) uint32 { return ptrOf(alloc(int(size))) }

//go:wasmexport airlock_free
func airlockFree(ptr, size uint32) { delete(pinned, uintptr(ptr)) }

// input returns the bytes the host placed at ptr, and releases them.
func input(ptr, size uint32) []byte {
	b, ok := pinned[uintptr(ptr)]
	if !ok || int(size) > len(b) {
		return nil
	}
	delete(pinned, uintptr(ptr))
	return b[:size]
}

// output pins an envelope for the host and packs its address and length.
func output(v any, err error) uint64 {
	var env struct {
		Result json.RawMessage `json:"result,omitempty"`
		Error  *protocol.Error `json:"error,omitempty"`
	}
	if err != nil {
		var pe *Error
		switch {
		case errors.As(err, &pe):
			env.Error = &protocol.Error{Code: pe.Code, Message: pe.Message}
		case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
			env.Error = &protocol.Error{Code: CodeCancelled, Message: err.Error()}
		default:
			env.Error = &protocol.Error{Code: CodeFailed, Message: err.Error()}
		}
	} else {
		raw, ok := v.(json.RawMessage)
		if !ok {
			raw, err = rpc.Marshal(v)
			if err != nil {
				return output(nil, err)
			}
		}
		if len(raw) == 0 {
			raw = json.RawMessage("null")
		}
		env.Result = raw
	}
	data, _ := rpc.Marshal(env)
	buf := alloc(len(data))
	copy(buf, data)
	return uint64(ptrOf(buf))<<32 | uint64(len(buf))
}

//go:wasmexport airlock_init
func airlockInit(ptr, size uint32) uint64 {
	var in protocol.InitializeParams
	if err := rpc.Unmarshal(input(ptr, size), &in); err != nil {
		return output(nil, &Error{Code: CodeInvalidInput, Message: "initialize: " + err.Error()})
	}
	if reactor.make == nil {
		return output(nil, errors.New("no plugin registered: call plugin.Reactor in an init function"))
	}
	if !slices.Contains(in.Protocols, protocolVersion) {
		return output(nil, fmt.Errorf("plugin speaks protocol %d, host offers %v", protocolVersion, in.Protocols))
	}
	reactor.p = reactor.make()
	reactor.host = sdkcore.NewHost(importCaller{}, in.Config, in.Grants, in.Functions)
	return output(protocol.InitializeResult{Protocol: protocolVersion, Name: reactor.p.Name(), Version: reactor.p.Version(), Hooks: reactor.p.Names()}, nil)
}

//go:wasmexport airlock_call
func airlockCall(ptr, size uint32) uint64 {
	var in protocol.CallParams
	if err := rpc.Unmarshal(input(ptr, size), &in); err != nil {
		return output(nil, &Error{Code: CodeInvalidInput, Message: "call: " + err.Error()})
	}
	if reactor.p == nil {
		return output(nil, errors.New("call before initialize"))
	}
	ctx := context.Background()
	if in.TimeoutMS > 0 {
		// No timer until the handler waits on it (deadline.go).
		dc, release := withDeadline(ctx, time.Now().Add(time.Duration(in.TimeoutMS)*time.Millisecond))
		defer release()
		ctx = dc
	}
	ctx = withTraceContext(ctx, in.Traceparent, in.Tracestate) // trace.go
	out, err := reactor.p.core().Invoke(ctx, reactor.host, sdkcore.Call{Name: in.Name, Phase: in.Phase, Input: in.Input})
	return output(out, err)
}

// importCaller calls host functions through the airlock import module.
type importCaller struct{}

func (importCaller) CallHost(_ context.Context, fn string, in json.RawMessage) (json.RawMessage, error) {
	name := []byte(fn)
	n := hostCall(ptrOf(name), uint32(len(name)), ptrOf(in), uint32(len(in)))
	buf := make([]byte, n)
	hostResult(ptrOf(buf))
	var env struct {
		Result json.RawMessage `json:"result"`
		Error  *protocol.Error `json:"error"`
	}
	if err := rpc.Unmarshal(buf, &env); err != nil {
		return nil, fmt.Errorf("host call %s: bad answer: %w", fn, err)
	}
	if env.Error != nil {
		return nil, &Error{Code: env.Error.Code, Message: env.Error.Message}
	}
	return env.Result, nil
}
