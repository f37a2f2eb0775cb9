package instrument

// A counted loop is charged before it runs, for the iterations its code
// bounds, and then runs a copy of itself with no charge in it:
//
//	block $done
//	  block $checked
//	    block $go
//	      block $low
//	        U = tripBound; br_if $checked (U = 0 or U > maxCharge/cost)
//	        br_if $low (U * cost > fuel); br $go
//	      end
//	      fuel = check()                  ;; out of the path that has the fuel
//	    end
//	    global = fuel - U * cost
//	    block $land ...                   ;; one a label the loop leaves to
//	      loop  BODY  end                 ;; the copy
//	      fuel = global + refund; br $done
//	    end  fuel = global + refund; br LABEL ...
//	  end
//	  loop $retry (block $cold (loop ...)))   ;; the loop, wrapped (wrapOpen)
//	end
//
// Why: a tight loop pays its charge at every iteration, a subtraction,
// a compare and a branch that cost as much as its own few instructions,
// and with the check's call in the loop, however cold, wazero's register
// allocator keeps some of its values in memory. The copy has neither,
// and no value of ours is live in it (the fuel is in the global while it
// runs): its machine code is the original loop's.
//
// Which loops: innermost (no loop inside), empty block type (wrapped),
// no call, at most maxCountedBytes, and ending with a back edge that is
// the only branch to the loop, of the forms clang emits:
//
//	local.get x  i32.const c  i32.add  local.tee x  BOUND  cmp  br_if 0
//	BOUND  local.get x  i32.const c  i32.add  local.tee x  cmp  br_if 0
//	local.get x  i32.const c  i32.add  local.tee x  br_if 0       ;; x != 0
//
// (or i32.sub), where BOUND is an i32.const or a local the loop never
// writes, x is written nowhere else in the loop, and cmp, read as x' cmp
// bound, is i32.ne (c a power of two, either sign), or i32.lt_s/lt_u (c
// = 1) or i32.gt_s/gt_u (c = -1). The tee may be followed by an
// i32.const d and an i32.add or i32.sub, the value compared then being
// y' = x' + d (modulo 2^32; clang's `while (j >= 0 && ...) j--` compares
// j' + 1 > 1): y is stepped by c as x is, with the tee, and by nothing
// else, so everything below holds of y, whose distance to the bound is
// what the charge and the refunds count. Every iteration that goes on then runs
// the tee once, the loop runs at most U times (tripBound proves it),
// each time at most cost instructions (no inner loop, no backward branch
// but the back edge), so the charge before it covers it, and is at most
// maxCharge. Threat: a bound that is wrong lets a guest run unchecked:
// the rules are narrow on purpose, and any other loop, or a U out of
// range, is charged at its header as before.
//
// The labels the copy branches out to get a landing block each, so that
// a conditional branch out of the copy targets a block with one
// predecessor: wazero (v1.12.0) splits a conditional edge into a block
// with several (a critical edge) with a branch that no longer fuses
// with its compare (three more instructions an exit test). At each exit
// the fuel of the iterations not run is given back (refund). A return
// from the copy keeps the whole charge.

// counted describes a counted loop (see above).
type counted struct {
	x     uint32 // the induction variable
	bound uint32 // the bound's local, unless konst
	k     int32  // the bound, if konst
	konst bool
	off   int32 // what x' is compared as: x' + off (modulo 2^32)
	down  bool  // x steps down
	shift uint8 // x steps by 1 << shift
	end   int   // the loop's end in bd.ops
	exits []exit
}

// exit is a label a counted loop branches out to.
type exit struct {
	label uint32 // counted from outside the loop, in the original
	cross uint32 // the labels the wrappings between add to it
	store bool   // it leaves every loop: the fuel stored before it
}

// maxExits bounds the labels a counted loop may branch out to.
const maxExits = 4

// maxCountedBytes bounds the size of a counted loop's body, which the
// rewriting copies (threat: output size; innermost loops do not nest, so
// the copies add at most the size of the code section).
const maxCountedBytes = 1024

// countedLocals is the number of locals the counted loops use, after the
// fuel's: a scratch (U, the refund).
const countedLocals = 1

func (bd *body) tmpLocal() uint64 { return uint64(bd.locals) + 1 }

// Opcodes the counted loops use.
const (
	opcodeBr      = 0x0c
	opcodeBrIf    = 0x0d
	opcodeBrTable = 0x0e
	opcodeSelect  = 0x1b
	opcodeI32Ne   = 0x47
	opcodeI32LtU  = 0x49
	opcodeI32GtS  = 0x4a
	opcodeI32GtU  = 0x4b
	opcodeI32GeU  = 0x4f
	opcodeI32Mul  = 0x6c
	opcodeI32And  = 0x71
	opcodeI32ShrU = 0x76
)

// countedLoop returns the counted loop that bd.ops[loop:end] is, or nil.
// The loop is wrapped and just closed: d.stack holds the blocks around
// it.
func (bd *body) countedLoop(code []byte, d *decoder, loop, end int) *counted {
	ops := bd.ops[loop+1 : end]
	if len(ops) < 5 || ops[len(ops)-1].end-ops[0].start > maxCountedBytes {
		return nil
	}
	cl := &counted{end: end}
	tee := cl.tail(code, ops)
	if tee < 0 {
		return nil
	}
	depth := uint32(0)
	for j, o := range ops {
		r := &reader{b: code, pos: o.start + 1}
		switch c := code[o.start]; c {
		case 0x03, opcodeCall, 0x11, 0x12, 0x13: // a loop, a call
			return nil
		case 0x02, opcodeIf:
			depth++
		case opcodeEnd:
			depth--
		case opcodeBr, opcodeBrIf, opcodeBrTable:
			n := uint32(0)
			if c == opcodeBrTable {
				n = r.u32()
			}
			for range n + 1 {
				l := r.u32()
				switch {
				case l == depth && (c == opcodeBrTable || j != len(ops)-1):
					return nil // another way back to the header
				case l > depth && !cl.exit(d, bd, l-depth-1):
					return nil
				}
			}
		case opcodeLocalSet, opcodeLocalTee:
			l := r.u32()
			if (l == cl.x && j != tee) || (!cl.konst && l == cl.bound) {
				return nil
			}
		}
	}
	return cl
}

// tail matches the loop's last instructions against the forms above,
// fills in cl, and returns the index in ops of the tee, or -1.
func (cl *counted) tail(code []byte, ops []op) int {
	n := len(ops)
	at := func(i int) (byte, uint32, int64) { // opcode, index, constant
		if i < 0 {
			return 0, 0, 0
		}
		r := &reader{b: code, pos: ops[i].start + 1}
		switch c := code[ops[i].start]; c {
		case opcodeI32Const:
			return c, 0, r.sleb(32)
		case opcodeLocalGet, opcodeLocalSet, opcodeLocalTee, opcodeBrIf:
			return c, r.u32(), 0
		default:
			return c, 0, 0
		}
	}
	bound := func(i int) bool {
		switch c, l, k := at(i); c {
		case opcodeI32Const:
			cl.konst, cl.k = true, int32(k)
		case opcodeLocalGet:
			cl.bound = l
		default:
			return false
		}
		return true
	}
	if c, l, _ := at(n - 1); c != opcodeBrIf || l != 0 {
		return -1
	}
	// value returns the index of the tee of x' + d ending at ops[i]
	// (an i32.const d added or subtracted, or none), or -1.
	value := func(i int) int {
		c, _, _ := at(i)
		if c == opcodeLocalTee {
			return i
		}
		k, _, d := at(i - 1)
		if t, _, _ := at(i - 2); k != opcodeI32Const || t != opcodeLocalTee {
			return -1
		}
		switch c {
		case opcodeI32Add:
			cl.off = int32(d)
		case opcodeI32Sub:
			cl.off = -int32(d) // modulo 2^32, as the guest's difference
		default:
			return -1
		}
		return i - 2
	}
	cmp, flip, tee := byte(opcodeI32Ne), false, -1
	switch c, _, _ := at(n - 2); {
	case c >= opcodeI32Ne && c <= opcodeI32GtU:
		cmp = c
		if tee = value(n - 3); tee >= 0 { // the bound first
			flip = true
			if !bound(tee - 4) {
				return -1
			}
		} else {
			if !bound(n - 3) {
				return -1
			}
			tee = value(n - 4)
		}
	default: // x' != 0
		cl.konst = true
		tee = value(n - 2)
	}
	if tee < 0 {
		return -1
	}
	tc, x, _ := at(tee)
	ac, _, _ := at(tee - 1)
	kc, _, step := at(tee - 2)
	gc, gx, _ := at(tee - 3)
	if tc != opcodeLocalTee || kc != opcodeI32Const || gc != opcodeLocalGet || gx != x ||
		(ac != opcodeI32Add && ac != opcodeI32Sub) || (!cl.konst && cl.bound == x) {
		return -1
	}
	if ac == opcodeI32Sub {
		step = -step
	}
	cl.x, cl.down = x, step < 0
	mag := max(step, -step)
	if mag == 0 || mag&(mag-1) != 0 || mag > 1<<16 {
		return -1
	}
	for ; mag > 1; mag >>= 1 {
		cl.shift++
	}
	if flip {
		cmp = flipped(cmp)
	}
	switch cmp {
	case opcodeI32Ne:
	case opcodeI32LtS, opcodeI32LtU:
		if cl.down || cl.shift != 0 {
			return -1
		}
	case opcodeI32GtS, opcodeI32GtU:
		if !cl.down || cl.shift != 0 {
			return -1
		}
	default:
		return -1
	}
	return tee
}

// flipped returns the comparison with its operands swapped.
func flipped(cmp byte) byte {
	switch cmp {
	case opcodeI32LtS:
		return opcodeI32GtS
	case opcodeI32LtU:
		return opcodeI32GtU
	case opcodeI32GtS:
		return opcodeI32LtS
	case opcodeI32GtU:
		return opcodeI32LtU
	}
	return cmp
}

// exit records a branch out of the loop to label e, counted from
// outside it, and reports whether a landing block can take it: a block
// or loop without values (not the function's), at most maxExits labels.
func (cl *counted) exit(d *decoder, bd *body, e uint32) bool {
	for _, x := range cl.exits {
		if x.label == e {
			return true
		}
	}
	target := len(d.stack) - 1 - int(e)
	if target < 0 || !d.stack[target].empty || len(cl.exits) == maxExits {
		return false
	}
	cross := uint32(0)
	for i := len(d.stack) - 1; i > target; i-- {
		if bd.wrapped(d.stack[i]) {
			cross += wrapLabels
		}
	}
	cl.exits = append(cl.exits, exit{label: e, cross: cross, store: d.loops == 0 || target < d.firstLoop})
	return true
}

// index returns the index in cl.exits of label e.
func (cl *counted) index(e uint32) uint32 {
	for j, x := range cl.exits {
		if x.label == e {
			return uint32(j)
		}
	}
	panic("instrument: a counted loop's exit was not recorded")
}

// countedOpen appends, for the counted loop at bd.ops[i], everything
// before the wrapped loop's header: the charge, the copy and its exits,
// and the start of the wrapping (wrapOpen less the block it shares).
func (bd *body) countedOpen(out, code []byte, i int) []byte {
	o := bd.ops[i]
	cl := o.counted
	m := uint32(len(cl.exits))
	out = append(out, 0x02, blockEmpty, 0x02, blockEmpty) // block $done; block $checked
	out = bd.countedCharge(out, cl, o.cost)
	for range m {
		out = append(out, 0x02, blockEmpty) // block $land
	}
	out = append(out, code[o.start:o.end]...) // loop
	out = bd.countedCopy(out, code, i)
	out = bd.refund(append(out, opcodeEnd), cl, o.cost)
	out = appendUleb(append(out, opcodeBr), uint64(m+1)) // br $done
	for j := int(m) - 1; j >= 0; j-- {
		x := cl.exits[j]
		out = bd.refund(append(out, opcodeEnd), cl, o.cost) // end $land
		if x.store {
			out = bd.store(out, 0)
		}
		// Inside the other landings, $checked and $done.
		out = appendUleb(append(out, opcodeBr), uint64(x.label+uint32(j)+2+x.cross))
	}
	out = append(out, opcodeEnd)                           // end $checked
	return append(out, 0x03, blockEmpty, 0x02, blockEmpty) // loop $retry; block $cold
}

// countedCharge appends, in $checked:
//
//	block $go
//	  block $low
//	    U = tripBound; br_if $checked (U - 1 >= maxCharge/cost: U = 0 wraps)
//	    br_if $low (U * cost > fuel)
//	    br $go
//	  end
//	  fuel = check()
//	end
//	global = fuel - U * cost
//
// The check's call is off the path that has the fuel (as for wrapOpen),
// and the fuel is charged after it whatever the check returned (a host
// that refills less than U * cost has the fuel below zero, and the next
// charge calls it again), so that the loop runs its copy every time it
// has a bound. The fuel goes to the global: the local's value is not
// used in the copy, so that no value of ours is live there, to be held
// in a register or spilled at every iteration.
func (bd *body) countedCharge(out []byte, cl *counted, cost uint32) []byte {
	fuel, tmp := uint64(bd.locals), bd.tmpLocal()
	out = append(out, 0x02, blockEmpty, 0x02, blockEmpty) // block $go; block $low
	out = bd.tripBound(out, cl)
	out = appendUleb(append(out, opcodeLocalTee), tmp)
	out = append(out, opcodeI32Const, 1, opcodeI32Sub)
	out = appendSleb(append(out, opcodeI32Const), int64(maxCharge/cost))
	out = append(out, opcodeI32GeU, opcodeBrIf, 2) // $checked
	out = appendUleb(append(out, opcodeLocalGet), tmp)
	out = appendSleb(append(out, opcodeI32Const), int64(cost))
	out = append(out, opcodeI32Mul)
	out = appendUleb(append(out, opcodeLocalGet), fuel)
	out = append(out, opcodeI32GtS, opcodeBrIf, 0, opcodeBr, 1, opcodeEnd) // br_if $low; br $go; end $low
	out = appendUleb(append(out, opcodeCall), uint64(bd.m.funcImports))
	out = appendUleb(append(out, opcodeLocalSet), fuel)
	out = append(out, opcodeEnd) // end $go
	out = appendUleb(append(out, opcodeLocalGet), fuel)
	out = appendUleb(append(out, opcodeLocalGet), tmp)
	out = appendSleb(append(out, opcodeI32Const), int64(cost))
	out = append(out, opcodeI32Mul, opcodeI32Sub)
	return appendUleb(append(out, opcodeGlobalSet), uint64(bd.m.globals))
}

// tripBound appends U, the bound on the loop's iterations: the
// distance of x to the bound in steps, or a branch to $checked when it
// is not a whole number of steps. Why U bounds the iterations, for the
// value x_0 of x at entry and x_k = x_0 + k*c modulo 2^32 after k
// iterations, U in [1, 2^16]:
//
//   - i32.ne, c = ±2^s: the loop goes on while x_k != bound; x_k =
//     bound first at k*2^s = U*2^s modulo 2^32, k = U (U*2^s < 2^32).
//   - i32.lt_u, c = 1: it goes on while x_k < bound. If x_1 >= bound it
//     runs once. Else x_k counts up by one from below the bound, and no
//     value below the bound wraps, so it reaches the bound at k = U. The
//     same for i32.lt_s in the signed order, and i32.gt_* with c = -1
//     counting down.
func (bd *body) tripBound(out []byte, cl *counted) []byte {
	out = cl.distance(out)
	if cl.shift > 0 {
		tmp := bd.tmpLocal()
		out = appendUleb(append(out, opcodeLocalTee), tmp)
		out = appendSleb(append(out, opcodeI32Const), int64(1)<<cl.shift-1)
		out = append(out, opcodeI32And, opcodeBrIf, 2) // not a multiple of the step: $checked
		out = appendUleb(append(out, opcodeLocalGet), tmp)
		out = appendSleb(append(out, opcodeI32Const), int64(cl.shift))
		out = append(out, opcodeI32ShrU)
	}
	return out
}

// distance appends bound - y when x steps up, y - bound when it steps
// down, y = x + off (tripBound shifts it to steps, once it knows it is
// a whole number of them).
func (cl *counted) distance(out []byte) []byte {
	bound := func(out []byte) []byte {
		if cl.konst {
			return appendSleb(append(out, opcodeI32Const), int64(cl.k))
		}
		return appendUleb(append(out, opcodeLocalGet), uint64(cl.bound))
	}
	x := func(out []byte) []byte {
		out = appendUleb(append(out, opcodeLocalGet), uint64(cl.x))
		if cl.off != 0 {
			out = appendSleb(append(out, opcodeI32Const), int64(cl.off))
			out = append(out, opcodeI32Add)
		}
		return out
	}
	if cl.down {
		return append(bound(x(out)), opcodeI32Sub)
	}
	return append(x(bound(out)), opcodeI32Sub)
}

// refund appends, at an exit of the copy: fuel = global + r * cost, for
// the iterations not run. After t tees (t <= U), x = x_0 + t*c, so its
// distance to the bound in steps is U - t, exactly (modulo 2^32, and U -
// t < 2^16), and r = U - t - 1: the exit is charged (t + 1) * cost, at
// least the iterations it ran, counting the one it left from. r is
// taken as 0 unless it is below U's limit (it is; this is in case it
// were not: a refund above the charge would let the guest run
// unchecked), so an exit at the bound (r = -1) is charged U * cost.
func (bd *body) refund(out []byte, cl *counted, cost uint32) []byte {
	fuel, tmp := uint64(bd.locals), bd.tmpLocal()
	out = appendUleb(append(out, opcodeGlobalGet), uint64(bd.m.globals))
	out = cl.distance(out)
	if cl.shift > 0 {
		out = appendSleb(append(out, opcodeI32Const), int64(cl.shift))
		out = append(out, opcodeI32ShrU)
	}
	out = append(out, opcodeI32Const, 1, opcodeI32Sub)
	out = appendUleb(append(out, opcodeLocalTee), tmp)
	out = append(out, opcodeI32Const, 0)
	out = appendUleb(append(out, opcodeLocalGet), tmp)
	out = appendSleb(append(out, opcodeI32Const), int64(maxCharge/cost))
	out = append(out, opcodeI32LtU, opcodeSelect) // r < limit ? r : 0
	out = appendSleb(append(out, opcodeI32Const), int64(cost))
	out = append(out, opcodeI32Mul, opcodeI32Add)
	return appendUleb(append(out, opcodeLocalSet), fuel)
}

// countedCopy appends the body of the counted loop at bd.ops[i], its
// branches out of it sent to their landing blocks.
func (bd *body) countedCopy(out, code []byte, i int) []byte {
	cl := bd.ops[i].counted
	m := uint32(len(cl.exits))
	depth := uint32(0)
	for _, p := range bd.ops[i+1 : cl.end] {
		c := code[p.start]
		switch c {
		case 0x02, opcodeIf:
			depth++
		case opcodeEnd:
			depth--
		}
		switch {
		case p.renumber: // ref.func (a loop with calls is not counted)
			out = appendUleb(append(out, c), uint64(bd.m.renumber(p.index)))
		case c == opcodeBr || c == opcodeBrIf || c == opcodeBrTable:
			r := &reader{b: code, pos: p.start + 1}
			n := uint32(0)
			out = append(out, c)
			if c == opcodeBrTable {
				n = r.u32()
				out = appendUleb(out, uint64(n))
			}
			for range n + 1 {
				l := r.u32()
				if l > depth { // to its landing: past the loop and the inner landings
					l = depth + 1 + (m - 1 - cl.index(l-depth-1))
				}
				out = appendUleb(out, uint64(l))
			}
		default:
			// A return keeps the whole charge: the global has it.
			out = append(out, code[p.start:p.end]...)
		}
	}
	return out
}
