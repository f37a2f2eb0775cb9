package instrument

import "fmt"

// op is one decoded instruction of a function body: its bytes, and what
// the rewriting adds around it.
type op struct {
	start, end int
	renumber   bool   // call, return_call, ref.func: index is renumbered
	index      uint32 // the function it names
	cost       uint32 // a loop: charged at its header
	loop       bool
	byCall     bool     // a loop charged at the call that starts each iteration
	loopOp     int      // a call that starts each iteration of a loop: that loop's index in ops, else -1
	global     bool     // such a call in a loop nest that never uses the local: the global charged before it
	wrap       bool     // a loop charged at its header whose check is out of line (see wrapOpen)
	unwrap     bool     // the end of such a loop
	labels     []uint32 // a branch out of such loops: its labels, renumbered
	enter      bool     // a loop entered from outside any loop: the fuel loaded into the local before it
	store      bool     // the fuel stored into the global before it
	leave      bool     // the end of an outermost loop: the fuel stored after it
	reload     bool     // a call from inside a loop: the fuel reloaded after it
	counted    *counted // a loop charged once before it runs (counted.go)
	frame      uint32   // a call to a function the module defines: the callee's FrameUnits (0 for a small leaf); the caller's stack level is stored before it (bounds.go)
	tail       bool     // return_call, return_call_indirect: the callee takes the caller's frame
}

// body is the state of rewriting one function body.
type body struct {
	m       *module
	locals  uint32 // the function's parameters and locals: our local's index
	ops     []op
	outside uint32 // the longest path through the code outside loops (paths.go): the charge at entry
	paths   paths
	// entryCosts are the charges at entry of the functions rewritten so
	// far (and so of this one once it is decoded).
	entryCosts []uint32
	labelBuf   []uint32 // the renumbered labels of the body's branches
	self       uint32   // the function's own index, renumbered
	params     uint32   // the function's parameters
	results    byte     // the block type of its results, 0 if none fits or inline (see entryOpen)
	inline     bool     // the check's call at entry on the body's path (see entryOpen)
	branches   uint64   // blocks and branches in the body, weighed as controlWeight does
	counted    bool     // the body has counted loops (counted.go)
	frame      uint32   // the function's own FrameUnits, 0 for a small leaf (it takes none)
	stackLocal uint32   // with a frame, the local holding its stack level (bounds.go)
}

// maxRecallParams bounds the parameters a function's entry passes to
// its own call after the check (see entryOpen); a function with more
// calls the check on its path (threat: a module of n functions of a type
// with n parameters would be rewritten to n*n bytes, exhausting the
// host's memory).
const maxRecallParams = 32

func (m *module) rewriteCode(b []byte) ([]byte, error) {
	r := &reader{b: b}
	n := r.u32()
	if r.err == nil && n != uint32(len(m.funcTypes)) {
		return nil, fmt.Errorf("%d function bodies for %d functions", n, len(m.funcTypes))
	}
	out := appendUleb(nil, uint64(n))
	if err := m.scanFrames(b); err != nil {
		return nil, err
	}
	m.localsLeft = moduleLocals(len(b))
	m.compileLeft = compileBudget(len(b))
	bd := &body{m: m}
	var fn []byte
	for i := uint32(0); i < n && r.err == nil; i++ {
		code := r.bytes(r.uleb(32))
		if r.err != nil {
			break
		}
		var err error
		bd.self = m.renumber(m.funcImports + i)
		bd.frame = m.frames[i]
		bd.results = m.resultBlocks[m.funcTypes[i]]
		bd.inline = m.paramCounts[m.funcTypes[i]] > maxRecallParams
		if bd.inline {
			bd.results = 0
		}
		fn, err = bd.rewrite(fn[:0], code, m.paramCounts[m.funcTypes[i]])
		if err != nil {
			return nil, fmt.Errorf("function %d: %w", m.funcImports+i, err)
		}
		out = appendUleb(out, uint64(len(fn)))
		out = append(out, fn...)
	}
	return out, r.end()
}

// maxLocals bounds a function's locals (wazero's own bound is lower).
const maxLocals = 1 << 20

// rewrite appends the rewritten body code to out.
func (bd *body) rewrite(out, code []byte, params uint32) ([]byte, error) {
	r := &reader{b: code}
	entries := r.u32()
	first := r.pos
	bd.locals = params
	bd.params = params
	for i := uint32(0); i < entries && r.err == nil; i++ {
		c := r.u32()
		r.valType(bd.m.checkType)
		if uint64(bd.locals)+uint64(c) > maxLocals {
			return nil, fmt.Errorf("more than %d locals", maxLocals)
		}
		if uint64(c) > bd.m.localsLeft {
			return nil, fmt.Errorf("%w: the module declares more locals than its code's size in bytes plus 65536", ErrTooManyLocals)
		}
		bd.m.localsLeft -= uint64(c)
		bd.locals += c
	}
	if r.err != nil {
		return nil, r.err
	}
	header := code[first:r.pos]
	if err := bd.decode(r); err != nil {
		return nil, err
	}
	cost := compileCost(bd.branches, uint64(bd.locals))
	if cost > bd.m.compileLeft {
		return nil, fmt.Errorf("%w: %d blocks and branches and %d locals in one function, with those before it, pass the bound for a module of its size", ErrTooComplex, bd.branches, bd.locals)
	}
	bd.m.compileLeft -= cost
	bd.selfCalls()
	bd.entryCosts = append(bd.entryCosts, min(bd.outside, maxCharge))
	bd.freeCalls()
	// The locals: the function's own, then ours.
	out = appendUleb(out, uint64(entries)+1)
	out = append(out, header...)
	ours := byte(1)
	if bd.counted {
		ours += countedLocals
	}
	if bd.frame > 0 {
		bd.stackLocal = bd.locals + uint32(ours)
		ours++
	}
	out = append(out, ours, 0x7f)
	out = bd.entryOpen(out)
	for i, o := range bd.ops {
		if i == len(bd.ops)-1 && bd.results != 0 { // the body's end
			out = bd.entryClose(out)
			break
		}
		if o.enter {
			out = bd.reload(out)
		}
		switch {
		case o.global:
			out = bd.chargeGlobal(out, bd.ops[o.loopOp].cost)
		case o.store && o.loopOp >= 0:
			out = bd.store(out, bd.ops[o.loopOp].cost)
		case o.store:
			out = bd.store(out, 0)
		}
		if o.frame > 0 && bd.frame > 0 {
			out = bd.storeLevel(out, o.tail)
		}
		switch {
		case o.counted != nil:
			out = bd.countedOpen(out, code, i)
		case o.wrap:
			out = append(out, wrapOpen...)
		case o.renumber:
			out = append(out, code[o.start])
			out = appendUleb(out, uint64(bd.m.renumber(o.index)))
		case o.labels != nil:
			out = append(out, code[o.start])
			if code[o.start] == 0x0e {
				out = appendUleb(out, uint64(len(o.labels)-1))
			}
			for _, l := range o.labels {
				out = appendUleb(out, uint64(l))
			}
		}
		if !o.renumber && o.labels == nil {
			out = append(out, code[o.start:o.end]...)
		}
		switch {
		case o.wrap:
			out = bd.chargeOutOfLine(out, o.cost)
		case o.loop && !o.byCall:
			out = bd.charge(out, o.cost)
		case o.unwrap:
			out = bd.wrapClose(out)
		}
		if o.reload {
			out = bd.reload(out)
		}
		if o.leave {
			out = bd.store(out, 0)
		}
	}
	return out, nil
}

// Opcodes the rewriting emits.
const (
	opcodeIf          = 0x04
	opcodeEnd         = 0x0b
	opcodeCall        = 0x10
	opcodeLocalGet    = 0x20
	opcodeLocalSet    = 0x21
	opcodeLocalTee    = 0x22
	opcodeGlobalGet   = 0x23
	opcodeGlobalSet   = 0x24
	opcodeI32Const    = 0x41
	opcodeI32LtS      = 0x48
	opcodeI32GeS      = 0x4e
	opcodeI32Add      = 0x6a
	opcodeI32Sub      = 0x6b
	opcodeI32Or       = 0x72
	blockEmpty        = 0x40
	opcodeUnreachable = 0x00
)

// charge appends, at a loop's header: fuel -= cost; and if it is now
// below zero, fuel = check(). Inside loops the local holds the fuel, in
// a register; it is loaded from the global when a loop is entered from
// outside any loop, and stored back before a call and wherever control
// leaves every loop, so that a loop iteration spends no memory access on
// it. (A function's entry charges the global: entryCheck.)
func (bd *body) charge(out []byte, cost uint32) []byte {
	local := uint64(bd.locals)
	out = appendUleb(append(out, opcodeLocalGet), local)
	out = appendSleb(append(out, opcodeI32Const), int64(min(cost, maxCharge)))
	out = append(out, opcodeI32Sub)
	out = appendUleb(append(out, opcodeLocalTee), local)
	out = append(out, opcodeI32Const, 0, opcodeI32LtS, opcodeIf, blockEmpty)
	out = appendUleb(append(out, opcodeCall), uint64(bd.m.funcImports))
	out = appendUleb(append(out, opcodeLocalSet), local)
	return append(out, opcodeEnd)
}

// The entry's charge and check (threat: a recursion without loops, which
// only the entries count), with the stack's (bounds.go: takeStack, ORed
// into the fuel so that one branch tests both) and the check's call off
// the body's path (as
// for loops, see wrapOpen: a call on a path merging into the body, even
// one never made, had wazero's register allocator keep the parameters in
// memory; measured, naive Fibonacci 1.43x to 1.12x raw wazero):
//
//	block $cold
//	  fuel -= cost; level = stack -= frame; br_if $cold ((fuel | level) < 0)
//	  block $body (result R)        ;; R: the function's results
//	    BODY
//	  end
//	  return
//	end
//	if stack < 0: trap; stack += frame  ;; the stack ran out, or back to the level found
//	fuel = check() + cost
//	call $self (the parameters)   ;; charges the cost again: fuel = check()
//
// The call runs the body from its start: nothing before it changed a
// parameter, and the locals start zeroed as they did. $body validates
// the body's end as the function's did (a return alone would accept
// extra values on the stack). A branch to the function's label now
// ends $body instead, and the return after it returns what the branch
// carried. A function with results no block type can name without a
// type index (more than one) has the check before its body instead
// (entryCheck): measured, Fibonacci 1.24x there. One with more than
// maxRecallParams parameters calls the check on its path, as before
// (entryInline): Fibonacci 1.43x.

// entryOpen appends what comes before the body.
func (bd *body) entryOpen(out []byte) []byte {
	switch {
	case bd.inline:
		return bd.entryInline(out)
	case bd.results == 0:
		return bd.entryCheck(out)
	}
	out = bd.chargeEntry(append(out, 0x02, blockEmpty))
	if bd.frame > 0 {
		out = bd.takeStack(out) // fuel | level
	}
	out = append(out, opcodeI32Const, 0, opcodeI32LtS, 0x0d, 0) // br_if $cold
	return append(out, 0x02, bd.results)                        // block $body
}

// entryClose appends what comes after the body (with the body's end).
func (bd *body) entryClose(out []byte) []byte {
	out = append(out, opcodeEnd, 0x0f, opcodeEnd) // end $body; return; end $cold
	if bd.frame > 0 {
		out = bd.stackCold(out)
	}
	return append(bd.recall(out), opcodeEnd)
}

// recall appends: fuel = check() + cost; call $self (the parameters).
func (bd *body) recall(out []byte) []byte {
	out = appendUleb(append(out, opcodeCall), uint64(bd.m.funcImports))
	// The call below charges the cost again: the fuel is the check's.
	out = appendSleb(append(out, opcodeI32Const), int64(bd.entryCost()))
	out = append(out, opcodeI32Add)
	out = appendUleb(append(out, opcodeGlobalSet), uint64(bd.m.globals))
	for p := range bd.params {
		out = appendUleb(append(out, opcodeLocalGet), uint64(p))
	}
	return appendUleb(append(out, opcodeCall), uint64(bd.self))
}

// entryCheck appends the entry's check before the body:
//
//	block $hot
//	  fuel -= cost; br_if $hot (fuel >= 0)
//	  fuel = check() + cost; call $self (the parameters); return
//	end
func (bd *body) entryCheck(out []byte) []byte {
	out = bd.chargeEntry(append(out, 0x02, blockEmpty))
	if bd.frame > 0 {
		out = bd.takeStack(out) // fuel | level
	}
	out = append(out, opcodeI32Const, 0, opcodeI32GeS, 0x0d, 0) // br_if $hot
	if bd.frame > 0 {
		out = bd.stackCold(out)
	}
	return append(bd.recall(out), 0x0f, opcodeEnd) // return; end $hot
}

// entryInline appends: fuel -= cost; if fuel < 0 { fuel = check() }.
func (bd *body) entryInline(out []byte) []byte {
	out = bd.chargeEntry(out)
	out = append(out, opcodeI32Const, 0, opcodeI32LtS, opcodeIf, blockEmpty)
	out = appendUleb(append(out, opcodeCall), uint64(bd.m.funcImports))
	out = appendUleb(append(out, opcodeGlobalSet), uint64(bd.m.globals))
	out = append(out, opcodeEnd)
	if bd.frame > 0 {
		out = bd.takeStackInline(out)
	}
	return out
}

// chargeEntry appends: fuel -= the entry's cost, leaving the fuel on the
// stack (the global holds it; the local is a scratch copy).
func (bd *body) chargeEntry(out []byte) []byte {
	local, global := uint64(bd.locals), uint64(bd.m.globals)
	out = appendUleb(append(out, opcodeGlobalGet), global)
	out = appendSleb(append(out, opcodeI32Const), int64(bd.entryCost()))
	out = append(out, opcodeI32Sub)
	out = appendUleb(append(out, opcodeLocalTee), local)
	out = appendUleb(append(out, opcodeGlobalSet), global)
	return appendUleb(append(out, opcodeLocalGet), local)
}

// entryCost is the charge at the function's entry.
func (bd *body) entryCost() uint32 { return min(bd.outside, maxCharge) }

// store appends: global = local - cost, before a call or an exit. The
// cost is a loop's, charged at the call that starts its every iteration
// (the callee checks the fuel at its entry).
func (bd *body) store(out []byte, cost uint32) []byte {
	out = appendUleb(append(out, opcodeLocalGet), uint64(bd.locals))
	if cost > 0 {
		out = appendSleb(append(out, opcodeI32Const), int64(min(cost, maxCharge)))
		out = append(out, opcodeI32Sub)
	}
	return appendUleb(append(out, opcodeGlobalSet), uint64(bd.m.globals))
}

// A loop charged at its header is wrapped so that the check's call is
// out of the loop's path (a call inside the loop, even one never made,
// makes wazero's register allocator keep the loop's values in memory):
//
//	block $done
//	  loop $retry
//	    block $cold
//	      loop            ;; the loop
//	        fuel -= cost; br_if $cold (fuel < 0)
//	        ...
//	      end
//	      br $done
//	    end
//	    fuel = check()
//	    br $retry         ;; back to the loop's header: the next iteration
//	  end
//	end
//
// Only loops without parameters or results are wrapped (branching out
// and back keeps the operand stack of none), and branches from inside
// to outside such a loop cross three more labels.
var wrapOpen = []byte{0x02, blockEmpty, 0x03, blockEmpty, 0x02, blockEmpty}

// wrapLabels is the number of labels wrapOpen adds.
const wrapLabels = 3

// chargeOutOfLine appends a wrapped loop's charge: local -= cost; if it
// is now below zero, branch to $cold.
func (bd *body) chargeOutOfLine(out []byte, cost uint32) []byte {
	local := uint64(bd.locals)
	out = appendUleb(append(out, opcodeLocalGet), local)
	out = appendSleb(append(out, opcodeI32Const), int64(min(cost, maxCharge)))
	out = append(out, opcodeI32Sub)
	out = appendUleb(append(out, opcodeLocalTee), local)
	return append(out, opcodeI32Const, 0, opcodeI32LtS, 0x0d, 1) // br_if $cold
}

// wrapClose appends the rest of the wrapping, after the loop's end.
func (bd *body) wrapClose(out []byte) []byte {
	out = append(out, 0x0c, 2, opcodeEnd) // br $done; end $cold
	out = appendUleb(append(out, opcodeCall), uint64(bd.m.funcImports))
	out = appendUleb(append(out, opcodeLocalSet), uint64(bd.locals))
	return append(out, 0x0c, 0, opcodeEnd, opcodeEnd) // br $retry; end $retry; end $done
}

// chargeGlobal appends: global -= cost, before a call that checks.
func (bd *body) chargeGlobal(out []byte, cost uint32) []byte {
	out = appendUleb(append(out, opcodeGlobalGet), uint64(bd.m.globals))
	out = appendSleb(append(out, opcodeI32Const), int64(min(cost, maxCharge)))
	out = append(out, opcodeI32Sub)
	return appendUleb(append(out, opcodeGlobalSet), uint64(bd.m.globals))
}

// reload appends: local = global, after a call that may have spent fuel.
func (bd *body) reload(out []byte) []byte {
	out = appendUleb(append(out, opcodeGlobalGet), uint64(bd.m.globals))
	return appendUleb(append(out, opcodeLocalSet), uint64(bd.locals))
}

// block is an open block, loop or if while decoding.
type block struct {
	loop  bool
	empty bool // no parameters or results
	op    int  // the loop's index in ops
}

// decoder is the state of decoding one body.
type decoder struct {
	stack     []block
	loops     int // loops open
	firstLoop int // the outermost open loop's index in stack
	// charged is whether a loop of the open nest is charged at its
	// header (and so the nest keeps the fuel in the local).
	charged bool
	// prefix is the index in ops of the innermost loop while nothing
	// but straight-line code has followed its header, else -1: a call
	// there runs at every iteration.
	prefix int
}

// wrapped reports whether the loop b is wrapped (see wrapOpen); known
// from the first branch inside it on, as a loop charged at a call has no
// branch before that call.
func (bd *body) wrapped(b block) bool {
	return b.loop && b.empty && !bd.ops[b.op].byCall
}

// relabel returns label l of a branch, renumbered past the wrappings it
// crosses.
func (bd *body) relabel(d *decoder, l uint32) uint32 {
	target := len(d.stack) - 1 - int(min(l, uint32(len(d.stack))))
	crossed := uint32(0)
	for i := len(d.stack) - 1; i > target && i >= 0; i-- {
		if bd.wrapped(d.stack[i]) {
			crossed += wrapLabels
		}
	}
	return l + crossed
}

// keepLabels returns labels copied into the body's label buffer (one
// allocation a body, not one a branch).
func (bd *body) keepLabels(labels []uint32) []uint32 {
	first := len(bd.labelBuf)
	bd.labelBuf = append(bd.labelBuf, labels...)
	return bd.labelBuf[first:len(bd.labelBuf):len(bd.labelBuf)]
}

// leaves reports whether a branch to label l leaves every loop (and the
// fuel must be stored before it).
func (d *decoder) leaves(l uint32) bool {
	target := len(d.stack) - 1 - int(min(l, uint32(len(d.stack))))
	return d.loops > 0 && target < d.firstLoop
}

// decode reads the instructions of a body into bd.ops, with each loop's
// cost, the cost outside loops, and where the fuel moves between the
// global and the local.
func (bd *body) decode(r *reader) error {
	bd.ops = bd.ops[:0]
	bd.labelBuf = bd.labelBuf[:0] // the last body's ops are emitted already
	bd.outside = 0
	bd.paths.reset()
	bd.counted = false
	d := decoder{stack: make([]block, 0, 16), prefix: -1}
	bd.branches = 0
	for r.err == nil {
		if r.pos >= len(r.b) {
			return fmt.Errorf("the body does not end with end")
		}
		o := op{start: r.pos, loopOp: -1}
		code := r.byte()
		prefix := d.prefix
		d.prefix = -1
		bd.branches += controlWeight(code)
		bd.paths.step()
		inLoop := d.loops > 0
		switch code {
		case 0x02, 0x03, 0x04: // block, loop, if
			empty := r.pos < len(r.b) && r.b[r.pos] == blockEmpty
			bd.blockType(r)
			if code == 0x03 {
				o.loop = true
				d.prefix = len(bd.ops)
				if d.loops == 0 {
					o.enter = true
					d.firstLoop = len(d.stack)
				}
				d.loops++
			}
			d.stack = append(d.stack, block{loop: code == 0x03, empty: empty, op: len(bd.ops)})
			bd.paths.block(code == 0x03, code == 0x04)
		case opcodeEnd:
			if len(d.stack) == 0 {
				bd.outside = uint32(min(bd.paths.fn, maxCharge))
				o.end = r.pos
				bd.ops = append(bd.ops, o)
				if r.pos != len(r.b) {
					return fmt.Errorf("bytes after the body's end")
				}
				return nil
			}
			b := d.stack[len(d.stack)-1]
			d.stack = d.stack[:len(d.stack)-1]
			cost := bd.paths.end()
			if b.loop {
				bd.ops[b.op].cost = cost
				if bd.wrapped(b) {
					bd.ops[b.op].wrap = true
					o.unwrap = true
				}
				d.charged = d.charged || !bd.ops[b.op].byCall
				d.loops--
				if o.unwrap {
					bd.ops[b.op].counted = bd.countedLoop(r.b, &d, b.op, len(bd.ops))
					bd.counted = bd.counted || bd.ops[b.op].counted != nil
				}
				o.leave = d.loops == 0
				if o.leave && !d.charged {
					bd.globalNest(bd.ops[b.op:])
					o.leave = false
				}
				if d.loops == 0 {
					d.charged = false
				}
			}
		case opcodeCall:
			o.renumber = true
			o.index = bd.funcIndex(r)
			if o.index >= bd.m.funcImports && r.err == nil {
				o.frame = bd.m.frames[o.index-bd.m.funcImports] // 0 for a small leaf (scanFrames)
			}
			o.store = inLoop && o.index >= bd.m.funcImports
			o.reload = o.store
			if prefix >= 0 && o.store {
				// Every defined function charges and checks at its
				// entry, so the loop is charged here instead of at its
				// header: one check an iteration, not two.
				o.loopOp = prefix
				bd.ops[prefix].byCall = true
			}
		case 0x11: // call_indirect
			if t := bd.typeIndex(r); r.err == nil {
				o.frame = bd.m.typeFrames[bd.m.canonType[t]] // 0 if every function of the signature is a small leaf
			}
			r.u32()
			o.store, o.reload = inLoop, inLoop
		case 0x12: // return_call
			o.renumber = true
			o.index = bd.funcIndex(r)
			if o.index >= bd.m.funcImports && r.err == nil {
				o.frame = bd.m.frames[o.index-bd.m.funcImports]
			}
			o.tail = true
			o.store = inLoop
			bd.paths.dead()
		case 0x13: // return_call_indirect
			if t := bd.typeIndex(r); r.err == nil {
				o.frame = bd.m.typeFrames[bd.m.canonType[t]]
			}
			r.u32()
			o.tail = true
			o.store = inLoop
			bd.paths.dead()
		case 0xd2: // ref.func
			o.renumber = true
			o.index = bd.funcIndex(r)
		case 0x0f: // return
			o.store = inLoop
			bd.paths.dead()
		case 0x0c, 0x0d: // br, br_if
			l := r.u32()
			bd.paths.branch(l)
			if code == 0x0c {
				bd.paths.dead()
			}
			o.store = d.leaves(l)
			if nl := bd.relabel(&d, l); nl != l {
				o.labels = bd.keepLabels([]uint32{nl})
			}
		case 0x0e: // br_table
			n := r.u32()
			bd.branches += uint64(n) // each target an edge
			first, changed := len(bd.labelBuf), false
			for i := uint32(0); i <= n && r.err == nil; i++ {
				l := r.u32()
				bd.paths.branch(l)
				o.store = d.leaves(l) || o.store
				nl := bd.relabel(&d, l)
				changed = changed || nl != l
				bd.labelBuf = append(bd.labelBuf, nl)
			}
			if r.err == nil && changed {
				o.labels = bd.labelBuf[first:len(bd.labelBuf):len(bd.labelBuf)]
			}
			bd.paths.dead()
		default:
			bd.immediates(r, code)
			switch code {
			case 0x00: // unreachable
				bd.paths.dead()
			case 0x05: // else
				bd.paths.elseBranch()
			}
			if !control(code) {
				d.prefix = prefix
			}
		}
		o.end = r.pos
		bd.ops = append(bd.ops, o)
	}
	return r.err
}

// globalNest rewrites the ops of a loop nest in which every loop is
// charged at a call (the local is never charged there): the global is
// charged before those calls, and the local is never loaded or stored.
func (bd *body) globalNest(ops []op) {
	for i := range ops {
		o := &ops[i]
		o.enter, o.store, o.reload, o.leave = false, false, false, false
		o.global = o.loopOp >= 0
	}
}

// selfCalls raises the function's charge at entry to the cost of a loop
// whose every iteration starts with a call to the function itself (a
// recursion such as clang makes of Fibonacci's), so that freeCalls drops
// the loop's charge at that call: a longer charge at entry (always safe)
// for one round trip of the fuel through memory an iteration less.
func (bd *body) selfCalls() {
	self := uint32(len(bd.entryCosts)) + bd.m.funcImports
	for _, o := range bd.ops {
		if o.loopOp >= 0 && o.index == self {
			bd.outside = max(bd.outside, bd.ops[o.loopOp].cost)
		}
	}
}

// freeCalls drops the charge at the call that starts every iteration of
// a loop when the callee's own charge at entry is at least the loop's:
// counting each iteration as the callee's charge then counts at most
// half of the instructions the iteration runs (outside the callee's
// loops, which charge themselves), so the checks come at most twice as
// far apart, and the fuel makes one round trip through memory a call
// instead of two (a dependency that chains every call to the next).
func (bd *body) freeCalls() {
	for i := range bd.ops {
		o := &bd.ops[i]
		if o.loopOp < 0 || o.index < bd.m.funcImports {
			continue
		}
		callee := o.index - bd.m.funcImports
		if callee < uint32(len(bd.entryCosts)) && bd.ops[o.loopOp].cost <= bd.entryCosts[callee] {
			o.loopOp = -1
			o.global = false
		}
	}
}

// control reports whether an instruction decoded by immediates may
// branch or trap the iteration's call away (it ends a loop's
// straight-line prefix).
func control(code byte) bool {
	return code <= 0x01 || code == 0x05 // unreachable, nop, else
}

func (bd *body) funcIndex(r *reader) uint32 {
	f := r.u32()
	if r.err == nil && f >= bd.m.funcs() {
		r.fail("unknown function %d", f)
	}
	return f
}

func (bd *body) typeIndex(r *reader) uint32 {
	t := r.u32()
	if r.err == nil && t >= bd.m.checkType {
		r.fail("unknown type %d", t)
	}
	return t
}

// blockType reads a block type: empty, a value type, or a type index.
func (bd *body) blockType(r *reader) {
	if r.pos < len(r.b) {
		switch r.b[r.pos] {
		case 0x40, 0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f:
			r.pos++
			return
		}
	}
	if t := r.sleb(33); r.err == nil && (t < 0 || t >= int64(bd.m.checkType)) {
		r.fail("block of unknown type %d", t)
	}
}

// immediates reads the immediates of every other instruction, checking
// the indices of locals and globals (ours come after the module's, and
// must not be reachable by an index the module got wrong).
func (bd *body) immediates(r *reader, code byte) {
	switch {
	case code <= 0x01, code == 0x05, code == 0x1a, code == 0x1b,
		code >= 0x45 && code <= 0xc4, code == 0xd1:
		// No immediates.
	case code == 0x25, code == 0x26: // table.get, table.set
		r.u32()
	case code == 0x1c: // select t*
		n := r.u32()
		for i := uint32(0); i < n && r.err == nil; i++ {
			r.valType(bd.m.checkType)
		}
	case code >= 0x20 && code <= 0x22:
		if l := r.u32(); r.err == nil && l >= bd.locals {
			r.fail("unknown local %d", l)
		}
	case code == 0x23, code == 0x24:
		if g := r.u32(); r.err == nil && g >= bd.m.globals {
			r.fail("unknown global %d", g)
		}
	case code >= 0x28 && code <= 0x3e:
		memarg(r)
	case code == 0x3f, code == 0x40: // memory.size, memory.grow
		r.u32()
	case code == 0x41:
		r.sleb(32)
	case code == 0x42:
		r.sleb(64)
	case code == 0x43:
		r.bytes(4)
	case code == 0x44:
		r.bytes(8)
	case code == 0xd0: // ref.null
		r.valType(bd.m.checkType)
	case code == 0xfc:
		miscImmediates(r)
	case code == 0xfd:
		simdImmediates(r)
	default:
		r.fail("instruction 0x%x: %v", code, ErrUnsupported)
	}
}

func memarg(r *reader) {
	if align := r.u32(); align&0x40 != 0 {
		r.fail("memory index in memarg: %v", ErrUnsupported)
	}
	r.uleb(64)
}

// miscImmediates reads the 0xfc instructions: saturating conversions,
// bulk memory and tables.
func miscImmediates(r *reader) {
	switch sub := r.u32(); {
	case sub <= 7:
	case sub == 8, sub == 12, sub == 14: // memory.init, table.init, table.copy
		r.u32()
		r.u32()
	case sub == 9, sub == 11, sub == 13, sub >= 15 && sub <= 17: // data.drop, memory.fill, elem.drop, table.grow/size/fill
		r.u32()
	case sub == 10: // memory.copy
		r.u32()
		r.u32()
	default:
		r.fail("instruction 0xfc %d: %v", sub, ErrUnsupported)
	}
}

// simdImmediates reads the 0xfd instructions (fixed-width SIMD).
func simdImmediates(r *reader) {
	switch sub := r.u32(); {
	case sub <= 11, sub == 92, sub == 93: // loads, stores
		memarg(r)
	case sub == 12, sub == 13: // v128.const, i8x16.shuffle
		r.bytes(16)
	case sub >= 21 && sub <= 34: // extract and replace lane
		r.byte()
	case sub >= 84 && sub <= 91: // load and store lane
		memarg(r)
		r.byte()
	case sub <= 255:
		// No immediates.
	default:
		r.fail("instruction 0xfd %d: %v", sub, ErrUnsupported)
	}
}
