// Package instrument rewrites a WebAssembly module so that a host can
// stop its code at any time without wazero's own termination checks:
// the module is charged fuel as it runs, and calls into the host whenever
// its fuel runs out.
//
// Threat: a guest that never returns (a loop without calls, recursion
// without loops) holding its call, a core and, since compiled wasm code
// is not preemptible by Go's scheduler, the host's garbage collector. The
// rewritten module calls the host's check function, the import
// ImportModule.ImportName of type () -> i32, whenever it has spent the
// fuel the last check returned (one unit an instruction, about); the host
// ends the call there (a panic with a *sys.ExitError unwinds the guest in
// wazero) or returns the fuel for the next stretch.
//
// What is rewritten, and why it cannot be undone by the guest:
//
//   - a mutable i32 global, the fuel, is added after the module's own
//     globals. Nothing in the module can name it: every global index in
//     the module is checked to be below the module's own count of
//     globals, so an index the module could only have meant to be out of
//     range (and so invalid) does not become ours. It is neither
//     exported nor importable.
//   - a function import, ImportModule.ImportName, is added after the
//     module's own function imports; a module that already imports from
//     ImportModule is refused. Adding it shifts the index of every
//     function the module defines by one, so every call, ref.func,
//     element segment, export, start function, global initializer and
//     function name is renumbered.
//   - each function gets one more i32 local (after its own, which are
//     checked the same way; a second, a scratch, with counted loops)
//     holding the fuel inside loops, so that a loop
//     counts in a register; it is loaded from the global when a loop is
//     entered from outside any loop, and stored back before calls and
//     wherever control leaves every loop, so that no spending is lost.
//   - at each function's entry the global is charged the longest path
//     through the function's code outside its loops; at each loop header
//     the local is charged the longest path through an iteration, inner
//     loops left to their own charges (paths.go): a subtraction, a
//     compare and a branch. When the fuel drops below zero the check is
//     called. After a call from inside a loop, the local is reloaded.
//   - a loop without parameters or results branches out of itself to
//     call the check, and enters itself again at its header (wrapOpen in
//     code.go), so that no call sits on its path: a call there, even one
//     never made, had wazero keep the loop's values in memory.
//   - likewise a function's entry branches out of its body when the
//     fuel runs out, to call the check after the body's end and then the
//     function itself with its parameters, which runs the body from its
//     start (entryOpen in code.go): the charge at entry is a load, a
//     subtraction, a store and a branch never taken.
//   - a loop whose header is followed by nothing but straight-line code
//     and a call to one of the module's functions is charged at that call
//     instead (every iteration makes it, and the callee checks at its
//     entry); not at all when the callee's own charge is at least the
//     loop's, so that the fuel goes through memory once a call, not twice.
//   - an innermost loop without calls whose trip count its code bounds
//     (clang's counted loops: an induction variable stepped once an
//     iteration and compared with a bound the loop does not write) is
//     charged before it runs, for the iterations the bound allows, and
//     then runs a copy of itself without a charge; its exits give back
//     what it did not run (counted.go).
//   - a custom section names the rewriting's Version, so that a
//     compilation cache keyed by the module's bytes never serves code
//     from another version.
//
// It also bounds what a module can make wazero spend of the host's
// memory and time outside the plugin's caps, before or while its code
// runs (threat: a module of a few kilobytes that takes the host down as
// it is compiled or run):
//
//   - a table without a maximum gets its size as its maximum, so that
//     table.grow cannot allocate without bound (rewriteTables), and the
//     host charges each instance's tables to the plugin's memory budget
//     (TableBytes);
//   - a module may declare no more locals than its code's size plus
//     65,536 (moduleLocals), nor more blocks and branches than its size
//     allows (compileBudget): wazero's compiler spends memory on every
//     local and time quadratic in a function's blocks;
//   - every function the module defines that makes calls (or has a
//     large frame) takes its frame, at its entry, from the stack level
//     it finds in a global the host sets at every entry into the guest,
//     and stores its own level back before each call that may take one;
//     an entry that would take the level below zero traps (StackExport).
//     The level's check shares the fuel's branch at entry.
//   - a start section is dropped and its function exported as
//     StartExport, for the host to call once it has set the stack's
//     bound: the start function is an entry like any other, and wazero
//     would run it at instantiation, before the host can set anything,
//     from the global's initial level (DefaultStack), looser than a
//     small plugin's bound.
//
// The rewriter decodes every instruction of wazero's core features 2.0
// (MVP, sign extension, saturating conversions, bulk memory, reference
// types, multiple values, SIMD) and refuses anything else; wazero
// validates the result when it compiles it.
package instrument

import (
	"errors"
	"fmt"
)

// Version identifies the rewriting. Bump it whenever the output for a
// module may change, or what it refuses (a cached rewrite is not
// checked again).
const Version = 15

// The import the rewritten module calls when its fuel runs out.
const (
	ImportModule = "airlock_interrupt"
	ImportName   = "check"
)

// versionSection is the custom section naming the rewriting's version.
const versionSection = "airlock.instrument"

// maxCharge bounds a single charge, well below the range of an i32.
const maxCharge = 1 << 16

// ErrUnsupported is wrapped by the errors for modules the rewriter does
// not handle (they may still be valid WebAssembly).
var ErrUnsupported = errors.New("not supported by the instrumentation")

// Section ids.
const (
	secCustom    = 0
	secType      = 1
	secImport    = 2
	secFunction  = 3
	secTable     = 4
	secMemory    = 5
	secGlobal    = 6
	secExport    = 7
	secStart     = 8
	secElement   = 9
	secCode      = 10
	secData      = 11
	secDataCount = 12
)

// order ranks the known sections in the order the format requires.
var order = map[byte]int{
	secType: 1, secImport: 2, secFunction: 3, secTable: 4, secMemory: 5,
	secGlobal: 6, secExport: 7, secStart: 8, secElement: 9,
	secDataCount: 10, secCode: 11, secData: 12,
}

type section struct {
	id   byte
	data []byte
}

// module is what the rewriting needs to know of the original module.
type module struct {
	sections []section

	paramCounts []uint32 // per type
	// resultBlocks are, per type, the block type of a block with its
	// results and no parameters, or 0 if that needs a type index.
	resultBlocks []byte
	funcTypes    []uint32 // per defined function
	funcImports  uint32   // K: functions imported before ours
	globals      uint32   // globals, imported and defined, before ours
	checkType    uint32   // the type () -> i32 added for the import
	localsLeft   uint64   // locals the functions not yet read may declare (moduleLocals)
	compileLeft  uint64   // what is left of the module's compileBudget
	frames       []uint32 // per defined function, FrameUnits of its parameters and locals
	typeFrames   []uint32 // per type, the largest frame of a function of its signature (call_indirect), at canonType
	canonType    []uint32 // per type, the first type of the same signature
	importTypes  []uint32 // per imported function, its type
	start        uint32   // the start section's function (original index)
	hasStart     bool     // whether the module has a start section
}

// Module returns the module wasm, rewritten as the package describes.
// The input is not modified.
func Module(wasm []byte) ([]byte, error) {
	if len(wasm) < 8 || string(wasm[:4]) != "\x00asm" || string(wasm[4:8]) != "\x01\x00\x00\x00" {
		return nil, errors.New("not a WebAssembly 1.0 binary module")
	}
	m := &module{}
	if err := m.split(wasm[8:]); err != nil {
		return nil, err
	}
	if err := m.survey(); err != nil {
		return nil, err
	}
	out := append([]byte(nil), wasm[:8]...)
	// The version first: wazero reads a custom section that ends the
	// module differently from one that does not.
	ver := appendName(nil, versionSection)
	ver = fmt.Appendf(ver, "v%d", Version)
	out = append(out, secCustom)
	out = appendUleb(out, uint64(len(ver)))
	out = append(out, ver...)
	for _, s := range m.sections {
		data, err := m.rewrite(s)
		if err != nil {
			return nil, fmt.Errorf("section %d: %w", s.id, err)
		}
		if data == nil {
			continue
		}
		out = append(out, s.id)
		out = appendUleb(out, uint64(len(data)))
		out = append(out, data...)
	}
	return out, nil
}

// split cuts the module into sections, and adds empty type, import and
// global sections where the module has none, in their places.
func (m *module) split(b []byte) error {
	r := &reader{b: b}
	last := 0
	for !r.done() {
		id := r.byte()
		data := r.bytes(r.uleb(32))
		if r.err != nil {
			return r.err
		}
		if id != secCustom {
			rank, ok := order[id]
			if !ok {
				return fmt.Errorf("section %d: %w", id, ErrUnsupported)
			}
			if rank <= last {
				return fmt.Errorf("section %d out of order or repeated", id)
			}
			last = rank
		}
		m.sections = append(m.sections, section{id, data})
	}
	if r.err != nil {
		return r.err
	}
	for _, id := range []byte{secType, secImport, secGlobal, secExport} {
		m.ensure(id)
	}
	return nil
}

// ensure adds an empty section id if there is none, right after the
// last section that must come before it (so that a custom section that
// ended the module still does).
func (m *module) ensure(id byte) {
	at := 0
	for i, s := range m.sections {
		if s.id == id {
			return
		}
		if s.id != secCustom && order[s.id] < order[id] {
			at = i + 1
		}
	}
	m.sections = append(m.sections[:at], append([]section{{id, []byte{0}}}, m.sections[at:]...)...)
}

// survey reads the types, imports, functions and globals.
func (m *module) survey() error {
	for _, s := range m.sections {
		var err error
		switch s.id {
		case secType:
			err = m.readTypes(s.data)
		case secImport:
			err = m.readImports(s.data)
		case secFunction:
			err = m.readFunctions(s.data)
		case secGlobal:
			r := &reader{b: s.data}
			m.globals += r.u32()
			err = r.err
		case secStart:
			err = m.readStart(s.data)
		}
		if err != nil {
			return fmt.Errorf("section %d: %w", s.id, err)
		}
	}
	return nil
}

func (m *module) readTypes(b []byte) error {
	r := &reader{b: b}
	n := r.u32()
	same := map[string]uint32{}
	for i := uint32(0); i < n && r.err == nil; i++ {
		start := r.pos
		if form := r.byte(); form != 0x60 && r.err == nil {
			return fmt.Errorf("type %d: form 0x%x: %w", i, form, ErrUnsupported)
		}
		params := r.u32()
		for j := uint32(0); j < params && r.err == nil; j++ {
			r.valType(n)
		}
		results := r.u32()
		first := r.pos
		for j := uint32(0); j < results && r.err == nil; j++ {
			r.valType(n)
		}
		m.paramCounts = append(m.paramCounts, params)
		m.resultBlocks = append(m.resultBlocks, resultBlock(r.b[first:r.pos], results))
		// call_indirect compares types by their signature, not their
		// index: the first type of each signature stands for all.
		sig := string(r.b[start:r.pos])
		if _, ok := same[sig]; !ok {
			same[sig] = i
		}
		m.canonType = append(m.canonType, same[sig])
	}
	m.checkType = uint32(len(m.paramCounts))
	return r.end()
}

func (m *module) readImports(b []byte) error {
	r := &reader{b: b}
	n := r.u32()
	for i := uint32(0); i < n && r.err == nil; i++ {
		mod := r.name()
		r.name()
		if mod == ImportModule {
			return fmt.Errorf("the module imports from %q, which the host reserves", ImportModule)
		}
		kind := r.byte()
		t := importDesc(r, kind, m.checkType)
		switch kind {
		case importFunc:
			if t >= uint32(len(m.paramCounts)) && r.err == nil {
				r.fail("import of unknown type %d", t)
			}
			m.importTypes = append(m.importTypes, t)
			m.funcImports++
		case importGlobal:
			m.globals++
		}
	}
	return r.end()
}

// The kinds of import.
const (
	importFunc   = 0x00
	importTable  = 0x01
	importMemory = 0x02
	importGlobal = 0x03
)

// importDesc reads the description of an import of kind (its value
// types below types), and returns a function import's type index.
func importDesc(r *reader, kind byte, types uint32) uint32 {
	switch kind {
	case importFunc:
		return r.u32()
	case importTable:
		r.valType(types)
		readLimits(r)
	case importMemory:
		readLimits(r)
	case importGlobal:
		r.valType(types)
		r.byte()
	default:
		r.fail("import kind 0x%x: %v", kind, ErrUnsupported)
	}
	return 0
}

// checkLimits walks a table or memory section, so that no count in the
// module claims more entries than it has bytes for (threat: wazero's
// decoder allocates by the declared count before it reads the entries:
// a module of a few hundred bytes claiming 2^32 imports made the host
// run out of memory and die, which no recover can catch; every section
// wazero decodes is walked here first).
func checkLimits(b []byte, table bool, types uint32) ([]byte, error) {
	r := &reader{b: b}
	n := r.u32()
	for i := uint32(0); i < n && r.err == nil; i++ {
		if table {
			r.valType(types)
		}
		readLimits(r)
	}
	return b, r.end()
}

// readLimits reads a table's or memory's limits: its minimum, and its
// maximum (its minimum where it declares none).
func readLimits(r *reader) (lo, hi uint32) {
	flags := r.byte()
	if flags > 1 {
		r.fail("limits 0x%x: %v", flags, ErrUnsupported)
	}
	lo = r.u32()
	hi = lo
	if flags == 1 {
		hi = r.u32()
	}
	return lo, hi
}

// resultBlock returns the block type with the given results and no
// parameters: empty, or a value type of one byte; else 0.
func resultBlock(types []byte, n uint32) byte {
	switch {
	case n == 0:
		return blockEmpty
	case n == 1 && len(types) == 1:
		return types[0]
	}
	return 0
}

func (m *module) readFunctions(b []byte) error {
	r := &reader{b: b}
	n := r.u32()
	for i := uint32(0); i < n && r.err == nil; i++ {
		t := r.u32()
		if t >= uint32(len(m.paramCounts)) {
			r.fail("function of unknown type %d", t)
		}
		m.funcTypes = append(m.funcTypes, t)
	}
	return r.end()
}

// readStart reads the start section: a function of type () -> (), which
// the rewritten module exports as StartExport instead (exported, a
// function of another type would make a module that wazero refuses
// valid).
func (m *module) readStart(b []byte) error {
	r := &reader{b: b}
	f := r.u32()
	if err := r.end(); err != nil {
		return err
	}
	if f >= m.funcs() {
		return fmt.Errorf("unknown start function %d", f)
	}
	t := m.funcType(f)
	if m.paramCounts[t] != 0 || m.resultBlocks[t] != blockEmpty {
		return fmt.Errorf("start function %d has parameters or results", f)
	}
	m.start, m.hasStart = f, true
	return nil
}

// funcType returns the type of an original function index below funcs().
func (m *module) funcType(f uint32) uint32 {
	if f < m.funcImports {
		return m.importTypes[f]
	}
	return m.funcTypes[f-m.funcImports]
}

// funcs is the number of functions the original module can name.
func (m *module) funcs() uint32 { return m.funcImports + uint32(len(m.funcTypes)) }

// renumber maps an original function index to the rewritten one.
func (m *module) renumber(f uint32) uint32 {
	if f >= m.funcImports {
		return f + 1
	}
	return f
}

// funcIndex reads a function index and appends its new number to out.
func (m *module) funcIndex(r *reader, out []byte) []byte {
	f := r.u32()
	if r.err == nil && f >= m.funcs() {
		r.fail("unknown function %d", f)
	}
	return appendUleb(out, uint64(m.renumber(f)))
}

// rewrite returns the new contents of a section, or nil to drop it.
func (m *module) rewrite(s section) ([]byte, error) {
	switch s.id {
	case secType:
		return m.rewriteTypes(s.data)
	case secImport:
		return m.rewriteImports(s.data)
	case secGlobal:
		return m.rewriteGlobals(s.data)
	case secExport:
		return m.rewriteExports(s.data)
	case secStart:
		return nil, nil // exported as StartExport (rewriteExports)
	case secElement:
		return m.rewriteElements(s.data)
	case secCode:
		return m.rewriteCode(s.data)
	case secData:
		return m.checkData(s.data)
	case secCustom:
		return m.rewriteCustom(s.data)
	case secTable:
		return m.rewriteTables(s.data)
	case secMemory:
		return checkLimits(s.data, false, 0)
	}
	return s.data, nil
}

// vecTail reads a vector's count and returns it with the rest of b.
func vecTail(b []byte) (uint32, []byte, error) {
	r := &reader{b: b}
	n := r.u32()
	return n, b[r.pos:], r.err
}

func (m *module) rewriteTypes(b []byte) ([]byte, error) {
	n, rest, err := vecTail(b)
	if err != nil {
		return nil, err
	}
	out := appendUleb(nil, uint64(n)+1)
	out = append(out, rest...)
	return append(out, 0x60, 0, 1, 0x7f), nil // () -> i32
}

func (m *module) rewriteImports(b []byte) ([]byte, error) {
	n, rest, err := vecTail(b)
	if err != nil {
		return nil, err
	}
	out := appendUleb(nil, uint64(n)+1)
	out = append(out, rest...)
	out = appendName(out, ImportModule)
	out = appendName(out, ImportName)
	out = append(out, 0x00)
	return appendUleb(out, uint64(m.checkType)), nil
}

func (m *module) rewriteGlobals(b []byte) ([]byte, error) {
	r := &reader{b: b}
	n := r.u32()
	out := appendUleb(nil, uint64(n)+2)
	for i := uint32(0); i < n && r.err == nil; i++ {
		start := r.pos
		r.valType(m.checkType)
		r.byte() // mutability
		out = append(out, r.b[start:r.pos]...)
		out = m.constExpr(r, out)
	}
	out = append(out, 0x7f, 0x01, 0x41, 0x00, 0x0b) // the fuel: (mut i32) (i32.const 0)
	out = append(out, 0x7f, 0x01, opcodeI32Const)   // the stack left: (mut i32) (i32.const DefaultStack)
	out = appendSleb(out, DefaultStack/StackUnit)
	return append(out, 0x0b), r.end()
}

func (m *module) rewriteExports(b []byte) ([]byte, error) {
	r := &reader{b: b}
	n := r.u32()
	added := uint64(1)
	if m.hasStart {
		added++
	}
	out := appendUleb(nil, uint64(n)+added)
	for i := uint32(0); i < n && r.err == nil; i++ {
		name := r.name()
		if name == StackExport || name == StartExport {
			return nil, fmt.Errorf("the module exports %s, a name the rewriting keeps for itself", name)
		}
		out = appendName(out, name)
		kind := r.byte()
		out = append(out, kind)
		if kind == 0x00 {
			out = m.funcIndex(r, out)
		} else {
			out = appendUleb(out, uint64(r.u32()))
		}
	}
	if m.hasStart {
		out = append(appendName(out, StartExport), 0x00)
		out = appendUleb(out, uint64(m.renumber(m.start)))
	}
	// The stack left, for the host to set and read.
	out = append(appendName(out, StackExport), 0x03)
	return appendUleb(out, uint64(m.globals+1)), r.end()
}

// constExpr copies a constant expression, renumbering ref.func and
// checking global.get.
func (m *module) constExpr(r *reader, out []byte) []byte {
	for r.err == nil {
		start := r.pos
		switch op := r.byte(); op {
		case 0x0b:
			return append(out, op)
		case 0x41:
			r.sleb(32)
		case 0x42:
			r.sleb(64)
		case 0x43:
			r.bytes(4)
		case 0x44:
			r.bytes(8)
		case 0x23:
			if g := r.u32(); g >= m.globals && r.err == nil {
				r.fail("unknown global %d", g)
			}
		case 0xd0:
			r.byte()
		case 0xd2:
			out = m.funcIndex(r, append(out, op))
			continue
		case 0x6a, 0x6b, 0x6c, 0x7c, 0x7d, 0x7e: // extended constant expressions
		case 0xfd:
			if sub := r.u32(); sub != 12 {
				r.fail("SIMD instruction %d in a constant expression", sub)
			}
			r.bytes(16)
		default:
			r.fail("instruction 0x%x in a constant expression", op)
		}
		out = append(out, r.b[start:r.pos]...)
	}
	return out
}

func (m *module) rewriteElements(b []byte) ([]byte, error) {
	r := &reader{b: b}
	n := r.u32()
	out := appendUleb(nil, uint64(n))
	for i := uint32(0); i < n && r.err == nil; i++ {
		flags := r.u32()
		out = appendUleb(out, uint64(flags))
		if flags > 7 {
			r.fail("element segment flags %d: %v", flags, ErrUnsupported)
			break
		}
		if flags&2 != 0 && flags&1 == 0 { // an explicit table
			out = appendUleb(out, uint64(r.u32()))
		}
		if flags&1 == 0 { // active: an offset
			out = m.constExpr(r, out)
		}
		if flags&3 != 0 { // an element kind or reference type
			start := r.pos
			r.valType(m.checkType)
			out = append(out, r.b[start:r.pos]...)
		}
		count := r.u32()
		out = appendUleb(out, uint64(count))
		for j := uint32(0); j < count && r.err == nil; j++ {
			if flags&4 != 0 {
				out = m.constExpr(r, out)
			} else {
				out = m.funcIndex(r, out)
			}
		}
	}
	return out, r.end()
}

// checkData checks the data segments' offsets (a global.get past the
// module's globals would name the fuel) and leaves them as they are.
func (m *module) checkData(b []byte) ([]byte, error) {
	r := &reader{b: b}
	n := r.u32()
	for i := uint32(0); i < n && r.err == nil; i++ {
		switch flags := r.u32(); flags {
		case 0:
			m.constExpr(r, nil)
		case 1:
		case 2:
			r.u32()
			m.constExpr(r, nil)
		default:
			r.fail("data segment flags %d: %v", flags, ErrUnsupported)
		}
		r.bytes(uint64(r.u32()))
	}
	return b, r.end()
}

// rewriteCustom renumbers the functions in the name section (wazero
// names functions in its stack traces with it) and keeps every other
// custom section as it is. A name section it cannot read is refused, as
// wazero refuses it.
func (m *module) rewriteCustom(b []byte) ([]byte, error) {
	r := &reader{b: b}
	if r.name() != "name" || r.err != nil {
		return b, nil
	}
	out := appendName(nil, "name")
	for !r.done() {
		id := r.byte()
		sub := &reader{b: r.bytes(r.uleb(32))}
		if r.err != nil {
			break
		}
		data := sub.b
		if id >= 1 && id <= 3 { // function, local and label names: by function index
			data = m.renumberNames(sub, id != 1)
			if err := sub.end(); err != nil {
				return nil, fmt.Errorf("name section: %w", err)
			}
		}
		out = append(out, id)
		out = appendUleb(out, uint64(len(data)))
		out = append(out, data...)
	}
	if r.err != nil {
		return nil, fmt.Errorf("name section: %w", r.err)
	}
	return out, nil
}

func (m *module) renumberNames(r *reader, indirect bool) []byte {
	n := r.u32()
	out := appendUleb(nil, uint64(n))
	for i := uint32(0); i < n && r.err == nil; i++ {
		out = appendUleb(out, uint64(m.renumber(r.u32())))
		start := r.pos
		if indirect {
			k := r.u32()
			for j := uint32(0); j < k && r.err == nil; j++ {
				r.u32()
				r.name()
			}
		} else {
			r.name()
		}
		out = append(out, r.b[start:r.pos]...)
	}
	return out
}
