package instrument

import (
	"math/rand/v2"
	"testing"
)

// pathOp is one instruction of a generated body.
type pathOp struct {
	code   byte
	labels []uint32 // br, br_if, br_table
}

// genBody appends to ops a random structured sequence of loop-free
// control flow (nop, block, if/else, br, br_if, br_table, return,
// unreachable) inside depth enclosing labels (the function's included).
func genBody(r *rand.Rand, ops []pathOp, depth uint32, budget *int) []pathOp {
	for n := r.IntN(5); n > 0 && *budget > 0; n-- {
		*budget--
		label := func() uint32 { return uint32(r.IntN(int(depth) + 1)) }
		switch r.IntN(9) {
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
		case 0x02, 0x04:
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

// longestRun runs every path through ops (the body's end appended) and
// returns the most instructions one executes, by the semantics of
// structured control flow: a branch continues after its target's end,
// an if without its condition continues after its else (or its end),
// the end of a then continues after the if's end.
func longestRun(ops []pathOp) int {
	ops = append(ops, pathOp{code: 0x0b})
	// The matching end (and else) of every block and if.
	end, els := make([]int, len(ops)), make([]int, len(ops))
	var open []int
	for i, o := range ops {
		switch o.code {
		case 0x02, 0x04:
			open = append(open, i)
			els[i] = -1
		case 0x05:
			els[open[len(open)-1]] = i
		case 0x0b:
			if len(open) > 0 {
				end[open[len(open)-1]] = i
				open = open[:len(open)-1]
			}
		}
	}
	best := 0
	// run executes from pc with the open blocks' starts in stack.
	var run func(pc, count int, stack []int)
	run = func(pc, count int, stack []int) {
		for {
			o := ops[pc]
			count++
			best = max(best, count)
			switch o.code {
			case 0x0f, 0x00:
				return
			case 0x02:
				stack = append(stack[:len(stack):len(stack)], pc) // a copy: other paths share the array
				pc++
			case 0x04:
				s := append(stack[:len(stack):len(stack)], pc)
				run(pc+1, count, s) // the then
				if els[pc] >= 0 {
					pc, stack = els[pc]+1, s
				} else {
					pc = end[pc] + 1 // past the end, without running it
				}
			case 0x05: // the then's end: past the if's end
				start := stack[len(stack)-1]
				pc, stack = end[start]+1, stack[:len(stack)-1]
			case 0x0b:
				if len(stack) == 0 {
					return
				}
				pc, stack = pc+1, stack[:len(stack)-1]
			case 0x0c, 0x0d, 0x0e:
				for _, l := range o.labels {
					if int(l) >= len(stack) {
						continue // the function's label: a return
					}
					target := stack[len(stack)-1-int(l)]
					run(end[target]+1, count, stack[:len(stack)-1-int(l):len(stack)-1-int(l)])
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
	run(0, 0, nil)
	return best
}

// The charge at a function's entry is the longest path through its code
// (paths.go), checked against every path of thousands of random bodies
// of blocks, ifs and branches (threat: a bound below what a path runs
// lets a guest run more between two checks than its fuel says).
func TestEntryChargeIsTheLongestPath(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 3000 {
		budget := 30
		ops := genBody(r, nil, 0, &budget)
		want := longestRun(ops)
		bd := decodedBody(t, spinModuleBody(encodePathOps(ops)))
		if got := int(bd.outside); got != want {
			t.Fatalf("body %d %x: charged %d at entry, its longest path runs %d", i, encodePathOps(ops), got, want)
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
