package instrument

// paths bounds what a function's run, or one iteration of a loop, can
// execute: the longest path through its code, counting an inner loop as
// its own instruction only (its iterations are charged at its header).
// Only loops branch backwards, so outside inner loops a path runs each
// instruction at most once, and the longest one bounds them all; an
// instruction no path reaches (after a br, a return, an unreachable)
// counts for nothing.
//
// Why not every instruction, as before: a function or loop body is
// charged its bound each time it runs, and a body of many branches (a
// switch, an allocator's cases, Go's resumable functions, which dispatch
// on a br_table inside a loop) ran a small part of what it was charged
// for, so the guest called the check several times as often as its work
// asked: a 64 B echo in C about once every two calls, one in Go 40
// times a call, each call into the host a tenth of a microsecond or so.
//
// Threat: a bound below what a path runs lets a guest run more between
// two checks than its fuel says. The walk follows the structured
// control flow exactly: a branch reaches the end of its target block
// with the path it has (from inside an inner loop, with the path the
// enclosing body had when it entered that loop); an if's end is reached
// by its then, its else (or, without one, straight from its start), and
// the branches to it.
type paths struct {
	open []pathBlock
	cur  int64 // the longest path to here in the innermost body (-1: no path reaches here)
	fn   int64 // the function's longest path outside its loops
}

// pathBlock is an open block, if or loop.
type pathBlock struct {
	loop    bool
	isIf    bool
	reach   int64 // block, if: the longest path among the branches to its end
	start   int64 // if: the path at its start; loop: the enclosing body's path at its entry
	then    int64 // if: the path at the end of its then, once its else is seen
	sawElse bool
	longest int64 // loop: the longest path of an iteration
}

// reset starts a function's body.
func (p *paths) reset() {
	p.open = p.open[:0]
	p.cur, p.fn = 0, 0
}

// step counts one instruction on the path to here.
func (p *paths) step() {
	if p.cur >= 0 {
		p.cur++
		p.note()
	}
}

// note records the path to here as the innermost body's longest so far.
func (p *paths) note() {
	for i := len(p.open) - 1; i >= 0; i-- {
		if p.open[i].loop {
			p.open[i].longest = max(p.open[i].longest, p.cur)
			return
		}
	}
	p.fn = max(p.fn, p.cur)
}

// block opens a block, an if (isIf) or a loop, whose instruction has been
// counted.
func (p *paths) block(loop, isIf bool) {
	b := pathBlock{loop: loop, isIf: isIf, reach: -1, start: p.cur, then: -1}
	p.open = append(p.open, b)
	if loop {
		p.cur = 0 // an iteration's path starts at the header
	}
}

// elseBranch starts the else of the innermost if.
func (p *paths) elseBranch() {
	if n := len(p.open); n > 0 && p.open[n-1].isIf {
		b := &p.open[n-1]
		b.then, b.sawElse, p.cur = p.cur, true, b.start
	}
}

// end closes the innermost block and returns, for a loop, the longest
// path of an iteration (at least 1), else 0.
func (p *paths) end() uint32 {
	n := len(p.open)
	if n == 0 {
		return 0
	}
	b := p.open[n-1]
	p.open = p.open[:n-1]
	if b.loop {
		// Its fall-through is taken as reached: at worst a longer bound.
		p.cur = b.start
		return uint32(min(max(b.longest, 1), 1<<32-1))
	}
	p.cur = max(p.cur, b.reach)
	switch {
	case b.isIf && b.sawElse:
		p.cur = max(p.cur, b.then)
	case b.isIf:
		p.cur = max(p.cur, b.start)
	}
	p.note()
	return 0
}

// branch records a branch to label l (br, br_if, each of br_table's).
func (p *paths) branch(l uint32) {
	if p.cur < 0 {
		return
	}
	target := len(p.open) - 1 - int(min(l, uint32(len(p.open))))
	if target < 0 || p.open[target].loop {
		return // the function's end, or a loop's next iteration: the path ends here
	}
	// Out of the loops in between, the path is the one that entered the
	// outermost of them; none, if no path reached one of them.
	path := p.cur
	for i := len(p.open) - 1; i > target; i-- {
		if p.open[i].loop {
			if path = p.open[i].start; path < 0 {
				return
			}
		}
	}
	p.open[target].reach = max(p.open[target].reach, path)
}

// dead marks the code that follows as reached by no path (after br,
// br_table, return, unreachable and tail calls), until its block ends.
func (p *paths) dead() { p.cur = -1 }
