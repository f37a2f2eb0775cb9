package wasm

import (
	"os"
	"path/filepath"
	"testing"
)

// startSectionModule writes, and returns the path of, a module that keeps
// the contract (its exports do nothing useful) and whose start section,
// which the host runs right after instantiation, loops for ever. No C or
// Go compiler emits a start section for a reactor, so it is assembled
// here, from this source:
//
//	(module
//	  (memory (export "memory") 1)
//	  (func $start (loop br 0))
//	  (func (export "airlock_alloc") (param i32) (result i32) i32.const 0)
//	  (func (export "airlock_free") (param i32 i32))
//	  (func (export "airlock_init") (param i32 i32) (result i64) i64.const 0)
//	  (func (export "airlock_call") (param i32 i32) (result i64) i64.const 0)
//	  (start $start))
func startSectionModule(t *testing.T) string {
	return contractModule(t, "start-section.wasm", nil, []byte{0})
}

// contractModule writes, and returns the path of, startSectionModule's
// module with the global section globals (nil: none) and the start
// section start (nil: none).
func contractModule(t *testing.T, name string, globals, start []byte) string {
	t.Helper()
	const (
		i32, i64, fn = 0x7f, 0x7e, 0x60
		end          = 0x0b
	)
	types := vec(
		[]byte{fn, 0, 0},
		[]byte{fn, 1, i32, 1, i32},
		[]byte{fn, 2, i32, i32, 0},
		[]byte{fn, 2, i32, i32, 1, i64},
	)
	funcs := vec([]byte{0}, []byte{1}, []byte{2}, []byte{3}, []byte{3})
	memory := vec([]byte{0x00, 1}) // min 1 page, no max
	exports := vec(
		export("memory", 0x02, 0),
		export("airlock_alloc", 0x00, 1),
		export("airlock_free", 0x00, 2),
		export("airlock_init", 0x00, 3),
		export("airlock_call", 0x00, 4),
	)
	code := vec(
		body(0x03, 0x40, 0x0c, 0x00, end, end), // loop (br 0) end
		body(0x41, 0x00, end),                  // i32.const 0
		body(end),
		body(0x42, 0x00, end), // i64.const 0
		body(0x42, 0x00, end),
	)
	bin := []byte{0x00, 'a', 's', 'm', 1, 0, 0, 0}
	for _, s := range []struct {
		id   byte
		data []byte
	}{{1, types}, {3, funcs}, {5, memory}, {6, globals}, {7, exports}, {8, start}, {10, code}} {
		if s.data == nil {
			continue
		}
		bin = append(bin, s.id)
		bin = append(bin, uleb(len(s.data))...)
		bin = append(bin, s.data...)
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, bin, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// globalsSection declares n mutable i32 globals, each 0.
func globalsSection(n int) []byte {
	out := uleb(n)
	for range n {
		out = append(out, 0x7f, 0x01, 0x41, 0x00, 0x0b)
	}
	return out
}

func vec(items ...[]byte) []byte {
	out := uleb(len(items))
	for _, it := range items {
		out = append(out, it...)
	}
	return out
}

func export(name string, kind byte, index int) []byte {
	out := append(uleb(len(name)), name...)
	return append(append(out, kind), uleb(index)...)
}

// body is a function body with no locals.
func body(instrs ...byte) []byte {
	b := append([]byte{0}, instrs...)
	return append(uleb(len(b)), b...)
}

func uleb(n int) []byte {
	var out []byte
	for {
		b := byte(n & 0x7f)
		n >>= 7
		if n == 0 {
			return append(out, b)
		}
		out = append(out, b|0x80)
	}
}
