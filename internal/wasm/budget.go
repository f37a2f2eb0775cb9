package wasm

import (
	"sync"

	"github.com/tetratelabs/wazero/experimental"
)

// pageSize is a wasm page: linear memory grows by whole pages.
const pageSize = 65536

// budget is the memory one plugin may hold: the linear memories, tables,
// runtime records and call stacks of all its instances together, busy or
// idle, never exceed limit bytes (all but the memory are charged in full
// when an instance is made: instanceBytes).
//
// Threat: a plugin multiplying its memory cap by its instances (up to
// maxInstances of them, each growing to the cap, and idle ones keeping
// theirs). wazero's per-instance limit (WithMemoryLimitPages) bounds one
// instance; this bounds their sum. Every byte an instance's memory
// allocates is charged here first, through the allocator that
// experimental.WithMemoryAllocator hands wazero: memory.grow past the
// budget fails (the guest sees -1), and a new instance is only created
// once its initial memory has been reserved.
//
// What is charged is the capacity of each instance's buffer, which is
// what the host allocates. While a buffer is moved to a larger one the
// old one stays allocated until Go's garbage collector frees it.
type budget struct {
	mu    sync.Mutex
	limit int64
	used  int64
	// evict closes idle instances to free memory for a busy one; it
	// must not be called with mu held (closing frees memory here).
	evict func()
}

// reserve charges n bytes if they fit.
func (b *budget) reserve(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if n < 0 || b.used+n > b.limit {
		return false
	}
	b.used += n
	return true
}

// reserveUpTo charges at least need and at most want bytes, as many as
// fit, and returns how many it charged (0 if need does not fit).
func (b *budget) reserveUpTo(need, want int64) int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	room := b.limit - b.used
	if need > room {
		return 0
	}
	n := min(max(want, need), room)
	b.used += n
	return n
}

// release returns n bytes to the budget.
func (b *budget) release(n int64) {
	b.mu.Lock()
	b.used -= n
	b.mu.Unlock()
}

// inUse returns the bytes charged now.
func (b *budget) inUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// memory returns the allocator for one new instance, holding reserved
// bytes already charged for the instance's initial memory (so that
// wazero's first allocation, which it cannot let fail, always fits), and
// fixed bytes charged for its tables and call stack, returned with the
// memory's.
func (b *budget) memory(reserved, fixed int64) *linearMemory {
	return &linearMemory{b: b, charged: reserved, fixed: fixed}
}

// linearMemory backs one instance's linear memory with a buffer charged
// to the plugin's budget. It is both the experimental.MemoryAllocator
// handed to one instantiation and the experimental.LinearMemory that
// allocator returns: a module has at most one memory.
type linearMemory struct {
	b *budget

	mu      sync.Mutex
	buf     []byte
	charged int64 // bytes charged to b: cap(buf), or the reservation before the first allocation
	fixed   int64 // bytes charged to b for the instance's tables and call stack
	max     uint64
	freed   bool
}

// Allocate implements experimental.MemoryAllocator.
func (m *linearMemory) Allocate(_, max uint64) experimental.LinearMemory {
	m.mu.Lock()
	m.max = max
	m.mu.Unlock()
	return m
}

// Reallocate implements experimental.LinearMemory: it returns a buffer of
// size bytes with the old contents, or nil (memory.grow fails) if the
// plugin's budget cannot hold it even after closing idle instances.
func (m *linearMemory) Reallocate(size uint64) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.freed || size > m.max {
		return nil
	}
	if size <= uint64(cap(m.buf)) {
		m.buf = m.buf[:size]
		return m.buf
	}
	if size > uint64(m.charged) && !m.charge(int64(size)) {
		return nil
	}
	buf := make([]byte, size, m.charged)
	copy(buf, m.buf)
	m.buf = buf
	return m.buf
}

// charge raises the bytes charged to hold at least size, with room to
// grow a quarter more when the budget has it (so that a guest growing a
// page at a time is not copied at every page). m.mu is held.
func (m *linearMemory) charge(size int64) bool {
	need := size - m.charged
	want := min(roundPages(size+size/4), int64(m.max)) - m.charged
	got := m.b.reserveUpTo(need, want)
	if got == 0 && m.b.evict != nil {
		m.b.evict()
		got = m.b.reserveUpTo(need, want)
	}
	if got == 0 {
		return false
	}
	m.charged += got
	return true
}

// Free implements experimental.LinearMemory: it returns the memory's
// bytes to the budget. It may be called more than once (wazero calls it
// when the module closes, and the pool when it discards the instance,
// including instances whose instantiation failed before wazero could).
func (m *linearMemory) Free() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.freed {
		return
	}
	m.freed = true
	m.b.release(m.charged + m.fixed)
	m.charged, m.fixed = 0, 0
	m.buf = nil
}

func roundPages(n int64) int64 {
	return (n + pageSize - 1) / pageSize * pageSize
}

// stackReserve is what an instance's call stack is charged to a plugin
// whose budget is limit bytes: a 64th of it, at least 128 KiB and at
// most 32 MiB. The guest may use half of it (wazero doubles a stack to
// grow it): 8 MiB under the default cap of 1 GiB. Threat: wazero lets a
// call's stack grow to about 100 MB outside any cap (instrument's
// StackExport).
func stackReserve(limit int64) int64 {
	return min(max(limit/64, 128<<10), 32<<20)
}

// instanceBytes is what one instance is charged when it is made: its
// initial memory, its tables at their maximum, wazero's records of its
// globals, imports and segments, and its call stack.
func (p *plugin) instanceBytes() int64 {
	return p.initialMemory + p.tableBytes + p.recordBytes + p.stackBytes
}
