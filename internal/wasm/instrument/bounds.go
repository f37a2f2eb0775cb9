package instrument

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
)

// The bounds on what a module can make wazero spend of the host outside
// the plugin's caps (the package comment lists them): its tables, its
// locals, its control flow, and its call stack.

// ErrTooComplex is wrapped by the error for a module whose functions have
// more blocks and branches than its size allows (compileBudget).
var ErrTooComplex = errors.New("control flow too complex to compile")

// ErrTooManyLocals is wrapped by the error for a module declaring more
// locals than its code could use (moduleLocals).
var ErrTooManyLocals = errors.New("too many locals")

// The call stack's bound. Threat: wazero grows a call's stack until it
// passes about 50 MB, to about 100 MB, outside any memory cap: a guest
// recursing in four instances at once made a host allocate 617 MiB. The
// rewritten module keeps what is left of its stack in a mutable i32
// global, exported as StackExport, in units of StackUnit bytes, as a
// level: a function the module defines takes its own frame (FrameUnits)
// from the level it finds at its entry, keeps what is left in a local
// (the level its callees start from) and traps (unreachable) when it
// would go below zero; before each call that may take a frame it stores
// its own level back into the global, so that whatever the last callee
// left there is overwritten. Nothing gives a frame back: the level a
// callee finds is its caller's, wherever the call is made. (A store left
// out would leave a callee the deeper level of an earlier call: a bound
// too tight, never too loose.) The host sets the global before every
// entry into the guest (DefaultStack until it does) and, after an
// unreachable trap, reads it: below zero, the stack ran out. So that the
// host enters the start function too, the rewritten module has no start
// section: the function is exported as StartExport, for the host to
// call right after instantiation.
const (
	StackExport  = "airlock_stack_left"
	StartExport  = "airlock_start"
	StackUnit    = 16
	DefaultStack = 1 << 20
)

// FrameUnits is the weight of a frame of a function with n parameters
// and locals: a slot of StackUnit bytes for each, and four for the
// frame's own bookkeeping (wazero's frames hold the locals it spills,
// the return address and the caller's frame pointer).
func FrameUnits(n uint32) uint32 { return 4 + n }

// rewriteTables gives every table without a maximum its minimum as its
// maximum: such a table cannot grow. Threat: table.grow on a table
// without a maximum makes wazero allocate 8 bytes an entry, up to 2^32
// entries, outside any memory cap (one instruction made a host allocate
// 8 GiB, and the kernel killed it); a table's entries are charged to the
// plugin's memory budget at their maximum instead (TableBytes). A
// declared maximum is kept.
func (m *module) rewriteTables(b []byte) ([]byte, error) {
	r := &reader{b: b}
	n := r.u32()
	out := appendUleb(make([]byte, 0, len(b)+8), uint64(n))
	for i := uint32(0); i < n && r.err == nil; i++ {
		start := r.pos
		r.valType(m.checkType)
		out = append(out, r.b[start:r.pos]...)
		lo, hi := readLimits(r)
		out = appendUleb(appendUleb(append(out, 1), uint64(lo)), uint64(hi))
	}
	return out, r.end()
}

// TableBytes returns what the tables of module wasm, as Module rewrites
// it, may take of the host's memory in one instance: 8 bytes an entry,
// up to each table's maximum (its minimum where it declares none).
func TableBytes(wasm []byte) (int64, error) {
	m, err := sectionsOf(wasm)
	if err != nil {
		return 0, err
	}
	var entries int64
	for _, s := range m.sections {
		if s.id != secTable {
			continue
		}
		r := &reader{b: s.data}
		n := r.u32()
		for i := uint32(0); i < n && r.err == nil; i++ {
			r.valType(^uint32(0))
			_, hi := readLimits(r)
			entries += int64(hi)
		}
		if err := r.end(); err != nil {
			return 0, fmt.Errorf("table section: %w", err)
		}
	}
	return entries * tableEntryBytes, nil
}

// sectionsOf returns module wasm cut into its sections, and nothing read
// of them yet.
func sectionsOf(wasm []byte) (*module, error) {
	if len(wasm) < 8 {
		return nil, fmt.Errorf("not a WebAssembly module: %v", errTruncated)
	}
	m := &module{}
	return m, m.split(wasm[8:])
}

// tableEntryBytes is what wazero holds for one table entry: a pointer.
const tableEntryBytes = 8

// What wazero v1.12.0 holds of the host's memory in each instance for
// one of a module's records, measured (16 instances of a module of
// hundreds of thousands of each, heap growth after a collection) and
// rounded up: a global 88 bytes, an element segment's entry 41 (its
// reference, and the function instance it points to), a function import
// 40, a data segment 24, a table 112 besides its entries (TableBytes).
// Exports, types and functions cost an instance nothing that grows with
// their number.
const (
	globalRecordBytes  = 96
	elementRecordBytes = 48
	importRecordBytes  = 48
	dataRecordBytes    = 32
	tableRecordBytes   = 128
)

// RecordBytes returns what wazero makes of the host's memory for one
// instance of module wasm, as Module rewrites it, besides its linear
// memory, table entries and call stack: records for each of its
// globals, function imports, element segments' entries, data segments
// and tables. Threat: a module of a megabyte declaring a million element
// entries, or half a million globals, made wazero allocate 40 MiB of the
// host's memory for every instance, outside any cap: 16 instances, 640
// MiB; at the largest module size, gigabytes an instance (100,000 empty
// tables, 300 KB, took 11 MiB an instance). The host charges it to the
// plugin's memory budget with each instance, as it charges the tables'
// entries.
func RecordBytes(wasm []byte) (int64, error) {
	m, err := sectionsOf(wasm)
	if err != nil {
		return 0, err
	}
	var c recordCounts
	for _, s := range m.sections {
		var err error
		switch s.id {
		case secImport:
			err = c.imports(s.data)
		case secGlobal:
			err = c.add(&c.globals, s.data)
		case secElement:
			err = c.elements(s.data)
		case secData:
			err = c.add(&c.data, s.data)
		case secTable:
			err = c.add(&c.tables, s.data)
		}
		if err != nil {
			return 0, fmt.Errorf("section %d: %w", s.id, err)
		}
	}
	return c.globals*globalRecordBytes + c.funcImports*importRecordBytes +
		c.elementEntries*elementRecordBytes + c.data*dataRecordBytes +
		c.tables*tableRecordBytes, nil
}

// recordCounts counts a module's records that cost each instance memory.
type recordCounts struct {
	globals, funcImports, elementEntries, data, tables int64
}

// add adds the count of a section's vector to *n.
func (c *recordCounts) add(n *int64, b []byte) error {
	r := &reader{b: b}
	*n += int64(r.u32())
	return r.err
}

// imports counts the function and global imports.
func (c *recordCounts) imports(b []byte) error {
	r := &reader{b: b}
	n := r.u32()
	for i := uint32(0); i < n && r.err == nil; i++ {
		r.name()
		r.name()
		kind := r.byte()
		importDesc(r, kind, ^uint32(0))
		switch kind {
		case importFunc:
			c.funcImports++
		case importTable:
			c.tables++
		case importGlobal:
			c.globals++
		}
	}
	return r.end()
}

// elements counts the entries of the element segments, active or
// passive (wazero makes the references of both for each instance).
func (c *recordCounts) elements(b []byte) error {
	// The module has been validated: its indices are not checked here.
	lax := &module{globals: ^uint32(0), funcImports: ^uint32(0)}
	r := &reader{b: b}
	n := r.u32()
	for i := uint32(0); i < n && r.err == nil; i++ {
		flags := r.u32()
		if flags > 7 {
			r.fail("element segment flags %d: %v", flags, ErrUnsupported)
			break
		}
		if flags&2 != 0 && flags&1 == 0 {
			r.u32()
		}
		if flags&1 == 0 {
			lax.constExpr(r, nil)
		}
		if flags&3 != 0 {
			r.valType(^uint32(0))
		}
		count := r.u32()
		c.elementEntries += int64(count)
		for j := uint32(0); j < count && r.err == nil; j++ {
			if flags&4 != 0 {
				lax.constExpr(r, nil)
			} else {
				r.u32()
			}
		}
	}
	return r.end()
}

// compileBudget bounds, for a code section of n bytes, the sum over a
// module's functions of each one's compileCost: 2^26 plus 256 for every
// byte. Threat: wazero's compiler takes time quadratic in a function's
// basic blocks (its loop detection walks the dominator tree from every
// block, and a chain of blocks makes that tree as deep as the chain),
// and in its locals live across them: a function of 100,000 empty
// blocks one after another, 292 KB, took it 30 s and 229 MiB to compile,
// 100,000 ifs over two minutes, and a module of a few such functions
// would hold the host's Load for hours, outside any deadline, before any
// of its code runs. At about 16 ns a unit (the costliest shape measured,
// blocks branching out of a deep nest), the bound is about 1 s, and 4 s
// for every megabyte of code; one function of a small module
// may have 8,192 blocks and branches (the largest of Go's runtime here
// has about 1,000, C's printf about 560).
func compileBudget(n int) uint64 { return 1<<26 + 256*uint64(n) }

// compileCost estimates, in the units of compileBudget, what wazero
// spends compiling a function of b blocks and branches and l parameters
// and locals: b² for its loop detection, and l²·b/64 for the values it
// carries into every block (60,000 locals live across 10 blocks and
// branches, 612 KB, took it 17 s; the time grows with the square of the
// locals and with the blocks). It saturates rather than wraps.
func compileCost(b, l uint64) uint64 {
	hi, ll := bits.Mul64(l, l)
	hi2, llb := bits.Mul64(ll, b)
	if hi != 0 || hi2 != 0 {
		return math.MaxUint64
	}
	sum, carry := bits.Add64(b*b, llb/64, 0)
	if carry != 0 || b > math.MaxUint32 {
		return math.MaxUint64
	}
	return sum
}

// controlWeight is what an instruction adds to its function's count of
// blocks and branches: an if makes two blocks (its arms' join too); a
// br_table adds its targets besides (decode: one of 100,000 targets took
// wazero 1.5 s to compile, one of a million over two minutes).
func controlWeight(code byte) uint64 {
	switch code {
	case 0x02, 0x03, 0x05, 0x0c, 0x0d, 0x0e: // block, loop, else, br, br_if, br_table
		return 1
	case 0x04: // if
		return 2
	}
	return 0
}

// moduleLocals bounds the locals of all a module's functions together,
// for a code section of n bytes: n plus 65,536. Threat: wazero's
// compiler keeps machine code for every local it zeroes at a function's
// entry, about 8 bytes each; a module of 428 bytes declaring a million
// locals in each of 50 functions took 416 MiB of the host's memory to
// compile, and one of a few kilobytes would take all of it, outside any
// memory cap, before any of its code runs. Compilers declare locals for
// code that uses them (Go's 3.5 MB test guest: 13,607; C at -O0: 12 for
// every 100 bytes of a function at most), far below the bound.
func moduleLocals(n int) uint64 { return uint64(n) + 1<<16 }

// scanFrames reads, before any body is rewritten (a call may name a
// function defined after it), the locals every function declares and
// whether it makes calls, into m.frames and m.typeFrames. A call to a
// function that makes none, of a frame under maxLeafFrame, is not
// counted (a zero frame): it cannot take the stack deeper than its own
// frame, and the small functions a call path ends in (memcpy, strlen)
// are most of a C guest's calls.
func (m *module) scanFrames(b []byte) error {
	r := &reader{b: b}
	n := r.u32()
	m.frames = make([]uint32, 0, min(n, uint32(len(m.funcTypes))))
	m.typeFrames = make([]uint32, len(m.paramCounts))
	scan := &body{m: m, locals: math.MaxUint32} // the rewriting checks the indices
	for i := uint32(0); i < n && i < uint32(len(m.funcTypes)) && r.err == nil; i++ {
		size := r.uleb(32)
		next := r.pos + int(min(size, uint64(len(r.b)-r.pos)))
		t := m.funcTypes[i]
		locals := uint64(m.paramCounts[t])
		for e := r.u32(); e > 0 && r.err == nil; e-- {
			locals += uint64(r.u32())
			r.valType(m.checkType)
		}
		frame := FrameUnits(uint32(min(locals, maxLocals)))
		if frame <= maxLeafFrame && r.err == nil && !scan.calls(&reader{b: r.b[:next], pos: r.pos}) {
			frame = 0
		}
		m.frames = append(m.frames, frame)
		c := m.canonType[t]
		m.typeFrames[c] = max(m.typeFrames[c], frame)
		r.pos = next
	}
	return r.err
}

// maxLeafFrame is the largest frame, in StackUnit, of a function that
// makes no calls whose calls are not counted: 1 KiB.
const maxLeafFrame = 64

// calls reports whether the instructions r holds make a call, or may
// (any it cannot read).
func (bd *body) calls(r *reader) bool {
	for r.pos < len(r.b) && r.err == nil {
		switch code := r.byte(); code {
		case 0x02, 0x03, 0x04: // block, loop, if
			bd.blockType(r)
		case 0x0c, 0x0d, 0xd2: // br, br_if, ref.func
			r.u32()
		case 0x0e: // br_table
			for n := r.u32(); n > 0 && r.err == nil; n-- {
				r.u32()
			}
			r.u32()
		case 0x0b, 0x0f: // end, return
		case 0x10, 0x11, 0x12, 0x13: // call, call_indirect, return_call, return_call_indirect
			return true
		default:
			bd.immediates(r, code)
		}
	}
	return r.err != nil
}

// takeStack appends, at the entry of a function with a frame: level =
// stack - frame; stack = level; and ORs the level into the value on the
// operand stack (the fuel left, chargeEntry), so that one branch on the
// sign takes both to the entry's cold path (a second branch cost
// Fibonacci a tenth more).
func (bd *body) takeStack(out []byte) []byte {
	return append(bd.takeLevel(out), opcodeI32Or)
}

// takeLevel appends: level = stack - frame; stack = level; leaving the
// level on the operand stack.
func (bd *body) takeLevel(out []byte) []byte {
	stack, level := uint64(bd.m.globals+1), uint64(bd.stackLocal)
	out = appendUleb(append(out, opcodeGlobalGet), stack)
	out = appendSleb(append(out, opcodeI32Const), int64(bd.frame))
	out = append(out, opcodeI32Sub)
	out = appendUleb(append(out, opcodeLocalTee), level)
	out = appendUleb(append(out, opcodeGlobalSet), stack)
	return appendUleb(append(out, opcodeLocalGet), level)
}

// stackCold appends, on the entry's cold path (before the check and the
// call that runs the body again): if stack < 0 trap; stack += frame
// (back to the level the function found, which the call takes from
// again). It reads the global, which holds the level the entry stored
// (no call came between), so that the local is read only before calls.
func (bd *body) stackCold(out []byte) []byte {
	stack := uint64(bd.m.globals + 1)
	out = appendUleb(append(out, opcodeGlobalGet), stack)
	out = append(out, opcodeI32Const, 0, opcodeI32LtS, opcodeIf, blockEmpty, opcodeUnreachable, opcodeEnd)
	out = appendUleb(append(out, opcodeGlobalGet), stack)
	out = appendSleb(append(out, opcodeI32Const), int64(bd.frame))
	out = append(out, opcodeI32Add)
	return appendUleb(append(out, opcodeGlobalSet), stack)
}

// takeStackInline appends, at the entry of a function whose check is on
// its path (entryInline): level = stack - frame; stack = level; if level
// < 0 trap.
func (bd *body) takeStackInline(out []byte) []byte {
	return append(bd.takeLevel(out), opcodeI32Const, 0, opcodeI32LtS, opcodeIf, blockEmpty, opcodeUnreachable, opcodeEnd)
}

// storeLevel appends, before a call whose callee may take a frame:
// stack = level; before a tail call, whose callee takes the function's
// place, stack = level + frame (the level the function found).
func (bd *body) storeLevel(out []byte, tail bool) []byte {
	out = appendUleb(append(out, opcodeLocalGet), uint64(bd.stackLocal))
	if tail {
		out = appendSleb(append(out, opcodeI32Const), int64(bd.frame))
		out = append(out, opcodeI32Add)
	}
	return appendUleb(append(out, opcodeGlobalSet), uint64(bd.m.globals+1))
}
