package native

import (
	"context"
	"encoding/json"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/airlock-go/airlock/sdk/go/plugin"
)

// The host table and its two callbacks are one per process, not per
// plugin: a purego callback can never be freed (at most 2000 exist in a
// process), and a library keeps the table for its whole life. What differs
// between plugins and calls travels in the call's ctx, a number the host
// looks up in liveCalls; it is never a Go pointer, so a library cannot
// forge one into the host's memory.
var (
	tableOnce sync.Once
	table     *hostV1 // package-level, so it neither moves nor is collected
	liveCalls = registry{calls: map[uintptr]*callState{}}
)

// hostTable returns the process's host table, making it on first use.
func hostTable() *hostV1 {
	tableOnce.Do(func() {
		table = &hostV1{
			apiVersion: APIVersion,
			size:       uint32(unsafe.Sizeof(hostV1{})),
			hostCall:   newCallback(hostCall),
			free:       newCallback(hostFree),
			callSize:   uint32(unsafe.Sizeof(callV1{})),
		}
	})
	return table
}

// callState is one call in flight into a library: what a host_call made
// with its ctx may reach.
type callState struct {
	ctx  context.Context
	host *plugin.Host

	mu   sync.Mutex
	bufs map[*byte]*runtime.Pinner // host_call results the library holds
}

// registry maps the ctx numbers of calls in flight to their state.
type registry struct {
	next  atomic.Uintptr
	mu    sync.Mutex
	calls map[uintptr]*callState
}

func (r *registry) add(st *callState) uintptr {
	id := r.next.Add(1)
	r.mu.Lock()
	r.calls[id] = st
	r.mu.Unlock()
	return id
}

func (r *registry) get(id uintptr) *callState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls[id]
}

// remove ends a call: its ctx stops working and every result the host
// gave it is released. Threat: a library keeping a ctx (or a thread) to
// call the host after its call returned, outside the call's deadline.
func (r *registry) remove(id uintptr) {
	r.mu.Lock()
	st := r.calls[id]
	delete(r.calls, id)
	r.mu.Unlock()
	if st == nil {
		return
	}
	st.mu.Lock()
	for _, p := range st.bufs {
		p.Unpin()
	}
	st.bufs = nil
	st.mu.Unlock()
}

// hostCall is the table's host_call. It runs on the thread of the
// library's call, inside that call's goroutine.
func hostCall(ctx uintptr, fn *byte, in *byte, inLen uintptr, out **byte, outLen *uintptr) (rc uintptr) {
	if out == nil || outLen == nil {
		return status(plugin.CodeInvalidInput) // nowhere to put the answer
	}
	*out, *outLen = nil, 0
	// A panic must not unwind into the library's C frames, which would
	// kill the host: it becomes the host call's error.
	defer func() {
		if r := recover(); r != nil {
			rc = status(plugin.CodeFailed)
		}
	}()
	st := liveCalls.get(ctx)
	if st == nil {
		return status(statusNoCall)
	}
	var input json.RawMessage
	if inLen > 0 && in != nil {
		input = json.RawMessage(unsafe.Slice(in, inLen))
	}
	var res json.RawMessage
	// Host.Call copies and checks the input (it must be JSON) before it
	// reaches the host, which checks the plugin's grants.
	err := st.host.Call(st.ctx, goString(fn), input, &res)
	code := int32(statusOK)
	if err != nil {
		code = plugin.CodeFailed
		var pe *plugin.Error
		switch {
		case errors.As(err, &pe):
			code = int32(pe.Code)
		case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
			code = plugin.CodeCancelled
		}
		res = json.RawMessage(err.Error())
	}
	*out, *outLen = st.give(res)
	return status(code)
}

// give pins a copy of b for the library, until it frees it or its call
// returns.
func (st *callState) give(b []byte) (*byte, uintptr) {
	if len(b) == 0 {
		return nil, 0
	}
	buf := make([]byte, len(b))
	copy(buf, b)
	p := &runtime.Pinner{}
	p.Pin(&buf[0])
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.bufs == nil {
		st.bufs = map[*byte]*runtime.Pinner{}
	}
	st.bufs[&buf[0]] = p
	return &buf[0], uintptr(len(buf))
}

// hostFree is the table's free: it releases one host_call result early.
// A pointer the host did not give this call is ignored.
func hostFree(ctx uintptr, ptr *byte) uintptr {
	st := liveCalls.get(ctx)
	if st == nil || ptr == nil {
		return 0
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if p, ok := st.bufs[ptr]; ok {
		p.Unpin()
		delete(st.bufs, ptr)
	}
	return 0
}

// status returns a status code as a callback's result: C reads the low 32
// bits as an int32_t (Windows callbacks must return a whole register).
func status(code int32) uintptr { return uintptr(uint32(code)) }
