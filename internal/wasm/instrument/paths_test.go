package instrument

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// pathOp is one instruction of a generated body.
type pathOp struct {
	code   byte
	labels []uint32 // br, br_if, br_table
}

// genBody appends to ops a random structured sequence of control flow
// (nop, block, loop, if/else, br, br_if, br_table, return, unreachable)
// inside depth enclosing labels (the function's included).
func genBody(r *rand.Rand, ops []pathOp, depth uint32, budget *int) []pathOp {
	for n := r.IntN(5); n > 0 && *budget > 0; n-- {
		*budget--
		label := func() uint32 { return uint32(r.IntN(int(depth) + 1)) }
		switch r.IntN(10) {
		case 9:
			ops = append(ops, pathOp{code: 0x03})
			ops = append(genBody(r, ops, depth+1, budget), pathOp{code: 0x0b})
		case 0, 1:
			ops = append(ops, pathOp{code: 0x01}) // nop
		case 2:
			ops = append(ops, pathOp{code: 0x02})
			ops = append(genBody(r, ops, depth+1, budget), pathOp{code: 0x0b})
		case 3, 4:
			ops = append(ops, pathOp{code: 0x04})
			ops = genBody(r, ops, depth+1, budget)
			if r.IntN(2) == 0 {
				ops = append(ops, pathOp{code: 0x05})
				ops = genBody(r, ops, depth+1, budget)
			}
			ops = append(ops, pathOp{code: 0x0b})
		case 5:
			ops = append(ops, pathOp{code: 0x0d, labels: []uint32{label()}})
		case 6:
			ops = append(ops, pathOp{code: 0x0c, labels: []uint32{label()}})
		case 7:
			ls := make([]uint32, 1+r.IntN(3))
			for i := range ls {
				ls[i] = label()
			}
			ops = append(ops, pathOp{code: 0x0e, labels: ls})
		case 8:
			ops = append(ops, pathOp{code: []byte{0x0f, 0x00}[r.IntN(2)]}) // return, unreachable
		}
	}
	return ops
}

// encodePathOps encodes ops, ended by the body's end.
func encodePathOps(ops []pathOp) []byte {
	var out []byte
	for _, o := range ops {
		out = append(out, o.code)
		switch o.code {
		case 0x02, 0x03, 0x04:
			out = append(out, blockEmpty)
		case 0x0c, 0x0d:
			out = appendUleb(out, uint64(o.labels[0]))
		case 0x0e:
			out = appendUleb(out, uint64(len(o.labels)-1))
			for _, l := range o.labels {
				out = appendUleb(out, uint64(l))
			}
		}
	}
	return append(out, 0x0b)
}

// bruteCharges runs every path through ops (the body's end appended)
// and returns the most instructions a run of the function executes
// outside its loops, and for each loop in order the most an iteration
// executes outside its inner loops: a branch continues after its
// target's end, an if without its condition after its else (or its
// end), the end of a then after the if's end; a loop, met from outside,
// is its own instruction, and goes on after its end or at the target of
// any branch inside it to a block around it; a loop's iteration ends at
// a branch to it or out of it, and at its end.
func bruteCharges(ops []pathOp) (entry int, loops []int) {
	ops = append(ops, pathOp{code: 0x0b})
	// The static nesting: the blocks open at each instruction, and the
	// matching end, else and if of each.
	nest := make([][]int, len(ops))
	end, els, ifOf := make([]int, len(ops)), make([]int, len(ops)), make([]int, len(ops))
	var open []int
	for i, o := range ops {
		nest[i] = append([]int(nil), open...)
		switch o.code {
		case 0x02, 0x03, 0x04:
			open = append(open, i)
			els[i] = -1
		case 0x05:
			els[open[len(open)-1]], ifOf[i] = i, open[len(open)-1]
		case 0x0b:
			if len(open) > 0 {
				end[open[len(open)-1]] = i
				open = open[:len(open)-1]
			}
		}
	}
	// target is the block label l names at q, or -1 for the function's.
	target := func(q int, l uint32) int {
		if int(l) >= len(nest[q]) {
			return -1
		}
		return nest[q][len(nest[q])-1-int(l)]
	}
	// run follows every path from pc, count instructions in, through the
	// body of root (a loop, or -1 for the function), keeping the longest
	// in best, and handing leave the blocks outside root it branches to.
	var run func(pc, count, root int, best *int, leave func(t int))
	branch := func(t, count, root int, best *int, leave func(t int)) {
		switch {
		case t == -1 || t == root: // a return, or the next iteration
		case t < root:
			leave(t)
		default:
			run(end[t]+1, count, root, best, leave)
		}
	}
	run = func(pc, count, root int, best *int, leave func(t int)) {
		for {
			o := ops[pc]
			count++
			*best = max(*best, count)
			switch o.code {
			case 0x0f, 0x00:
				return
			case 0x03: // an inner loop: on where its iterations branch out, or after it
				var inner int
				out := map[int]bool{}
				run(pc+1, 0, pc, &inner, func(t int) { out[t] = true })
				for t := range out {
					branch(t, count, root, best, leave)
				}
				run(end[pc]+1, count, root, best, leave)
				return
			case 0x04:
				run(pc+1, count, root, best, leave) // the then
				if els[pc] >= 0 {
					pc = els[pc] + 1
				} else {
					pc = end[pc] + 1 // past the end, without running it
				}
			case 0x05: // the then's end: past the if's end
				pc = end[ifOf[pc]] + 1
			case 0x0b:
				if pc == len(ops)-1 || (root >= 0 && pc == end[root]) {
					return
				}
				pc++
			case 0x0c, 0x0d, 0x0e:
				for _, l := range o.labels {
					branch(target(pc, l), count, root, best, leave)
				}
				if o.code != 0x0d {
					return
				}
				pc++
			default:
				pc++
			}
		}
	}
	run(0, 0, -1, &entry, nil)
	for i, o := range ops {
		if o.code == 0x03 {
			best := 0
			run(i+1, 0, i, &best, func(int) {})
			loops = append(loops, max(best, 1))
		}
	}
	return entry, loops
}

// The charge at a function's entry, and at each loop's header, is the
// longest path through its code (paths.go), checked against every path
// of thousands of random bodies of blocks, loops, ifs and branches
// (threat: a bound below what a path runs lets a guest run more between
// two checks than its fuel says).
func TestChargesAreTheLongestPaths(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 5000 {
		budget := 30
		ops := genBody(r, nil, 0, &budget)
		entry, loops := bruteCharges(ops)
		bd := decodedBody(t, spinModuleBody(encodePathOps(ops)))
		if got := int(bd.outside); got != entry {
			t.Fatalf("body %d %x: charged %d at entry, its longest path runs %d", i, encodePathOps(ops), got, entry)
		}
		var got []int
		for _, o := range bd.ops {
			if o.loop {
				got = append(got, int(o.cost))
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(loops) {
			t.Fatalf("body %d %x: loops charged %v an iteration, their longest paths run %v", i, encodePathOps(ops), got, loops)
		}
	}
}

// Hand-counted cases, loops among them: a switch is charged its longest
// case, a loop an iteration's longest path without its inner loops, and
// a branch out of a loop reaches its target with the path that entered
// the loop.
func TestPathCharges(t *testing.T) {
	nops := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = 0x01
		}
		return b
	}
	cat := func(parts ...[]byte) []byte {
		var out []byte
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	for _, c := range []struct {
		name  string
		code  []byte // the body, before its end
		entry uint32 // the charge at entry, the body's end included
		loops []uint32
	}{
		{"straight line", nops(10), 11, nil},
		{"if 100 else 10", cat([]byte{0x04, 0x40}, nops(100), []byte{0x05}, nops(10), []byte{0x0b}), 103, nil},
		{"if without else", cat([]byte{0x04, 0x40}, nops(100), []byte{0x0b}), 103, nil},
		{"switch of 4 cases of 50",
			cat([]byte{0x02, 0x40, 0x02, 0x40, 0x02, 0x40, 0x02, 0x40, 0x0e, 3, 0, 1, 2, 3, 0x0b},
				nops(50), []byte{0x0c, 2, 0x0b}, nops(50), []byte{0x0c, 1, 0x0b}, nops(50), []byte{0x0c, 0, 0x0b}, nops(50)),
			// a case and the last (every case runs on into it): four
			// blocks, the table, 50 nops, the br, 50 nops and the body's
			// end, where every instruction made 214
			4 + 1 + 50 + 1 + 50 + 1, nil},
		{"a loop of 20 with an inner loop of 30",
			// the outer: 20 nops, the inner loop's instruction and its own end
			cat([]byte{0x03, 0x40}, nops(20), []byte{0x03, 0x40}, nops(30), []byte{0x0b, 0x0b}), 2, []uint32{20 + 1 + 1, 31}},
		{"a branch out of a loop to a block's end, then 40",
			cat([]byte{0x02, 0x40, 0x03, 0x40}, nops(5), []byte{0x0d, 1}, nops(60), []byte{0x0b, 0x0b}, nops(40)),
			// block, loop, (the loop's fall-through or its branch out, alike) end, 40 nops, the end
			1 + 1 + 1 + 40 + 1, []uint32{5 + 1 + 60 + 1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			bd := decodedBody(t, spinModuleBody(append(c.code, 0x0b)))
			if bd.outside != c.entry {
				t.Errorf("charged %d at entry, want %d", bd.outside, c.entry)
			}
			var loops []uint32
			for _, o := range bd.ops {
				if o.loop {
					loops = append(loops, o.cost)
				}
			}
			if len(loops) != len(c.loops) {
				t.Fatalf("loops charged %v, want %v", loops, c.loops)
			}
			for i := range loops {
				if loops[i] != c.loops[i] {
					t.Errorf("loops charged %v, want %v", loops, c.loops)
				}
			}
		})
	}
}

// spinModuleBody is spinModule with a body given whole (its end
// included).
func spinModuleBody(code []byte) []byte {
	return wasmOf(
		sec(secType, vec([]byte{0x60, 1, 0x7f, 1, 0x7f})),
		sec(secFunction, vec([]byte{0})),
		sec(secExport, vec(append(appendName(nil, "spin"), 0x00, 0x00))),
		sec(secCode, vec(fbody([]byte{1, 1, 0x7f}, code...))),
	)
}
