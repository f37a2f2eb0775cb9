package instrument

import (
	"errors"
	"fmt"
)

var errTruncated = errors.New("unexpected end of data")

// reader reads the binary format: bytes, LEB128 numbers and vectors. Its
// first error sticks; every later read returns zero values.
type reader struct {
	b   []byte
	pos int
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("at byte %d: %s", r.pos, fmt.Sprintf(format, args...))
	}
}

// end fails unless every byte was read, and returns the error.
func (r *reader) end() error {
	if r.err == nil && r.pos != len(r.b) {
		r.fail("%d bytes after the entries", len(r.b)-r.pos)
	}
	return r.err
}

func (r *reader) done() bool { return r.err != nil || r.pos >= len(r.b) }

func (r *reader) byte() byte {
	if r.err != nil {
		return 0
	}
	if r.pos >= len(r.b) {
		r.fail("%v", errTruncated)
		return 0
	}
	c := r.b[r.pos]
	r.pos++
	return c
}

func (r *reader) bytes(n uint64) []byte {
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)-r.pos) {
		r.fail("%v", errTruncated)
		return nil
	}
	out := r.b[r.pos : r.pos+int(n)]
	r.pos += int(n)
	return out
}

// uleb reads an unsigned LEB128 number of at most bits bits.
func (r *reader) uleb(bits uint) uint64 {
	var v uint64
	for shift := uint(0); ; shift += 7 {
		c := r.byte()
		if r.err != nil {
			return 0
		}
		if shift >= bits || (shift+7 > bits && uint64(c&0x7f)>>(bits-shift) != 0) {
			r.fail("LEB128 number longer than %d bits", bits)
			return 0
		}
		v |= uint64(c&0x7f) << shift
		if c&0x80 == 0 {
			return v
		}
	}
}

func (r *reader) u32() uint32 { return uint32(r.uleb(32)) }

// sleb reads a signed LEB128 number of at most bits bits (33 for block
// types, 32 and 64 for constants). Only its length matters here: the
// value is copied as it was read.
func (r *reader) sleb(bits uint) int64 {
	var v int64
	var shift uint
	for {
		c := r.byte()
		if r.err != nil {
			return 0
		}
		if shift >= bits {
			r.fail("LEB128 number longer than %d bits", bits)
			return 0
		}
		v |= int64(c&0x7f) << shift
		shift += 7
		if c&0x80 == 0 {
			if shift < 64 && c&0x40 != 0 {
				v |= -1 << shift
			}
			return v
		}
	}
}

// name reads a length-prefixed string.
func (r *reader) name() string { return string(r.bytes(r.uleb(32))) }

func appendUleb(b []byte, v uint64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v == 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

func appendSleb(b []byte, v int64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

func appendName(b []byte, s string) []byte {
	return append(appendUleb(b, uint64(len(s))), s...)
}

// valType reads a value type: one byte, or a reference type's prefix and
// its heap type (wazero reads those where a value type may be). A heap
// type that names a type must name one of the module's own types, of
// which there are types (threat: an index one past them, invalid in the
// original, would name the type the rewriting adds; found by
// FuzzModule).
func (r *reader) valType(types uint32) {
	if c := r.byte(); c == 0x63 || c == 0x64 {
		if t := r.sleb(33); r.err == nil && t >= int64(types) {
			r.fail("reference to unknown type %d", t)
		}
	}
}
