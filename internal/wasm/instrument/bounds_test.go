package instrument

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero/api"
)

// tableModule is a module with one funcref table of the given limits
// (no maximum when max is negative) exporting g(n), which grows it by n
// entries and returns table.grow's result.
func tableModule(min, max int) []byte {
	limits := appendUleb([]byte{0}, uint64(min))
	if max >= 0 {
		limits = appendUleb(appendUleb([]byte{1}, uint64(min)), uint64(max))
	}
	return wasmOf(
		sec(secType, vec([]byte{0x60, 1, 0x7f, 1, 0x7f})), // (i32) -> i32
		sec(secFunction, vec([]byte{0})),
		sec(secTable, vec(append([]byte{0x70}, limits...))),
		sec(secExport, vec(append(appendName(nil, "g"), 0x00, 0x00))),
		sec(secCode, vec(fbody([]byte{0}, 0xd0, 0x70, 0x20, 0, 0xfc, 0x0f, 0, 0x0b))), // ref.null func; local.get 0; table.grow 0
	)
}

// A table without a maximum cannot grow once rewritten (its maximum is
// its minimum); a declared maximum is kept; TableBytes charges each
// table at its maximum. Without the rewriting, the first case grows by
// 2^24 entries, 128 MiB of the host's memory from one instruction.
func TestTablesCannotGrowPastTheirMaximum(t *testing.T) {
	const failed = 0xffffffff // table.grow's -1
	cases := []struct {
		name       string
		min, max   int
		grow       uint64
		want       uint64
		tableBytes int64
	}{
		{"no maximum: cannot grow", 1, -1, 1 << 24, failed, 8},
		{"no maximum, by one", 3, -1, 1, failed, 24},
		{"maximum kept: grows within it", 1, 100, 50, 1, 800},
		{"maximum kept: not past it", 1, 100, 100, failed, 800},
	}
	ctx := context.Background()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wasm := tableModule(c.min, c.max)
			orig := newHost(t, 0).instantiate(t, wasm)
			if c.max < 0 {
				// The original grows: the test shows what the rewriting stops.
				res, err := orig.ExportedFunction("g").Call(ctx, 1)
				if err != nil || uint32(res[0]) != uint32(c.min) {
					t.Fatalf("original: table.grow(1) = %v, %v; want %d", res, err, c.min)
				}
			}
			mod := newHost(t, 0).instantiate(t, mustInstrument(t, wasm))
			res, err := mod.ExportedFunction("g").Call(ctx, c.grow)
			if err != nil {
				t.Fatal(err)
			}
			if uint32(res[0]) != uint32(c.want) {
				t.Errorf("table.grow(%d) = %d, want %d", c.grow, int32(res[0]), int32(c.want))
			}
			n, err := TableBytes(wasm)
			if err != nil || n != c.tableBytes {
				t.Errorf("TableBytes = %d, %v; want %d", n, err, c.tableBytes)
			}
		})
	}
}

// localsModule is a module of funcs functions that each declare locals
// i64 locals and do nothing.
func localsModule(funcs, locals int) []byte {
	return nFuncs(funcs, append(appendUleb([]byte{1}, uint64(locals)), 0x7e), 0x0b)
}

// nFuncs is a module of n functions () -> () of the same body.
func nFuncs(n int, locals []byte, instrs ...byte) []byte {
	types, bodies := make([][]byte, n), make([][]byte, n)
	for i := range n {
		types[i], bodies[i] = []byte{0}, fbody(locals, instrs...)
	}
	return wasmOf(sec(secType, vec([]byte{0x60, 0, 0})), sec(secFunction, vec(types...)), sec(secCode, vec(bodies...)))
}

// A module declaring far more locals than its code could use is refused:
// 50 functions of a million locals each, 428 bytes, took wazero 416 MiB
// of the host's memory to compile. What compilers emit passes.
func TestTooManyLocalsRefused(t *testing.T) {
	cases := []struct {
		name          string
		funcs, locals int
		refused       bool
	}{
		{"a million locals in each of 50 functions", 50, 1 << 20, true},
		{"two functions that together pass the bound", 2, 40000, true},
		{"65,536 locals in a small module", 1, 65000, false},
		{"a few locals in many functions", 1000, 40, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Module(localsModule(c.funcs, c.locals))
			if c.refused != errors.Is(err, ErrTooManyLocals) {
				t.Errorf("err = %v; want refused: %v", err, c.refused)
			}
			if !c.refused && err != nil {
				t.Error(err)
			}
		})
	}
	// The test guests, of every compiler here, pass.
	if _, err := Module(workModule(t)); err != nil {
		t.Error(err)
	}
}

// branchyModule is a module of funcs functions, each of n empty blocks
// one after another, or of n ifs where ifs is set.
func branchyModule(funcs, n int, ifs bool) []byte {
	var code []byte
	for range n {
		if ifs {
			code = append(code, 0x41, 0, 0x04, 0x40, 0x0b) // i32.const 0; if; end
		} else {
			code = append(code, 0x02, 0x40, 0x0b) // block; end
		}
	}
	return nFuncs(funcs, []byte{0}, append(code, 0x0b)...)
}

// A module whose functions have more blocks and branches than its size
// allows is refused: wazero's compile time grows with the square of a
// function's blocks (100,000 blocks, 292 KB, took it 30 s). What
// compilers emit passes.
func TestTooComplexRefused(t *testing.T) {
	cases := []struct {
		name        string
		funcs, n    int
		ifs, refuse bool
	}{
		{"100,000 blocks in one function", 1, 100000, false, true},
		{"20,000 ifs in one function", 1, 20000, true, true},
		{"8,000 blocks in one function", 1, 8000, false, false},
		{"4,000 ifs in each of four functions", 4, 4000, true, true},
		{"1,000 blocks in each of 200 functions", 200, 1000, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Module(branchyModule(c.funcs, c.n, c.ifs))
			if c.refuse != errors.Is(err, ErrTooComplex) || !c.refuse && err != nil {
				t.Errorf("err = %v; want refused: %v", err, c.refuse)
			}
		})
	}
}

// recursiveModule exports f(n) = n == 0 ? 0 : f(n-1) + 1, with 12 i64
// locals of its own.
func recursiveModule() []byte {
	return wasmOf(
		sec(secType, vec([]byte{0x60, 1, 0x7f, 1, 0x7f})),
		sec(secFunction, vec([]byte{0})),
		sec(secExport, vec(append(appendName(nil, "f"), 0x00, 0x00))),
		sec(secCode, vec(fbody([]byte{1, 12, 0x7e},
			0x20, 0, 0x45, 0x04, 0x40, 0x41, 0, 0x0f, 0x0b, // if n == 0: return 0
			0x20, 0, 0x41, 1, 0x6b, 0x10, 0, 0x41, 1, 0x6a, // f(n-1) + 1
			0x0b))),
	)
}

// A function with a frame takes it from the stack level it finds at its
// entry, and stores its own level back before each call, so that the
// calls it makes one after another each start from it: g(n) calls f(n),
// n+1 frames deep, a thousand times, within exactly g's frame and those
// n+1 frames; one unit less traps, and the stack left then reads below
// zero. (With the stores left out, the second call would start from the
// first's deepest level and trap.)
func TestCallsDrawOnTheStackLevel(t *testing.T) {
	ctx := context.Background()
	mod := newHost(t, 1<<16).instantiate(t, mustInstrument(t, repeatModule()))
	left, ok := mod.ExportedGlobal(StackExport).(api.MutableGlobal)
	if !ok {
		t.Fatalf("no mutable global exported as %s", StackExport)
	}
	f, g := FrameUnits(1+12), FrameUnits(1+2)
	for _, n := range []uint64{0, 10, 100} {
		need := uint64(g) + (n+1)*uint64(f)
		left.Set(need)
		res, err := mod.ExportedFunction("g").Call(ctx, n)
		if err != nil || res[0] != 1000*n {
			t.Fatalf("g(%d) with %d units = %v, %v; want %d", n, need, res, err, 1000*n)
		}
		left.Set(need - 1)
		if _, err := mod.ExportedFunction("g").Call(ctx, n); err == nil || !strings.Contains(err.Error(), "unreachable") {
			t.Fatalf("g(%d) with %d units, one short: err = %v, want the trap", n, need-1, err)
		}
		if got := int32(left.Get()); got >= 0 {
			t.Errorf("after the trap the stack left is %d, want it below zero", got)
		}
	}
}

// The start function is the host's to call, after it has set the stack's
// level, and it draws on that level like any entry: the rewritten
// module has no start section (wazero would run it at instantiation,
// from the global's initial level, before the host could set it).
func TestStartFunctionDrawsOnTheLevelTheHostSets(t *testing.T) {
	ctx := context.Background()
	mod := newHost(t, 1<<16).instantiate(t, mustInstrument(t, startCallModule()))
	done := mod.ExportedGlobal("done")
	if got := done.Get(); got != 0 {
		t.Fatalf("the start function ran at instantiation (done = %d)", got)
	}
	left, ok := mod.ExportedGlobal(StackExport).(api.MutableGlobal)
	start := mod.ExportedFunction(StartExport)
	if !ok || start == nil {
		t.Fatalf("the rewritten module exports no %s or %s", StackExport, StartExport)
	}
	// The start function's frame, and f's 51 times.
	need := uint64(FrameUnits(0) + 51*FrameUnits(1+12))
	left.Set(need - 1)
	if _, err := start.Call(ctx); err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("start with %d units, one short: err = %v, want the trap", need-1, err)
	}
	left.Set(need)
	if _, err := start.Call(ctx); err != nil || done.Get() != 50 {
		t.Fatalf("start with %d units: %v, done = %d; want 50", need, err, done.Get())
	}
}

// startCallModule's start function sets the global it exports as "done"
// to f(50), repeatModule's f.
func startCallModule() []byte {
	f := fbody([]byte{1, 12, 0x7e},
		0x20, 0, 0x45, 0x04, 0x40, 0x41, 0, 0x0f, 0x0b, // if n == 0: return 0
		0x20, 0, 0x41, 1, 0x6b, 0x10, 0, 0x41, 1, 0x6a, // f(n-1) + 1
		0x0b)
	start := fbody([]byte{0}, 0x41, 50, 0x10, 0, 0x24, 0, 0x0b) // done = f(50)
	return wasmOf(
		sec(secType, vec([]byte{0x60, 1, 0x7f, 1, 0x7f}, []byte{0x60, 0, 0})),
		sec(secFunction, vec([]byte{0}, []byte{1})),
		sec(secGlobal, vec([]byte{0x7f, 1, 0x41, 0, 0x0b})),
		sec(secExport, vec(append(appendName(nil, "done"), 0x03, 0x00))),
		sec(secStart, []byte{1}),
		sec(secCode, vec(f, start)),
	)
}

// repeatModule exports f(n) = n == 0 ? 0 : f(n-1) + 1, with 12 i64 locals
// of its own, and g(n), which adds f(n) up a thousand times.
func repeatModule() []byte {
	f := fbody([]byte{1, 12, 0x7e},
		0x20, 0, 0x45, 0x04, 0x40, 0x41, 0, 0x0f, 0x0b, // if n == 0: return 0
		0x20, 0, 0x41, 1, 0x6b, 0x10, 0, 0x41, 1, 0x6a, // f(n-1) + 1
		0x0b)
	g := fbody([]byte{1, 2, 0x7f}, // locals 1 and 2: the count and the sum
		0x03, 0x40, // loop
		0x20, 2, 0x20, 0, 0x10, 0, 0x6a, 0x21, 2, // sum += f(n)
		0x20, 1, 0x41, 1, 0x6a, 0x22, 1, // count++
		0x41, 0xe8, 0x07, 0x49, 0x0d, 0, // br_if loop (count < 1000)
		0x0b, 0x20, 2, 0x0b) // end; sum
	return wasmOf(
		sec(secType, vec([]byte{0x60, 1, 0x7f, 1, 0x7f})),
		sec(secFunction, vec([]byte{0}, []byte{0})),
		sec(secExport, vec(append(appendName(nil, "f"), 0x00, 0x00), append(appendName(nil, "g"), 0x00, 0x01))),
		sec(secCode, vec(f, g)),
	)
}

// A br_table's targets count as branches: one of a million targets, 1 MB,
// would take wazero minutes to compile.
func TestBranchTableTargetsCount(t *testing.T) {
	for _, c := range []struct {
		targets int
		refused bool
	}{{1 << 20, true}, {1000, false}} {
		code := appendUleb([]byte{0x02, 0x40, 0x41, 0, 0x0e}, uint64(c.targets)) // block; i32.const 0; br_table
		code = append(code, make([]byte, c.targets+1)...)                        // every target, and the default: label 0
		_, err := Module(nFuncs(1, []byte{0}, append(code, 0x0b, 0x0b)...))
		if c.refused != errors.Is(err, ErrTooComplex) || !c.refused && err != nil {
			t.Errorf("%d targets: err = %v; want refused: %v", c.targets, err, c.refused)
		}
	}
}

// liveModule is a module of one function with locals i32 locals, all set
// and then summed after blocks blocks that each branch out of themselves:
// every local is live across every block.
func liveModule(locals, blocks int) []byte {
	var code []byte
	for i := range locals {
		code = appendUleb(append(code, 0x41, byte(i&63), 0x21), uint64(i)) // local i = i & 63
	}
	for range blocks {
		code = append(code, 0x02, 0x40, 0x20, 0, 0x0d, 0, 0x0b) // block; local.get 0; br_if 0; end
	}
	code = append(code, 0x41, 0)
	for i := range locals {
		code = append(appendUleb(append(code, 0x20), uint64(i)), 0x6a) // + local i
	}
	return nFuncs(1, append(appendUleb([]byte{1}, uint64(locals)), 0x7f), append(code, 0x1a, 0x0b)...)
}

// Locals live across blocks count too: 60,000 of them across 10 blocks,
// 612 KB, took wazero 17 s to compile.
func TestLiveLocalsCount(t *testing.T) {
	for _, c := range []struct {
		locals, blocks int
		refused        bool
	}{{60000, 10, true}, {20000, 100, true}, {1000, 500, false}, {60000, 0, false}} {
		_, err := Module(liveModule(c.locals, c.blocks))
		if c.refused != errors.Is(err, ErrTooComplex) || !c.refused && err != nil {
			t.Errorf("%d locals across %d blocks: err = %v; want refused: %v", c.locals, c.blocks, err, c.refused)
		}
	}
}

// indirectModule exports f(n) = n == 0 ? 0 : f(n-1) + 1 called through
// its table with a second type of the same signature (call_indirect
// compares signatures, not type indices), and g(n), which calls the leaf
// h n times.
func indirectModule() []byte {
	sig := []byte{0x60, 1, 0x7f, 1, 0x7f}
	f := fbody([]byte{0},
		0x20, 0, 0x45, 0x04, 0x40, 0x41, 0, 0x0f, 0x0b, // if n == 0: return 0
		0x20, 0, 0x41, 1, 0x6b, 0x41, 0, 0x11, 1, 0, // call_indirect (type 1) table[0] (n-1)
		0x41, 1, 0x6a, 0x0b) // + 1
	g := fbody([]byte{0},
		0x02, 0x40, 0x03, 0x40, 0x20, 0, 0x45, 0x0d, 1, // block; loop: if n == 0 leave
		0x20, 0, 0x10, 2, 0x21, 0, 0x0c, 0, 0x0b, 0x0b, // n = h(n); continue
		0x41, 0, 0x0b)
	h := fbody([]byte{0}, 0x20, 0, 0x41, 1, 0x6b, 0x0b) // n - 1
	return wasmOf(
		sec(secType, vec(sig, sig)),
		sec(secFunction, vec([]byte{0}, []byte{0}, []byte{0})),
		sec(secTable, vec([]byte{0x70, 1, 1, 1})),
		sec(secExport, vec(append(appendName(nil, "f"), 0x00, 0x00), append(appendName(nil, "g"), 0x00, 0x01))),
		sec(secElement, vec([]byte{0, 0x41, 0, 0x0b, 1, 0})),
		sec(secCode, vec(f, g, h)),
	)
}

// A function called through the table takes its frame whatever type
// index the call names (f(n) is n+1 frames deep: the host's call and n
// through the table); a function that makes no calls, of a small frame,
// takes none.
func TestIndirectCallsDrawLeavesDoNot(t *testing.T) {
	ctx := context.Background()
	mod := newHost(t, 1<<16).instantiate(t, mustInstrument(t, indirectModule()))
	left := mod.ExportedGlobal(StackExport).(api.MutableGlobal)
	left.Set(uint64(51 * FrameUnits(1)))
	if res, err := mod.ExportedFunction("f").Call(ctx, 50); err != nil || res[0] != 50 {
		t.Fatalf("f(50) = %v, %v", res, err)
	}
	left.Set(uint64(51 * FrameUnits(1)))
	if _, err := mod.ExportedFunction("f").Call(ctx, 51); err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Errorf("f(51) through the table, 52 frames deep for 51: err = %v, want the trap", err)
	}
	left.Set(uint64(FrameUnits(1)))
	if res, err := mod.ExportedFunction("g").Call(ctx, 1000); err != nil || res[0] != 0 {
		t.Errorf("g(1000), calling a leaf 1000 times with the stack for its own frame alone: %v, %v; want 0 (a leaf takes no frame)", res, err)
	}
}
