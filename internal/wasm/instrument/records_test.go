package instrument

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/tetratelabs/wazero"
)

// RecordBytes covers what wazero really makes of the host's memory for
// each instance of a module full of one kind of record, and is not far
// above it: 8 instances of each module are made and the heap's growth
// after a collection, per instance, is compared with what an instance
// is charged (its records and its tables). If wazero made more for a
// record, the charge would no longer hold the budget, and this fails.
func TestRecordBytesCoverWhatWazeroHolds(t *testing.T) {
	const n = 100_000
	noop := fbody([]byte{0}, 0x0b)
	cases := []struct {
		name string
		wasm []byte
	}{
		{"globals", wasmOf(
			sec(secGlobal, repeat(n, 0x7f, 0x01, 0x41, 0x00, 0x0b)))},
		{"v128 globals", wasmOf(
			sec(secGlobal, repeat(n, append(append([]byte{0x7b, 0x01, 0xfd, 0x0c}, make([]byte, 16)...), 0x0b)...)))},
		{"passive element entries", wasmOf(
			sec(secType, vec([]byte{0x60, 0, 0})),
			sec(secFunction, vec([]byte{0})),
			sec(secElement, append(appendUleb([]byte{1, 0x01, 0x00}, n), make([]byte, n)...)),
			sec(secCode, vec(noop)))},
		{"active element entries in a table", wasmOf(
			sec(secType, vec([]byte{0x60, 0, 0})),
			sec(secFunction, vec([]byte{0})),
			sec(secTable, vec(appendUleb([]byte{0x70, 0x00}, n))),
			sec(secElement, append(appendUleb([]byte{1, 0x00, 0x41, 0x00, 0x0b}, n), make([]byte, n)...)),
			sec(secCode, vec(noop)))},
		{"function imports", wasmOf(
			sec(secType, vec([]byte{0x60, 0, 1, 0x7f})),
			sec(secImport, repeat(n, 1, 'x', 1, 'f', 0x00, 0x00)))},
		{"passive data segments", wasmOf(
			sec(secDataCount, appendUleb(nil, n)),
			sec(secData, repeat(n, 0x01, 0x01, 0x00)))},
		{"empty tables", wasmOf(
			sec(secTable, repeat(n, 0x70, 0x00, 0x00)))},
		{"active data segments", wasmOf(
			sec(secMemory, vec([]byte{0x00, 1})),
			sec(secData, repeat(n, 0x00, 0x41, 0x00, 0x0b, 0x01, 0x00)))},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := mustInstrument(t, c.wasm)
			records, err := RecordBytes(out)
			if err != nil {
				t.Fatal(err)
			}
			tables, err := TableBytes(out)
			if err != nil {
				t.Fatal(err)
			}
			charged := records + tables
			grew := instanceHeap(t, out, 8)
			t.Logf("%d records: %d bytes an instance, charged %d", n, grew, charged)
			if grew > charged {
				t.Errorf("an instance took %d bytes of the host's heap, charged %d", grew, charged)
			}
			if grew < charged/2 {
				t.Errorf("an instance took %d bytes of the host's heap, charged %d: the charge is far off", grew, charged)
			}
		})
	}
}

// repeat is a vector of n copies of item.
func repeat(n int, item ...byte) []byte {
	out := appendUleb(nil, uint64(n))
	for range n {
		out = append(out, item...)
	}
	return out
}

// instanceHeap instantiates wasm k times (with an "x" module exporting
// f, () -> i32, to import) and returns the host's heap growth per
// instance, after a collection.
func instanceHeap(t *testing.T, wasm []byte, k int) int64 {
	t.Helper()
	ctx := context.Background()
	h := newHost(t, 1<<16)
	_, err := h.rt.NewHostModuleBuilder("x").NewFunctionBuilder().
		WithFunc(func() int32 { return 0 }).Export("f").Instantiate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	compiled, err := h.rt.CompileModule(ctx, wasm)
	if err != nil {
		t.Fatal(err)
	}
	before := heapInUse()
	for i := range k {
		if _, err := h.rt.InstantiateModule(ctx, compiled, wazero.NewModuleConfig().WithName(fmt.Sprint(i)).WithStartFunctions()); err != nil {
			t.Fatal(err)
		}
	}
	grew := heapInUse() - before
	runtime.KeepAlive(compiled)
	return grew / int64(k)
}

func heapInUse() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}
