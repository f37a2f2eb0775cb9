package rpc

// PlainString reports whether encoding/json writes s as it is between
// two quotes: ASCII with no control character, quote, backslash or one
// of < > & (which encoding/json escapes for HTML). A call's string input
// that is plain is encoded by copying it, without encoding/json's
// reflection, pooled buffer and second copy; any other goes through
// encoding/json. Checked eight bytes at a time.
func PlainString(s string) bool {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		if !plainWord(load64(s[i:])) {
			return false
		}
	}
	for ; i < len(s); i++ {
		if b := s[i]; b < 0x20 || b >= 0x80 || b == '"' || b == '\\' || b == '<' || b == '>' || b == '&' {
			return false
		}
	}
	return true
}

// load64 reads the first eight bytes of s, little-endian.
func load64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// Eight bytes of 0x01 and of 0x80, for the tests on a word at once.
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// plainWord reports whether none of the eight bytes of x is below 0x20,
// at or above 0x80, or one of " \ < > &. (A byte of x equal to c makes
// a zero byte of x ^ c·ones, which hasZero finds.)
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
// zero.
func hasZero(y uint64) uint64 { return (y - ones) &^ y }
