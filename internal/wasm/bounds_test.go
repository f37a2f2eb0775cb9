package wasm

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airlock-go/airlock/internal/testutil"
	"github.com/airlock-go/airlock/internal/tier"
)

// evilTables builds the evil guest with its "tablegrow" attack, linked
// so that its function table has no maximum.
func evilTables(t *testing.T) string {
	flags := []string{"-DTABLE_GROW", "-mreference-types", "-Wl,--growable-table"}
	return testutil.CWasm(t, "evil-tables", flags, "internal/wasm/testdata/evil/evil.c")
}

// A guest growing its function table, which has no maximum, by 2^26
// entries at a time: wazero would allocate 512 MiB of the host's memory
// for each, outside any memory cap (a guest asking for 2^30 made a host
// allocate 8 GiB, and the kernel killed it). Its tables cannot grow past
// their maximum, which is their size where they declare none.
func TestTableGrowthRefused(t *testing.T) {
	s := newStarter(t)
	inst, _, err := start(t, s, evilManifest, evilTables(t), nil, tier.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	before := heapSys()
	for range 3 {
		out, err := call(inst, "tablegrow", map[string]int{"entries": 1 << 26}, 30*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var res int
		if err := json.Unmarshal(out, &res); err != nil {
			t.Fatal(err)
		}
		if res != -1 {
			t.Errorf("table.grow by 2^26 entries = %d; want -1 (refused)", res)
		}
	}
	if grew := heapSys() - before; grew > 256<<20 {
		t.Errorf("the host's heap grew by %d MiB while the guest grew its table", grew>>20)
	}
}

func heapSys() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapSys)
}

// A table's entries, 8 bytes each, are charged to the plugin's memory
// budget at the table's maximum: a module declaring a table of up to 2^27
// entries (1 GiB) does not start under a 64 MiB cap, and says why.
func TestTablesChargedToTheBudget(t *testing.T) {
	s := newStarter(t)
	code, err := os.ReadFile(evilTables(t))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "big-table.wasm")
	if err := os.WriteFile(path, withTableMax(t, code, 1<<27), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err = start(t, s, evilManifest, path, nil, tier.Limits{MaxMemory: 64 << 20})
	if !errors.Is(err, tier.ErrResourceCaps) || !strings.Contains(err.Error(), "tables at their maximum (1073741824 bytes)") {
		t.Fatalf("err = %v; want the table's 1 GiB over max_memory_bytes", err)
	}
	// Every instance is charged for its tables: with 8 MiB of them each,
	// two instances fit under 20 MiB, and four calls at once share them.
	path = filepath.Join(t.TempDir(), "8mib-table.wasm")
	if err := os.WriteFile(path, withTableMax(t, code, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	inst, _, err := start(t, s, evilManifest, path, nil, tier.Limits{MaxMemory: 20 << 20, MaxInflight: 4})
	if err != nil {
		t.Fatal(err)
	}
	p := inst.(*plugin)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if _, err := call(inst, "sleep", map[string]int{"ms": 300}, 30*time.Second); err != nil {
				t.Errorf("sleep: %v", err)
			}
		})
	}
	time.Sleep(150 * time.Millisecond)
	if n := p.alive(); n > 2 {
		t.Errorf("%d instances with 8 MiB of tables each under a 20 MiB cap", n)
	}
	wg.Wait()
	// Its own table, charged at its size, fits.
	inst, _, err = start(t, s, evilManifest, evilTables(t), nil, tier.Limits{MaxMemory: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	p = inst.(*plugin)
	if p.tableBytes <= 0 || p.mem.inUse() < p.initialMemory+p.tableBytes {
		t.Errorf("tables of %d bytes, budget in use %d for %d bytes of initial memory", p.tableBytes, p.mem.inUse(), p.initialMemory)
	}
}

// withTableMax returns the module with its one table given a maximum of
// max entries.
func withTableMax(t *testing.T, code []byte, max int) []byte {
	t.Helper()
	out := append([]byte(nil), code[:8]...)
	for b := code[8:]; len(b) > 0; {
		id := b[0]
		size, n := readULEB(b[1:])
		data := b[1+n : 1+n+int(size)]
		b = b[1+n+int(size):]
		if id == 4 {
			if data[0] != 1 || data[1] != 0x70 || data[2] != 0 {
				t.Fatalf("table section % x: want one funcref table without a maximum", data)
			}
			min, _ := readULEB(data[3:])
			data = append(append([]byte{1, 0x70, 1}, uleb(int(min))...), uleb(max)...)
		}
		out = append(append(out, id), uleb(len(data))...)
		out = append(out, data...)
	}
	return out
}

// readULEB decodes an unsigned LEB128 number (wasmbin_test.go encodes).
func readULEB(b []byte) (v uint64, n int) {
	for shift := 0; ; shift += 7 {
		c := b[n]
		n++
		v |= uint64(c&0x7f) << shift
		if c&0x80 == 0 {
			return v, n
		}
	}
}

// A module declaring a million locals in each of 50 functions (wazero
// took 416 MiB of the host's memory to compile it) is refused before
// wazero sees it, with an error that says why.
func TestTooManyLocalsRefusedAtStart(t *testing.T) {
	s := newStarter(t)
	var bodies [][]byte
	funcs := make([][]byte, 50)
	for i := range funcs {
		funcs[i] = []byte{0}
		b := append(append([]byte{1}, uleb(1<<20)...), 0x7e, 0x0b) // 2^20 i64 locals; end
		bodies = append(bodies, append(uleb(len(b)), b...))
	}
	bin := []byte{0x00, 'a', 's', 'm', 1, 0, 0, 0}
	for _, sec := range []struct {
		id   byte
		data []byte
	}{{1, vec([]byte{0x60, 0, 0})}, {3, vec(funcs...)}, {10, vec(bodies...)}} {
		bin = append(append(append(bin, sec.id), uleb(len(sec.data))...), sec.data...)
	}
	path := filepath.Join(t.TempDir(), "locals.wasm")
	if err := os.WriteFile(path, bin, 0o644); err != nil {
		t.Fatal(err)
	}
	before := heapSys()
	_, _, err := start(t, s, evilManifest, path, nil, tier.Limits{})
	if !errors.Is(err, tier.ErrStart) || !strings.Contains(err.Error(), "more locals than its code") {
		t.Errorf("err = %v; want the locals refused", err)
	}
	if grew := heapSys() - before; grew > 64<<20 {
		t.Errorf("the host's heap grew by %d MiB", grew>>20)
	}
}

// A module of one function of 100,000 empty blocks one after another
// (292 KB; wazero took 30 s and 229 MiB to compile it) is refused before
// wazero sees it, with an error that says why.
func TestTooComplexRefusedAtStart(t *testing.T) {
	s := newStarter(t)
	code := []byte{0}
	for range 100000 {
		code = append(code, 0x02, 0x40, 0x0b) // block; end
	}
	code = append(code, 0x0b)
	bin := []byte{0x00, 'a', 's', 'm', 1, 0, 0, 0}
	for _, sec := range []struct {
		id   byte
		data []byte
	}{{1, vec([]byte{0x60, 0, 0})}, {3, vec([]byte{0})}, {10, vec(append(uleb(len(code)), code...))}} {
		bin = append(append(append(bin, sec.id), uleb(len(sec.data))...), sec.data...)
	}
	path := filepath.Join(t.TempDir(), "blocks.wasm")
	if err := os.WriteFile(path, bin, 0o644); err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	_, _, err := start(t, s, evilManifest, path, nil, tier.Limits{})
	t.Logf("refused in %v", time.Since(begin))
	if !errors.Is(err, tier.ErrStart) || !strings.Contains(err.Error(), "too complex to compile") {
		t.Errorf("err = %v; want the module refused as too complex", err)
	}
}

// Every call into an instance starts from the whole stack bound: the
// rewritten code leaves the global at the level of the last function it
// entered, and the host sets it again before each entry. An instance
// serving hundreds of calls that each recurse to about two thirds of the
// bound answers every one; a call going past the bound is refused, and
// the next instance answers again.
func TestEveryCallStartsFromTheWholeStack(t *testing.T) {
	s := newStarter(t)
	inst, _, err := start(t, s, evilManifest, evil(t), nil, tier.Limits{MaxMemory: 64 << 20, MaxInflight: 1})
	if err != nil {
		t.Fatal(err)
	}
	// The bound is 512 KiB; a level of bounded() takes 80 bytes
	// (instrument.FrameUnits): 6,500 levels.
	for i := range 300 {
		out, err := call(inst, "attack", "depth:3500", 10*time.Second)
		if err != nil || string(out) != "3500" {
			t.Fatalf("call %d, 3500 calls deep: %s, %v", i, out, err)
		}
	}
	// About 720 KiB of frames: past the plugin's bound, within the
	// global's default (instrument.DefaultStack, 1 MiB), which a call
	// would start from if the host did not set the bound.
	if _, err := call(inst, "attack", "depth:9000", 10*time.Second); !errors.Is(err, tier.ErrCrashed) || !strings.Contains(err.Error(), "bound of 512 KiB") {
		t.Fatalf("9000 calls deep: err = %v; want the call stack's bound of 512 KiB", err)
	}
	if out, err := call(inst, "attack", "depth:3500", 10*time.Second); err != nil || string(out) != "3500" {
		t.Fatalf("after the refused call: %s, %v", out, err)
	}
}

// The start functions start from the plugin's stack bound too: the host
// sets it and then calls them. (wazero would run them at instantiation,
// before the host can set it, from the global's initial level of 1 MiB,
// eight times this plugin's bound.)
func TestStartFunctionsStartFromTheStackBound(t *testing.T) {
	s := newStarter(t)
	module := evil(t)
	// 16 MiB of memory: a stack bound of 128 KiB. A level of bounded()
	// takes 80 bytes (instrument.FrameUnits): 1,600 levels.
	limits := tier.Limits{MaxMemory: 16 << 20}
	t.Setenv(atStart, "depth:1000")
	inst, _, err := start(t, s, evilManifest, module, []string{atStartGrant}, limits)
	if err != nil {
		t.Fatalf("1,000 calls deep in _initialize: %v", err)
	}
	inst.Stop(t.Context())
	// About 470 KiB: past the bound, within the global's initial level.
	t.Setenv(atStart, "depth:6000")
	_, _, err = start(t, s, evilManifest, module, []string{atStartGrant}, limits)
	if !errors.Is(err, tier.ErrStart) || !strings.Contains(err.Error(), "_initialize") || !strings.Contains(err.Error(), "bound of 128 KiB") {
		t.Fatalf("6,000 calls deep in _initialize: err = %v; want ErrStart naming _initialize and the bound of 128 KiB", err)
	}
}

// What wazero makes for each instance of a module's globals (and
// imports, element entries and data segments: instrument.RecordBytes) is
// charged to the plugin's memory budget. Threat: 200,000 globals, a
// module of a megabyte, made wazero allocate 17 MiB of the host's memory
// for every instance, outside any cap. Here they do not fit under a cap
// of 16 MiB, and the plugin is refused before anything is instantiated.
func TestInstanceRecordsCharged(t *testing.T) {
	s := newStarter(t)
	module := contractModule(t, "globals.wasm", globalsSection(200_000), nil)
	_, _, err := start(t, s, evilManifest, module, nil, tier.Limits{MaxMemory: 16 << 20})
	if !errors.Is(err, tier.ErrResourceCaps) || !strings.Contains(err.Error(), "records of its globals") {
		t.Fatalf("200,000 globals under a cap of 16 MiB: err = %v; want ErrResourceCaps naming the records", err)
	}
}

// Sixteen instances recursing at once, through a function pointer with
// nothing on the C stack: wazero would grow each call's stack to about
// 100 MB outside any cap (four at once took 617 MiB, measured with
// wazero alone); the rewriting's bound stops each at a 128th of
// max_memory_bytes, which the budget holds.
func TestRecursionBoundedByTheCap(t *testing.T) {
	s := newStarter(t)
	inst, _, err := start(t, s, evilManifest, evil(t), nil, tier.Limits{MaxMemory: 64 << 20, MaxInflight: 16})
	if err != nil {
		t.Fatal(err)
	}
	before := heapSys()
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			_, err := call(inst, "wasmstack", nil, 30*time.Second)
			if !errors.Is(err, tier.ErrCrashed) || !strings.Contains(err.Error(), "call stack exhausted") || !strings.Contains(err.Error(), "bound of 512 KiB") {
				t.Errorf("err = %v; want the call stack's bound of 512 KiB named", err)
			}
		})
	}
	wg.Wait()
	if grew := heapSys() - before; grew > 128<<20 {
		t.Errorf("the host's heap grew by %d MiB while 16 guests recursed", grew>>20)
	}
}
