package instrument

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"

	"github.com/airlock-go/airlock/internal/testutil"
)

// host runs modules under raw wazero, with the check import provided.
type host struct {
	rt     wazero.Runtime
	refill int32
	checks atomic.Int64
	stop   atomic.Bool // the check ends the call when set

	// lastCPU and maxGap are the calling thread's CPU time at the last
	// check and the longest stretch between two checks (meaningful when
	// the caller locked its goroutine to its thread), kept when gaps is
	// set: reading a thread's CPU time is a system call of about 0.7 µs
	// here, several times what the host's own check costs, which would
	// weigh in the overhead BenchmarkOverhead measures.
	gaps            bool
	lastCPU, maxGap atomic.Int64
}

func newHost(t testing.TB, refill int32) *host {
	t.Helper()
	ctx := context.Background()
	h := &host{rt: wazero.NewRuntime(ctx), refill: refill}
	t.Cleanup(func() { h.rt.Close(ctx) })
	_, err := h.rt.NewHostModuleBuilder(ImportModule).NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(func(_ context.Context, _ api.Module, stack []uint64) {
			h.checks.Add(1)
			if h.gaps {
				now := threadCPU()
				if last := h.lastCPU.Swap(now); last != 0 && now-last > h.maxGap.Load() {
					h.maxGap.Store(now - last)
				}
			}
			if h.stop.Load() {
				panic(sys.NewExitError(sys.ExitCodeDeadlineExceeded))
			}
			stack[0] = api.EncodeI32(h.refill)
		}), nil, []api.ValueType{api.ValueTypeI32}).
		Export(ImportName).Instantiate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *host) instantiate(t testing.TB, wasm []byte) api.Module {
	t.Helper()
	ctx := context.Background()
	mod, err := h.rt.InstantiateWithConfig(ctx, wasm, wazero.NewModuleConfig().WithName("").WithStartFunctions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mod.Close(ctx) })
	return mod
}

func workModule(t testing.TB) []byte {
	t.Helper()
	path := testutil.CWasm(t, "instrument-work", nil, "internal/wasm/instrument/testdata/work.c")
	wasm, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return wasm
}

func mustInstrument(t testing.TB, wasm []byte) []byte {
	t.Helper()
	out, err := Module(wasm)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// The rewritten module computes what the original does, through loops,
// recursion, indirect calls and memory, and calls the check as it goes.
func TestBehaviourUnchanged(t *testing.T) {
	wasm := workModule(t)
	orig := newHost(t, 0).instantiate(t, wasm)
	// The refill (1000 instructions) is below the cost of fib's calls
	// between two checks many times over: the check's path at entry,
	// and the call of the function itself after it (entryCheck), runs
	// thousands of times.
	h := newHost(t, 1000)
	inst := h.instantiate(t, mustInstrument(t, wasm))
	ctx := context.Background()
	for _, c := range []struct {
		fn  string
		arg uint64
	}{
		{"fnv", 3}, {"fib", 25}, {"indirect", 100000}, {"sort", 3000}, {"fill", 7},
	} {
		t.Run(c.fn, func(t *testing.T) {
			before := h.checks.Load()
			want, err := orig.ExportedFunction(c.fn).Call(ctx, c.arg)
			if err != nil {
				t.Fatal(err)
			}
			got, err := inst.ExportedFunction(c.fn).Call(ctx, c.arg)
			if err != nil {
				t.Fatal(err)
			}
			if got[0] != want[0] {
				t.Errorf("%s(%d) = %d instrumented, %d originally", c.fn, c.arg, got[0], want[0])
			}
			if c.fn != "fill" && h.checks.Load() == before {
				t.Errorf("%s(%d) never called the check", c.fn, c.arg)
			}
		})
	}
}

// Branches to the function's own label (br_if with a value, br_table)
// return what they did, also in the call the entry's check makes of the
// function itself: the entry wraps the body in a block of the
// function's results, which such branches now end, before a return
// (entryOpen), or, for a function with two results, puts the check
// before the body (entryCheck). A refill of 1 takes the
// check's path at every call (the modules have no loop: a loop's charge
// is above 1, and a refill below a loop's charge would send it to the
// check at every iteration without end).
func TestBranchesToTheFunctionLabel(t *testing.T) {
	for _, wasm := range [][]byte{branchModule(), twoResultModule()} {
		orig := newHost(t, 0).instantiate(t, wasm).ExportedFunction("f")
		for _, refill := range []int32{1, 1 << 16} {
			h := newHost(t, refill)
			inst := h.instantiate(t, mustInstrument(t, wasm)).ExportedFunction("f")
			for sel := uint64(0); sel < 4; sel++ {
				want, err := orig.Call(context.Background(), sel, 5)
				if err != nil {
					t.Fatal(err)
				}
				got, err := inst.Call(context.Background(), sel, 5)
				if err != nil {
					t.Fatalf("refill %d: f(%d, 5): %v", refill, sel, err)
				}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("refill %d: f(%d, 5) = %v instrumented, %v originally", refill, sel, got, want)
				}
			}
			if refill == 1 && h.checks.Load() < 4 {
				t.Errorf("refill 1: %d checks for 4 calls, want one a call", h.checks.Load())
			}
		}
	}
}

// twoResultModule exports f(sel, v), which returns (sel, v) when sel is
// 3 (br_if to the function's label) and (sel, v+100) otherwise: results
// no block type names without a type index.
//
//	(func (export "f") (param i32 i32) (result i32 i32)
//	  local.get 0  local.get 1  local.get 0  i32.const 3  i32.eq  br_if 0
//	  i32.const 100  i32.add)
func twoResultModule() []byte {
	return wasmOf(
		sec(secType, vec([]byte{0x60, 2, 0x7f, 0x7f, 2, 0x7f, 0x7f})),
		sec(secFunction, vec([]byte{0})),
		sec(secExport, vec(append(appendName(nil, "f"), 0x00, 0x00))),
		sec(secCode, vec(fbody([]byte{0},
			0x20, 0x00, 0x20, 0x01, 0x20, 0x00, 0x41, 0x03, 0x46, 0x0d, 0x00,
			0x41, 0xe4, 0x00, 0x6a, 0x0b))),
	)
}

// branchModule exports f(sel, v): v when sel is 3 (br_if to the
// function's label), v+100 when sel is 0 (br_table to the block), v
// otherwise (br_table to the function's label).
//
//	(func (export "f") (param i32 i32) (result i32)
//	  local.get 1  local.get 0  i32.const 3  i32.eq  br_if 0  drop
//	  block (result i32)  local.get 1  local.get 0  br_table 0 1 1  end
//	  i32.const 100  i32.add)
func branchModule() []byte {
	return wasmOf(
		sec(secType, vec([]byte{0x60, 2, 0x7f, 0x7f, 1, 0x7f})),
		sec(secFunction, vec([]byte{0})),
		sec(secExport, vec(append(appendName(nil, "f"), 0x00, 0x00))),
		sec(secCode, vec(fbody([]byte{0},
			0x20, 0x01, 0x20, 0x00, 0x41, 0x03, 0x46, 0x0d, 0x00, 0x1a,
			0x02, 0x7f, 0x20, 0x01, 0x20, 0x00, 0x0e, 0x02, 0x00, 0x01, 0x01, 0x0b,
			0x41, 0xe4, 0x00, 0x6a, 0x0b))),
	)
}

// A guest that spins, recurses without loops or loops in its start
// function calls the check at least every 10 ms of its CPU time, and is
// stopped by the first check after the host says so. (CPU time, because
// on a loaded machine the wall time also counts the moments the thread
// waits for a CPU.)
func TestStopsRunaways(t *testing.T) {
	cases := []struct {
		name  string
		wasm  []byte
		fn    string
		start bool
	}{
		{"spin", workModule(t), "spin", false},
		{"recursion without loops", treeModule(), "tree", false},
		{"start section loop", loopStartModule(), "", true},
		{"loop that branches back before its call", skipCallModule(), "spin", false},
		{"counted loop whose bound is not a whole number of steps away", strideModule(), "spin", false},
		{"counted loop in a loop", nestedCountedModule(false), "spin", false},
		{"counted loop compared with an offset that puts its bound 2^31 steps away", offsetModule(), "spin", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHost(t, 1<<16)
			h.gaps = true
			ctx := context.Background()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			var set atomic.Int64
			time.AfterFunc(50*time.Millisecond, func() {
				set.Store(time.Now().UnixNano())
				h.stop.Store(true)
			})
			var err error
			if c.start {
				// The host calls the start function the rewriting
				// exports, as wazero would have at instantiation.
				_, err = h.instantiate(t, mustInstrument(t, c.wasm)).ExportedFunction(StartExport).Call(ctx)
			} else {
				_, err = h.instantiate(t, mustInstrument(t, c.wasm)).ExportedFunction(c.fn).Call(ctx, 60)
			}
			late := time.Since(time.Unix(0, set.Load()))
			gap := time.Duration(h.maxGap.Load())
			t.Logf("stopped %v after the flag was set; at most %v of CPU time between checks", late, gap)
			var exit *sys.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != sys.ExitCodeDeadlineExceeded {
				t.Fatalf("err = %v, want the check's exit", err)
			}
			if gap > 10*time.Millisecond || h.checks.Load() == 0 {
				t.Errorf("%d checks, at most %v of CPU time apart: want them within 10ms", h.checks.Load(), gap)
			}
			if late > time.Second {
				t.Errorf("stopped %v after the flag was set", late)
			}
		})
	}
}

// Indices the original module got wrong must not come to name what the
// rewriting adds: such modules are refused (they were invalid anyway).
func TestRefusesIndicesThatWouldNameOurs(t *testing.T) {
	for _, c := range []struct {
		name string
		wasm []byte
		say  string
	}{
		{"global past the module's", simpleModule(nil, []byte{0x23, 0x00, 0x1a}), "unknown global 0"},
		{"global.set past the module's", simpleModule(nil, []byte{0x41, 0x00, 0x24, 0x00}), "unknown global 0"},
		{"local past the function's", simpleModule(nil, []byte{0x20, 0x00, 0x1a}), "unknown local 0"},
		{"type past the module's", simpleModule(nil, []byte{0x02, 0x01, 0x0b}), "block of unknown type 1"},
		{"function past the module's", simpleModule(nil, []byte{0x10, 0x01}), "unknown function 1"},
		{"the reserved import", simpleModule(importSection(ImportModule, ImportName), nil), "reserves"},
		{"the stack's export", exportModule(StackExport), "keeps for itself"},
		{"the start function's export", exportModule(StartExport), "keeps for itself"},
		{"a start function of the wrong type", startTypeModule(), "start function 0 has parameters or results"},
		{"a start function past the module's", startPastModule(), "unknown start function 1"},
		{"threads", simpleModule(nil, []byte{0xfe, 0x03, 0x00}), "not supported"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Module(c.wasm)
			if err == nil || !strings.Contains(err.Error(), c.say) {
				t.Fatalf("err = %v, want it to say %q", err, c.say)
			}
		})
	}
}

// Renumbering: a module with an import, a table of functions, an export,
// a start function and a ref.func global still calls what it called.
func TestRenumbersEveryFunctionIndex(t *testing.T) {
	wasm := renumberModule()
	ctx := context.Background()
	var seen []string
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	_, err := rt.NewHostModuleBuilder("env").NewFunctionBuilder().
		WithFunc(func(v int32) { seen = append(seen, "imported") }).Export("f").
		Instantiate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = rt.NewHostModuleBuilder(ImportModule).NewFunctionBuilder().
		WithFunc(func() int32 { return 1 << 16 }).Export(ImportName).Instantiate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i, code := range [][]byte{wasm, mustInstrument(t, wasm)} {
		seen = nil
		mod, err := rt.InstantiateWithConfig(ctx, code, wazero.NewModuleConfig().WithName(""))
		if err != nil {
			t.Fatal(err)
		}
		if start := mod.ExportedFunction(StartExport); i == 1 {
			// Rewritten, the start function is the host's to call.
			if start == nil {
				t.Fatalf("the rewritten module does not export %s", StartExport)
			}
			if _, err := start.Call(ctx); err != nil {
				t.Fatal(err)
			}
		}
		res, err := mod.ExportedFunction("run").Call(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// start stored 5 in the global; run calls table[0] (+10), table[1]
		// (+20) and the import.
		if res[0] != 35 || len(seen) != 1 {
			t.Errorf("run = %d with %v, want 35 and one imported call", res[0], seen)
		}
		mod.Close(ctx)
	}
}

// The version section changes the module's bytes, and so the cache key,
// with the version.
func TestVersionInOutput(t *testing.T) {
	out := mustInstrument(t, simpleModule(nil, nil))
	if !bytes.Contains(out, fmt.Appendf([]byte(versionSection), "v%d", Version)) {
		t.Fatalf("no version section in %x", out)
	}
}

// FuzzModule: for any module the rewriting accepts, wazero accepts the
// result if and only if it accepts the original (the rewriting never
// makes an invalid module valid, which is what could give a module a
// name for the fuel, and never breaks a valid one). That valid modules
// are accepted at all, and compute the same, the other tests check on
// real guests.
func FuzzModule(f *testing.F) {
	f.Add(simpleModule(nil, []byte{0x03, 0x40, 0x0c, 0x00, 0x0b}))
	f.Add(treeModule())
	f.Add(loopStartModule())
	f.Add(renumberModule())
	f.Add(skipCallModule())
	f.Add(branchModule())
	f.Add(twoResultModule())
	f.Add(strideModule())
	f.Add(nestedCountedModule(false))
	// Found by the fuzzer: a body () -> () that leaves a value on the
	// stack, invalid; a rewriting that ended the body with a return
	// made it valid.
	f.Add([]byte("\x00asm\x01\x00\x00\x00\x01\x04\x01`\x00\x00\x03\x02\x01\x00\n\t\x01\a\x010\x7fA\xab0\v"))
	if path, err := filepath.Abs("testdata/work.c"); err == nil {
		if _, err := os.Stat(path); err == nil {
			f.Add(workModule(f))
		}
	}
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	f.Fuzz(func(t *testing.T, wasm []byte) {
		out, err := Module(wasm)
		if err != nil {
			// The original is not handed to wazero here: its decoder
			// allocates by the counts a module declares, and the
			// fuzzer soon finds a module that claims billions of
			// entries (the rewriting refuses it, which is why the tier
			// rewrites before wazero decodes).
			return
		}
		origMod, origErr := rt.CompileModule(ctx, wasm)
		if origErr == nil {
			origMod.Close(ctx)
		}
		mod, err := rt.CompileModule(ctx, out)
		switch {
		case origErr == nil && err != nil:
			t.Fatalf("the rewritten module does not compile: %v", err)
		case origErr != nil && err == nil:
			mod.Close(ctx)
			t.Fatalf("the original does not compile (%v), the rewritten one does", origErr)
		case err == nil:
			mod.Close(ctx)
		}
	})
}

// Hand-assembled modules.

func uleb(n int) []byte { return appendUleb(nil, uint64(n)) }

func vec(items ...[]byte) []byte {
	out := uleb(len(items))
	for _, it := range items {
		out = append(out, it...)
	}
	return out
}

func sec(id byte, data []byte) []byte {
	return append(append([]byte{id}, uleb(len(data))...), data...)
}

func wasmOf(sections ...[]byte) []byte {
	return append([]byte("\x00asm\x01\x00\x00\x00"), bytes.Join(sections, nil)...)
}

func fbody(locals []byte, instrs ...byte) []byte {
	b := append(append([]byte(nil), locals...), instrs...)
	return append(uleb(len(b)), b...)
}

func importSection(mod, name string) []byte {
	return sec(secImport, vec(append(append(appendName(appendName(nil, mod), name), 0x00), 0x00)))
}

// simpleModule has one type, () -> (), the import section imports, and
// one function running code.
func simpleModule(imports, code []byte) []byte {
	return wasmOf(
		sec(secType, vec([]byte{0x60, 0, 0})),
		imports,
		sec(secFunction, vec([]byte{0})),
		sec(secCode, vec(fbody([]byte{0}, append(code, 0x0b)...))),
	)
}

// treeModule exports tree(n), which calls itself twice until n is 0: 2^n
// calls and no loop.
func treeModule() []byte {
	return wasmOf(
		sec(secType, vec([]byte{0x60, 1, 0x7f, 1, 0x7f})),
		sec(secFunction, vec([]byte{0})),
		sec(secExport, vec(append(appendName(nil, "tree"), 0x00, 0x00))),
		sec(secCode, vec(fbody([]byte{0},
			0x20, 0x00, 0x45, // local.get 0, i32.eqz
			0x04, 0x7f, 0x41, 0x01, // if (result i32) i32.const 1
			0x05,                                     // else
			0x20, 0x00, 0x41, 0x01, 0x6b, 0x10, 0x00, // tree(n-1)
			0x20, 0x00, 0x41, 0x01, 0x6b, 0x10, 0x00, // tree(n-1)
			0x6a, // i32.add
			0x0b, 0x0b))),
	)
}

// spinModule exports spin(n), running code in a function (param i32)
// (result i32) with one more i32 local, and returning 0 if it ends.
func spinModule(code ...byte) []byte {
	return wasmOf(
		sec(secType, vec([]byte{0x60, 1, 0x7f, 1, 0x7f})),
		sec(secFunction, vec([]byte{0})),
		sec(secExport, vec(append(appendName(nil, "spin"), 0x00, 0x00))),
		sec(secCode, vec(fbody([]byte{1, 1, 0x7f}, append(code, 0x41, 0x00, 0x0b)...))),
	)
}

// strideModule's loop has the form of a counted loop (counted.go), x
// += 2 while x != bound, but the bound, 7, is not a whole number of
// steps away: it never ends, and must be charged at every iteration.
//
//	i32.const 7  local.set 1  i32.const 0  local.set 0
//	loop  local.get 0  i32.const 2  i32.add  local.tee 0  local.get 1  i32.ne  br_if 0  end
func strideModule() []byte {
	return spinModule(0x41, 7, 0x21, 1, 0x41, 0, 0x21, 0,
		0x03, 0x40, 0x20, 0, 0x41, 2, 0x6a, 0x22, 0, 0x20, 1, 0x47, 0x0d, 0, 0x0b)
}

// offsetModule's loop is a counted loop whose value compared is x +
// 0x7fff0000 (counted.go): x counts down from n (60 in the test), the
// sum from 0x7fff003c, and the loop goes on while the sum is above 1,
// about 2^31 times. Charged for x's distance to the bound, 59 steps, it
// would run seconds without a check.
//
//	loop  local.get 0  i32.const -1  i32.add  local.tee 0
//	      i32.const 0x7fff0000  i32.add  i32.const 1  i32.gt_s  br_if 0  end
func offsetModule() []byte {
	return spinModule(0x03, 0x40, 0x20, 0, 0x41, 0x7f, 0x6a, 0x22, 0,
		0x41, 0x80, 0x80, 0xfc, 0xff, 0x07, 0x6a, 0x41, 1, 0x4a, 0x0d, 0, 0x0b)
}

// nestedCountedModule loops around a counted loop of 4000 iterations
// (x counts up while x < 4000, lt_s), for ever, or n times (n the
// parameter) when finite: the outer loop's own charge is a few
// instructions, so it is the counted loop's charge before it runs that
// has the guest call the check every 65 536 of its instructions.
//
//	loop  i32.const 0  local.set 1
//	  loop  local.get 1  i32.const 1  i32.add  local.tee 1  i32.const 4000  i32.lt_s  br_if 0  end
//	  br 0                                                    ;; for ever
//	  local.get 0  i32.const -1  i32.add  local.tee 0  br_if 0  ;; finite
//	end
func nestedCountedModule(finite bool) []byte {
	code := []byte{0x03, 0x40, 0x41, 0, 0x21, 1,
		0x03, 0x40, 0x20, 1, 0x41, 1, 0x6a, 0x22, 1, 0x41, 0xa0, 0x1f, 0x48, 0x0d, 0, 0x0b}
	if finite {
		code = append(code, 0x20, 0, 0x41, 0x7f, 0x6a, 0x22, 0, 0x0d, 0, 0x0b)
	} else {
		code = append(code, 0x0c, 0, 0x0b)
	}
	return spinModule(code...)
}

// A counted loop is charged for its iterations (counted.go): run 1000
// times, the loop of 4000 iterations of seven instructions in
// nestedCountedModule calls the check at least every 65 536 of them
// (without the charge before the loop, the outer loop's few
// instructions alone would call it no time).
func TestCountedLoopsAreCharged(t *testing.T) {
	wasm := nestedCountedModule(true)
	if n := countedLoops(t, wasm); n != 1 {
		t.Fatalf("%d counted loops, want 1", n)
	}
	h := newHost(t, 1<<16)
	if _, err := h.instantiate(t, mustInstrument(t, wasm)).ExportedFunction("spin").Call(context.Background(), 1000); err != nil {
		t.Fatal(err)
	}
	if want := int64(1000 * 4000 * 7 / (1 << 16)); h.checks.Load() < want {
		t.Fatalf("%d checks, want at least %d", h.checks.Load(), want)
	}
}

// A counted loop that is the function's only loop, left early by a
// branch out of every loop or at its bound, returns what it did and is
// charged, with the check's refill below, at and above its charge. Up:
//
//	block $out
//	  loop  local.get 1  local.get 0  i32.eq  br_if $out
//	        local.get 1  i32.const 1  i32.add  local.tee 1  i32.const 1000  i32.lt_s  br_if 0
//	  end
//	  local.get 1  i32.const 100  i32.add  local.set 1   ;; at the bound only
//	end
//	local.get 1  return
//
// Down, compared with an offset (clang's `while (j >= 0 && ...) j--`),
// from 1000 while x' + 1 > 1:
//
//	i32.const 1000  local.set 1
//	block $out
//	  loop  local.get 1  local.get 0  i32.eq  br_if $out
//	        local.get 1  i32.const -1  i32.add  local.tee 1  i32.const 1  i32.add  i32.const 1  i32.gt_s  br_if 0
//	  end
//	  local.get 1  i32.const 100  i32.add  local.set 1
//	end
//	local.get 1  return
func TestCountedLoopExits(t *testing.T) {
	exits := []byte{0x20, 1, 0x20, 0, 0x46, 0x0d, 1}
	after := []byte{0x0b, 0x20, 1, 0x41, 0xe4, 0x00, 0x6a, 0x21, 1, 0x0b, 0x20, 1, 0x0f}
	for _, c := range []struct {
		name       string
		start, end []byte
	}{
		{"up", nil, []byte{0x20, 1, 0x41, 1, 0x6a, 0x22, 1, 0x41, 0xe8, 0x07, 0x48, 0x0d, 0}},
		{"down with an offset", []byte{0x41, 0xe8, 0x07, 0x21, 1},
			[]byte{0x20, 1, 0x41, 0x7f, 0x6a, 0x22, 1, 0x41, 1, 0x6a, 0x41, 1, 0x4a, 0x0d, 0}},
	} {
		t.Run(c.name, func(t *testing.T) {
			code := append(append(append([]byte(nil), c.start...), 0x02, 0x40, 0x03, 0x40), exits...)
			wasm := spinModule(append(append(code, c.end...), after...)...)
			if n := countedLoops(t, wasm); n != 1 {
				t.Fatalf("%d counted loops, want 1", n)
			}
			ctx := context.Background()
			orig := newHost(t, 0).instantiate(t, wasm).ExportedFunction("spin")
			for _, refill := range []int32{100, 1 << 16} {
				h := newHost(t, refill)
				inst := h.instantiate(t, mustInstrument(t, wasm)).ExportedFunction("spin")
				for _, n := range []uint64{0, 1, 5, 999, 1000, 5000} {
					want, err := orig.Call(ctx, n)
					if err != nil {
						t.Fatal(err)
					}
					got, err := inst.Call(ctx, n)
					if err != nil || got[0] != want[0] {
						t.Errorf("refill %d: spin(%d) = %v, %v instrumented, %d originally", refill, n, got, err, want[0])
					}
				}
				if h.checks.Load() == 0 {
					t.Errorf("refill %d: never called the check", refill)
				}
			}
		})
	}
}

// Only the loops whose trip count the code bounds, in the forms
// counted.go lists, are counted loops (threat: a loop taken for one
// with a wrong bound runs its copy without a charge).
func TestCountedLoopForms(t *testing.T) {
	loop := func(body ...byte) []byte { return append(append([]byte{0x03, 0x40}, body...), 0x0b) }
	tail := []byte{0x20, 0, 0x41, 2, 0x6a, 0x22, 0, 0x20, 1, 0x47, 0x0d, 0} // x += 2; br_if x != local 1
	for _, c := range []struct {
		name string
		code []byte
		want int
	}{
		{"x += 2 while x != bound", loop(tail...), 1},
		{"x -= 1 while x != 0", loop(0x20, 0, 0x41, 0x7f, 0x6a, 0x22, 0, 0x0d, 0), 1},
		{"x -= 1 while x > 1", loop(0x20, 0, 0x41, 0x7f, 0x6a, 0x22, 0, 0x41, 1, 0x4a, 0x0d, 0), 1},
		{"bound > x + 1", loop(0x20, 1, 0x20, 0, 0x41, 1, 0x6a, 0x22, 0, 0x4b, 0x0d, 0), 1},
		{"x -= 1 while x + 1 > 1", loop(0x20, 0, 0x41, 0x7f, 0x6a, 0x22, 0, 0x41, 1, 0x6a, 0x41, 1, 0x4a, 0x0d, 0), 1},
		{"x -= 1 while x - 3 > 1", loop(0x20, 0, 0x41, 0x7f, 0x6a, 0x22, 0, 0x41, 3, 0x6b, 0x41, 1, 0x4a, 0x0d, 0), 1},
		{"bound > x + 1 + 5", loop(0x20, 1, 0x20, 0, 0x41, 1, 0x6a, 0x22, 0, 0x41, 5, 0x6a, 0x4b, 0x0d, 0), 1},
		{"x -= 1 while x + 4 != 0", loop(0x20, 0, 0x41, 0x7f, 0x6a, 0x22, 0, 0x41, 4, 0x6a, 0x0d, 0), 1},
		{"x -= 1 while x + bound > 1", loop(0x20, 0, 0x41, 0x7f, 0x6a, 0x22, 0, 0x20, 1, 0x6a, 0x41, 1, 0x4a, 0x0d, 0), 0},
		{"x -= 1 while x * 2 > 1", loop(0x20, 0, 0x41, 0x7f, 0x6a, 0x22, 0, 0x41, 2, 0x6c, 0x41, 1, 0x4a, 0x0d, 0), 0},
		{"x -= 1 while (x + 1) + 1 > 1", loop(0x20, 0, 0x41, 0x7f, 0x6a, 0x22, 0, 0x41, 1, 0x6a, 0x41, 1, 0x6a, 0x41, 1, 0x4a, 0x0d, 0), 0},
		{"x written elsewhere", loop(append([]byte{0x41, 0, 0x21, 0}, tail...)...), 0},
		{"bound written", loop(append([]byte{0x41, 5, 0x21, 1}, tail...)...), 0},
		{"another branch back", loop(append([]byte{0x20, 0, 0x0d, 0}, tail...)...), 0},
		{"x += 2 while x < bound", loop(0x20, 0, 0x41, 2, 0x6a, 0x22, 0, 0x20, 1, 0x48, 0x0d, 0), 0},
		{"x += 3 while x != bound", loop(0x20, 0, 0x41, 3, 0x6a, 0x22, 0, 0x20, 1, 0x47, 0x0d, 0), 0},
		{"x += 1 while x > bound", loop(0x20, 0, 0x41, 1, 0x6a, 0x22, 0, 0x20, 1, 0x4a, 0x0d, 0), 0},
		{"an inner loop", loop(append(loop(), tail...)...), 0},
		{"x += 1 while x != x", loop(0x20, 0, 0x41, 1, 0x6a, 0x22, 0, 0x20, 0, 0x47, 0x0d, 0), 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			if n := countedLoops(t, spinModule(c.code...)); n != c.want {
				t.Errorf("%d counted loops, want %d", n, c.want)
			}
		})
	}
}

// A module of many small counted loops is rewritten to a size linear
// in its own (each loop is copied once, with a charge and an exit).
func TestCountedLoopsSize(t *testing.T) {
	var code []byte
	for range 1000 {
		code = append(code, 0x03, 0x40, 0x20, 0, 0x41, 0x7f, 0x6a, 0x22, 0, 0x41, 1, 0x4a, 0x0d, 0, 0x0b) // x -= 1 while x > 1
	}
	wasm := spinModule(code...)
	if n := countedLoops(t, wasm); n != 1000 {
		t.Fatalf("%d counted loops, want 1000", n)
	}
	out := mustInstrument(t, wasm)
	if len(out) > 16*len(wasm) {
		t.Fatalf("rewritten to %d bytes from %d", len(out), len(wasm))
	}
	t.Logf("rewritten to %d bytes from %d", len(out), len(wasm))
	got, err := newHost(t, 1<<16).instantiate(t, out).ExportedFunction("spin").Call(context.Background(), 5)
	if err != nil || got[0] != 0 {
		t.Fatalf("spin = %v, %v", got, err)
	}
}

// countedLoops rewrites the one function of wasm and returns how many
// of its loops are counted loops.
func countedLoops(t *testing.T, wasm []byte) int {
	t.Helper()
	n := 0
	for _, o := range decodedBody(t, wasm).ops {
		if o.counted != nil {
			n++
		}
	}
	return n
}

// decodedBody rewrites the one function of wasm and returns its body as
// the rewriting decoded it.
func decodedBody(t *testing.T, wasm []byte) *body {
	t.Helper()
	m := &module{}
	if err := m.split(wasm[8:]); err != nil {
		t.Fatal(err)
	}
	if err := m.survey(); err != nil {
		t.Fatal(err)
	}
	for _, s := range m.sections {
		if s.id != secCode {
			continue
		}
		r := &reader{b: s.data}
		r.u32()
		code := r.bytes(r.uleb(32))
		m.localsLeft = moduleLocals(len(s.data))
		m.compileLeft = compileBudget(len(s.data))
		bd := &body{m: m, self: m.renumber(m.funcImports), results: m.resultBlocks[m.funcTypes[0]]}
		if _, err := bd.rewrite(nil, code, m.paramCounts[m.funcTypes[0]]); err != nil {
			t.Fatal(err)
		}
		return bd
	}
	t.Fatal("no code section")
	return nil
}

// loopStartModule loops for ever in its start function.
func loopStartModule() []byte {
	return wasmOf(
		sec(secType, vec([]byte{0x60, 0, 0})),
		sec(secFunction, vec([]byte{0})),
		sec(8, []byte{0x00}),
		sec(secCode, vec(fbody([]byte{0}, 0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b))),
	)
}

// exportModule is simpleModule with its function exported as name.
func exportModule(name string) []byte {
	return wasmOf(
		sec(secType, vec([]byte{0x60, 0, 0})),
		sec(secFunction, vec([]byte{0})),
		sec(secExport, vec(append(appendName(nil, name), 0x00, 0x00))),
		sec(secCode, vec(fbody([]byte{0}, 0x0b))),
	)
}

// startTypeModule's start function takes a parameter: invalid, and
// valid if it were only exported.
func startTypeModule() []byte {
	return wasmOf(
		sec(secType, vec([]byte{0x60, 1, 0x7f, 0})),
		sec(secFunction, vec([]byte{0})),
		sec(secStart, []byte{0x00}),
		sec(secCode, vec(fbody([]byte{0}, 0x0b))),
	)
}

// startPastModule's start section names a function it does not have.
func startPastModule() []byte {
	return wasmOf(
		sec(secType, vec([]byte{0x60, 0, 0})),
		sec(secFunction, vec([]byte{0})),
		sec(secStart, []byte{0x01}),
		sec(secCode, vec(fbody([]byte{0}, 0x0b))),
	)
}

// skipCallModule exports spin(n), a loop whose iterations would each
// call a function, but branch back before the call while n is not 0: a
// loop charged at its call (not its header) when it has one on every
// path must not be taken for one here.
//
//	(func $f)
//	(func (export "spin") (param i32) (result i32)
//	  loop  local.get 0  br_if 0  call $f  end
//	  i32.const 0)
func skipCallModule() []byte {
	return wasmOf(
		sec(secType, vec([]byte{0x60, 0, 0}, []byte{0x60, 1, 0x7f, 1, 0x7f})),
		sec(secFunction, vec([]byte{0}, []byte{1})),
		sec(secExport, vec(append(appendName(nil, "spin"), 0x00, 0x01))),
		sec(secCode, vec(
			fbody([]byte{0}, 0x0b),
			fbody([]byte{0}, 0x03, 0x40, 0x20, 0x00, 0x0d, 0x00, 0x10, 0x00, 0x0b, 0x41, 0x00, 0x0b),
		)),
	)
}

// renumberModule names functions every way the format allows:
//
//	(import "env" "f" (func $imp (param i32)))
//	(global $g (mut i32) (i32.const 0))
//	(global $r funcref (ref.func $twenty))
//	(table 2 funcref)
//	(elem (i32.const 0) $ten $twenty)
//	(func $ten (result i32) i32.const 10)
//	(func $twenty (result i32) i32.const 20)
//	(func $start i32.const 5 global.set $g)
//	(func (export "run") (result i32)
//	  i32.const 0 call $imp
//	  global.get $g  (call_indirect (result i32) (i32.const 0)) i32.add
//	  (call_indirect (result i32) (i32.const 1)) i32.add)
//	(start $start)
func renumberModule() []byte {
	return wasmOf(
		sec(secType, vec([]byte{0x60, 1, 0x7f, 0}, []byte{0x60, 0, 1, 0x7f}, []byte{0x60, 0, 0})),
		importSection("env", "f"),
		sec(secFunction, vec([]byte{1}, []byte{1}, []byte{2}, []byte{1})),
		sec(secTable, vec([]byte{0x70, 0x00, 2})),
		sec(secGlobal, vec([]byte{0x7f, 1, 0x41, 0, 0x0b}, []byte{0x70, 0, 0xd2, 2, 0x0b})),
		sec(secExport, vec(append(appendName(nil, "run"), 0x00, 4))),
		sec(8, []byte{3}),
		sec(secElement, vec([]byte{0x00, 0x41, 0x00, 0x0b, 2, 1, 2})),
		sec(secCode, vec(
			fbody([]byte{0}, 0x41, 10, 0x0b),
			fbody([]byte{0}, 0x41, 20, 0x0b),
			fbody([]byte{0}, 0x41, 5, 0x24, 0, 0x0b),
			fbody([]byte{0},
				0x41, 0, 0x10, 0,
				0x23, 0,
				0x41, 0, 0x11, 1, 0, 0x6a,
				0x41, 1, 0x11, 1, 0, 0x6a,
				0x0b),
		)),
	)
}

// A module whose sections claim more entries than they have bytes for is
// refused before wazero sees it. Threat: wazero v1.12.0's decoder
// allocates by the declared count before reading the entries, so this
// module of a few bytes, claiming 2^32-1 imports, made the host run out of
// memory and die (found by FuzzModule).
func TestRefusesCountsBeyondTheBytes(t *testing.T) {
	for _, c := range []struct {
		name string
		sec  []byte
	}{
		{"imports", sec(secImport, []byte{0xff, 0xff, 0xff, 0xff, 0x0f})},
		{"functions", sec(secFunction, []byte{0xff, 0xff, 0xff, 0xff, 0x0f})},
		{"tables", sec(secTable, []byte{0xff, 0xff, 0xff, 0xff, 0x0f})},
		{"globals", sec(secGlobal, []byte{0xff, 0xff, 0xff, 0xff, 0x0f})},
		{"exports", sec(secExport, []byte{0xff, 0xff, 0xff, 0xff, 0x0f})},
		{"elements", sec(secElement, []byte{0xff, 0xff, 0xff, 0xff, 0x0f})},
		{"data", sec(secData, []byte{0xff, 0xff, 0xff, 0xff, 0x0f})},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := Module(wasmOf(sec(secType, vec([]byte{0x60, 0, 0})), c.sec)); err == nil || !strings.Contains(err.Error(), "unexpected end") {
				t.Fatalf("err = %v, want the module refused for its count", err)
			}
		})
	}
}

// A module of many functions of a type with many parameters is
// rewritten to a size linear in its own: the entry's call of the
// function itself (which passes every parameter) is not used there
// (threat: n functions of n parameters rewritten to n*n bytes), and such
// a function still calls the check and computes the same.
func TestManyParameters(t *testing.T) {
	const n = 1000
	typ := append([]byte{0x60}, uleb(n)...)
	typ = append(append(typ, bytes.Repeat([]byte{0x7f}, n)...), 1, 0x7f)
	funcs, bodies := make([][]byte, n), make([][]byte, n)
	for i := range n {
		funcs[i] = []byte{0}
		bodies[i] = fbody([]byte{0}, 0x20, 0x01, 0x0b) // local.get 1
	}
	wasm := wasmOf(
		sec(secType, vec(typ)),
		sec(secFunction, vec(funcs...)),
		sec(secExport, vec(append(appendName(nil, "f"), 0x00, 0x00))),
		sec(secCode, vec(bodies...)),
	)
	out := mustInstrument(t, wasm)
	if len(out) > 16*len(wasm) {
		t.Fatalf("rewritten to %d bytes from %d", len(out), len(wasm))
	}
	h := newHost(t, 1)
	args := make([]uint64, n)
	args[1] = 42
	got, err := h.instantiate(t, out).ExportedFunction("f").Call(context.Background(), args...)
	if err != nil || got[0] != 42 || h.checks.Load() == 0 {
		t.Fatalf("f = %v, %v after %d checks, want 42 after a check", got, err, h.checks.Load())
	}
}

// Counted loops of every form, with and without an offset on the value
// compared, from starting values on both sides of their bounds and at
// the ends of the i32 range: each returns what it returned before the
// rewriting (with a refill small enough that the check runs at every
// charge), and over many calls it is charged at least for the
// iterations it ran (threat: a trip bound or a refund computed wrong
// lets a loop run uncharged; the copy's results would not show it, the
// checks do). Each loop also counts down a second local from 1000 and
// leaves when it reaches 0, so that every run ends.
func TestCountedLoopsChargedForWhatTheyRun(t *testing.T) {
	type form struct {
		name string
		step int32 // c
		off  int32 // d, 0 for none
		cmp  byte
	}
	var forms []form
	for _, off := range []int32{0, 1, -1, 5, 0x7fff0000, math.MinInt32} {
		for _, f := range []form{
			{"x += 1 while y != bound", 1, off, opcodeI32Ne},
			{"x -= 1 while y != bound", -1, off, opcodeI32Ne},
			{"x += 4 while y != bound", 4, off, opcodeI32Ne},
			{"x -= 2 while y != bound", -2, off, opcodeI32Ne},
			{"x += 1 while y < bound", 1, off, opcodeI32LtS},
			{"x += 1 while y <u bound", 1, off, opcodeI32LtU},
			{"x -= 1 while y > bound", -1, off, opcodeI32GtS},
			{"x -= 1 while y >u bound", -1, off, opcodeI32GtU},
		} {
			forms = append(forms, form{fmt.Sprintf("%s, y = x + %d", f.name, off), f.step, off, f.cmp})
		}
	}
	const bound, calls, refill = 100, 1000, 1 << 16
	for _, f := range forms {
		t.Run(f.name, func(t *testing.T) {
			wasm := countedLoopModule(f.step, f.off, bound, f.cmp)
			if n := countedLoops(t, wasm); n != 1 {
				t.Fatalf("%d counted loops, want 1", n)
			}
			ctx := context.Background()
			orig := newHost(t, 0).instantiate(t, wasm).ExportedFunction("spin")
			rewritten := mustInstrument(t, wasm)
			often := newHost(t, 100).instantiate(t, rewritten).ExportedFunction("spin")
			h := newHost(t, refill)
			spin := h.instantiate(t, rewritten).ExportedFunction("spin")
			for _, x0 := range []int32{0, 1, 50, 99, 100, 101, 164, -3, -f.off, bound - f.off, bound - f.off - 7, math.MaxInt32 - 2, math.MinInt32 + 3} {
				want, err := orig.Call(ctx, uint64(uint32(x0)))
				if err != nil {
					t.Fatal(err)
				}
				if got, err := often.Call(ctx, uint64(uint32(x0))); err != nil || got[0] != want[0] {
					t.Fatalf("spin(%d) = %v, %v instrumented, %d originally", x0, got, err, want[0])
				}
				before := h.checks.Load()
				for range calls {
					if got, err := spin.Call(ctx, uint64(uint32(x0))); err != nil || got[0] != want[0] {
						t.Fatalf("spin(%d) = %v, %v instrumented, %d originally", x0, got, err, want[0])
					}
				}
				// An iteration is 17 instructions: at least 10 units.
				ran := 1000 - int64(uint32(want[0])>>16)
				if checks, least := h.checks.Load()-before, calls*ran*10/refill-1; checks < least {
					t.Errorf("spin(%d): %d calls of %d iterations, %d checks: want at least %d", x0, calls, ran, checks, least)
				}
			}
		})
	}
}

// countedLoopModule exports spin(x0), which runs, with y = x + off:
//
//	x = x0; k = 1000
//	block $out
//	  loop
//	    k -= 1; br_if $out (k == 0)
//	    x += step; br_if 0 (x + off CMP bound)
//	  end
//	end
//	return x & 0xffff | k << 16
func countedLoopModule(step, off, bound int32, cmp byte) []byte {
	code := []byte{0x20, 0, 0x21, 1, 0x41}
	code = appendSleb(code, 1000)
	code = append(code, 0x21, 2, 0x02, 0x40, 0x03, 0x40,
		0x20, 2, 0x41, 1, 0x6b, 0x22, 2, 0x45, 0x0d, 1,
		0x20, 1, 0x41)
	code = appendSleb(code, int64(step))
	code = append(code, 0x6a, 0x22, 1)
	if off != 0 {
		code = appendSleb(append(code, 0x41), int64(off))
		code = append(code, 0x6a)
	}
	code = appendSleb(append(code, 0x41), int64(bound))
	code = append(code, cmp, 0x0d, 0, 0x0b, 0x0b,
		0x20, 1, 0x41, 0xff, 0xff, 0x03, 0x71, 0x20, 2, 0x41, 16, 0x74, 0x72, 0x0b)
	return wasmOf(
		sec(secType, vec([]byte{0x60, 1, 0x7f, 1, 0x7f})),
		sec(secFunction, vec([]byte{0})),
		sec(secExport, vec(append(appendName(nil, "spin"), 0x00, 0x00))),
		sec(secCode, vec(fbody([]byte{1, 2, 0x7f}, code...))),
	)
}
