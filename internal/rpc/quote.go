package rpc

import "unicode/utf8"

// AppendString appends s to dst as a JSON string, byte for byte as
// encoding/json encodes a Go string: <, > and & escaped as \u003c,
// \u003e and \u0026, U+2028 and U+2029 escaped, control characters as
// \b, \f, \n, \r, \t or \u00XX, and each byte of invalid UTF-8 replaced
// by \ufffd. A call's string input is encoded with it, without
// encoding/json's reflection, pooled buffer and second copy.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		// Eight bytes at a time while none needs a second look.
		for i+8 <= len(s) && plainWord(load64(s[i:])) {
			i += 8
		}
		if i >= len(s) {
			break
		}
		b := s[i]
		if b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			dst = appendEscape(dst, b)
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

const hexDigits = "0123456789abcdef"

// Eight bytes of 0x01 and of 0x80, for the tests on a word at once.
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// load64 reads the first eight bytes of s, little-endian.
func load64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// plainWord reports whether none of the eight bytes of x is below 0x20,
// at or above 0x80, or one of " \\ < > &: written as they are. (A byte
// of x equal to c makes a zero byte of x ^ c·ones, whose high bit the
// subtraction sets.)
func plainWord(x uint64) bool {
	bad := (x - 0x20*ones) &^ x // below 0x20; at or above 0x80 shows in x itself
	bad |= hasZero(x ^ '"'*ones)
	bad |= hasZero(x ^ '\\'*ones)
	bad |= hasZero(x ^ '<'*ones)
	bad |= hasZero(x ^ '>'*ones)
	bad |= hasZero(x ^ '&'*ones)
	return (bad|x)&highs == 0
}

// hasZero is nonzero, in its high bits, if and only if a byte of y is
// zero. (Which bytes it marks may be off after the first zero: a false
// alarm would only send the word through AppendString's byte loop.)
func hasZero(y uint64) uint64 { return (y - ones) &^ y }

// appendEscape appends the escape of an ASCII byte that is not written
// as it is.
func appendEscape(dst []byte, b byte) []byte {
	switch b {
	case '"', '\\':
		return append(dst, '\\', b)
	case '\b':
		return append(dst, '\\', 'b')
	case '\f':
		return append(dst, '\\', 'f')
	case '\n':
		return append(dst, '\\', 'n')
	case '\r':
		return append(dst, '\\', 'r')
	case '\t':
		return append(dst, '\\', 't')
	}
	return append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xf])
}
