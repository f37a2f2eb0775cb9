package wasm

import (
	"context"
	"encoding/binary"
	"errors"
	"math"
	"time"

	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"
)

// WASI preview 1 values poll_oneoff uses.
const (
	errnoSuccess = 0
	errnoBadf    = 8
	errnoFault   = 21
	errnoInval   = 28
	errnoNotsup  = 58

	eventClock   = 0
	eventFdRead  = 1
	eventFdWrite = 2

	clockRealtime  = 0
	clockMonotonic = 1
	clockThreadCPU = 3 // the last clock id

	subclockAbstime = 1

	subscriptionSize = 48
	eventSize        = 32
)

// monoEpoch is the origin of the guests' monotonic clock.
var monoEpoch = time.Now()

// monotonic is the guests' monotonic clock (clock_time_get with
// CLOCK_MONOTONIC), in nanoseconds since monoEpoch.
func monotonic() int64 { return int64(time.Since(monoEpoch)) }

// subscription is one parsed poll_oneoff subscription.
type subscription struct {
	userdata uint64
	kind     byte
	fd       uint32
	after    time.Duration // clock: when it fires, from the start of the poll
	errno    uint16        // fd: the event's error
}

// pollOneoff is WASI's poll_oneoff: it waits until at least one of the
// subscriptions has an event and writes those events out, or returns as
// soon as the guest's call (or start) ends: then the guest is stopped at
// once with the exit code of its context (threat: a guest asleep in WASI
// outliving its deadline). Parameters: in (subscriptions, 48 bytes
// each), out (events, 32 bytes each), nsubscriptions, result.nevents.
//
// Clock subscriptions: relative, or absolute (subclock_abstime) on the
// realtime and monotonic clocks; the CPU-time clocks only relative.
// Descriptor subscriptions are ready at once, as wazero treats them: a
// read on an open descriptor with no error (standard input is always
// empty here), a write on an open one with ENOTSUP, either on a closed
// one with EBADF. So the poll waits only when every subscription is a
// clock, and returns the clock events that are due when it returns.
// Malformed input fails the call with an errno, as in wazero: EINVAL for
// no subscriptions, an unknown type, clock or flag; EBADF for a negative
// descriptor; EFAULT for buffers outside memory.
func (p *plugin) pollOneoff(ctx context.Context, mod api.Module, stack []uint64) {
	in, out, n, nevents := uint32(stack[0]), uint32(stack[1]), uint32(stack[2]), uint32(stack[3])
	stack[0] = uint64(p.poll(ctx, mod, in, out, n, nevents))
}

// maxSubscriptions bounds the subscriptions of one poll_oneoff: the host
// holds 32 bytes for each while it polls (threat: a guest handing it
// millions, as many as its memory holds, to make the host allocate two
// thirds of the guest's memory again, outside the cap, in every
// instance at once). WASI programs poll a few.
const maxSubscriptions = 1 << 16

func (p *plugin) poll(ctx context.Context, mod api.Module, in, out, n, nevents uint32) uint32 {
	if n == 0 || n > maxSubscriptions {
		return errnoInval
	}
	mem := mod.Memory()
	if uint64(n)*subscriptionSize > math.MaxUint32 {
		return errnoFault
	}
	raw, ok := mem.Read(in, n*subscriptionSize)
	if !ok {
		return errnoFault
	}
	if _, ok := mem.Read(out, n*eventSize); !ok {
		return errnoFault
	}
	start := time.Now()
	subs := make([]subscription, n)
	for i := range subs {
		var errno uint32
		if subs[i], errno = parseSubscription(raw[i*subscriptionSize:(i+1)*subscriptionSize], start); errno != 0 {
			return errno
		}
	}
	// Only now is out written to (it may overlap in).
	ready := false
	for i := range subs {
		if subs[i].kind != eventClock {
			subs[i].errno = fdReadiness(ctx, mod, subs[i], out)
			ready = true
		}
	}
	if !ready {
		p.sleep(ctx, earliest(subs))
	}
	return writeEvents(mem, subs, out, nevents, time.Since(start), ready)
}

// parseSubscription reads one subscription (WASI's subscription struct).
func parseSubscription(b []byte, start time.Time) (subscription, uint32) {
	le := binary.LittleEndian
	s := subscription{userdata: le.Uint64(b[0:]), kind: b[8]}
	switch s.kind {
	case eventClock:
		id, timeout, flags := le.Uint32(b[16:]), le.Uint64(b[24:]), le.Uint16(b[40:])
		var errno uint32
		s.after, errno = clockWait(id, timeout, flags, start)
		return s, errno
	case eventFdRead, eventFdWrite:
		s.fd = le.Uint32(b[16:])
		if int32(s.fd) < 0 {
			return s, errnoBadf
		}
		return s, 0
	}
	return s, errnoInval
}

// clockWait turns a clock subscription into a wait from start.
func clockWait(id uint32, timeout uint64, flags uint16, start time.Time) (time.Duration, uint32) {
	ns := time.Duration(min(timeout, math.MaxInt64))
	switch {
	case id > clockThreadCPU || flags&^subclockAbstime != 0:
		return 0, errnoInval
	case flags == 0:
		return ns, 0
	case id == clockRealtime:
		return time.Unix(0, int64(ns)).Sub(start), 0
	case id == clockMonotonic:
		return ns - start.Sub(monoEpoch), 0
	}
	return 0, errnoNotsup // an absolute time on a CPU-time clock
}

// fdReadiness is the error of a descriptor subscription's event, which
// is always ready: EBADF if the descriptor is not open (asked of wazero's
// fd_fdstat_get, which writes 24 bytes to out as scratch), ENOTSUP for a
// write, none for a read.
func fdReadiness(ctx context.Context, mod api.Module, s subscription, out uint32) uint16 {
	fdstat, err := wazeroFdstat()
	if err != nil {
		return errnoNotsup
	}
	stack := []uint64{uint64(s.fd), uint64(out)}
	fdstat.Call(ctx, mod, stack)
	switch {
	case stack[0] == errnoBadf:
		return errnoBadf
	case s.kind == eventFdWrite:
		return errnoNotsup
	}
	return errnoSuccess
}

// earliest is the wait of the first clock subscription to fire.
func earliest(subs []subscription) time.Duration {
	first := time.Duration(math.MaxInt64)
	for _, s := range subs {
		first = min(first, s.after)
	}
	return first
}

// sleep waits for d, or stops the guest as soon as its call's context
// ends or the plugin stops. Threat: wazero's poll_oneoff slept without
// looking at either.
func (p *plugin) sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		code := sys.ExitCodeContextCanceled
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			code = sys.ExitCodeDeadlineExceeded
		}
		// As proc_exit does: the exit error unwinds the guest, and the
		// call returns it.
		panic(sys.NewExitError(code))
	case <-p.done:
		panic(sys.NewExitError(sys.ExitCodeContextCanceled))
	}
}

// writeEvents writes the events that occurred (WASI's event struct): the
// descriptor events, and the clock events due after elapsed (or, when
// the poll slept, at least the earliest, whatever the clocks say now).
func writeEvents(mem api.Memory, subs []subscription, out, nevents uint32, elapsed time.Duration, ready bool) uint32 {
	buf, _ := mem.Read(out, uint32(len(subs))*eventSize)
	clear(buf)
	first := earliest(subs)
	n := 0
	for _, s := range subs {
		if s.kind == eventClock && s.after > elapsed && (ready || s.after != first) {
			continue
		}
		e := buf[n*eventSize : (n+1)*eventSize]
		binary.LittleEndian.PutUint64(e[0:], s.userdata)
		binary.LittleEndian.PutUint16(e[8:], s.errno)
		e[10] = s.kind
		n++
	}
	if !mem.WriteUint32Le(nevents, uint32(n)) {
		return errnoFault
	}
	return errnoSuccess
}
