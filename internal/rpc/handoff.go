package rpc

import (
	"sync/atomic"
	"time"
)

// handoffDelay is how long a request runs on the reading worker before
// another worker takes over reading (between one and two periods).
const handoffDelay = 100 * time.Microsecond

// inlineWatch notices a request that runs too long on the reading worker,
// so that the reader's role passes to another worker (Conn.worker).
//
// Arming a timer for every request and stopping it after cost a plugin
// about a twentieth of its CPU on a small call. Instead the
// timer ticks every handoffDelay while requests run, and a request that
// is still the one running at two ticks in a row has run at least
// handoffDelay: it is handed over. Between requests the timer is left
// unarmed; the next request arms it.
type inlineWatch struct {
	c       *Conn
	timer   *time.Timer
	running atomic.Pointer[atomic.Bool] // the running request's hand-over flag; nil between requests
	seq     atomic.Uint64               // requests started
	armed   atomic.Bool
	seen    uint64 // seq at the last tick; used by tick only
}

func newInlineWatch(c *Conn) *inlineWatch {
	w := &inlineWatch{c: c}
	w.timer = time.AfterFunc(time.Hour, w.tick)
	w.timer.Stop()
	return w
}

// start records that the worker runs a request, whose hand-over flag is
// handed.
func (w *inlineWatch) start(handed *atomic.Bool) {
	w.running.Store(handed)
	w.seq.Add(1)
	if !w.armed.Load() && w.armed.CompareAndSwap(false, true) {
		w.timer.Reset(handoffDelay)
	}
}

// end records that the request has returned.
func (w *inlineWatch) end() { w.running.Store(nil) }

// stop releases the timer.
func (w *inlineWatch) stop() { w.timer.Stop() }

func (w *inlineWatch) tick() {
	h, seq := w.running.Load(), w.seq.Load()
	if h != nil && seq == w.seen {
		w.c.handOffOnce(h) // the same request as at the last tick
		h = nil            // the worker reads no more: nothing to watch
	}
	w.seen = seq
	if h != nil {
		w.timer.Reset(handoffDelay)
		return
	}
	w.armed.Store(false)
	// A request that started meanwhile saw the timer armed and did not
	// arm it: arm it for it.
	if w.running.Load() != nil && w.armed.CompareAndSwap(false, true) {
		w.timer.Reset(handoffDelay)
	}
}
