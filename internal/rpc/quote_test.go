package rpc

import (
	"encoding/json"
	"strings"
	"testing"
)

// quoteCases are strings of every kind: plain, and not for each reason.
var quoteCases = []string{
	"", "plain", "twenty-four plain bytes.", `quote " and backslash \`, "<script>&amp;</script>",
	"\b\f\n\r\t\x00\x01\x1f\x7f", "é, 日本, 🎉", "\u2028 and \u2029",
	"bad \xff utf-8 \xc3", "x\"",
}

// checkPlain fails t unless PlainString(s) says exactly whether
// encoding/json writes s as it is, for an ASCII s (and never says so of
// a string encoding/json changes).
func checkPlain(t *testing.T, s string) {
	t.Helper()
	enc, _ := json.Marshal(s)
	asIs := string(enc) == `"`+s+`"`
	ascii := !strings.ContainsFunc(s, func(r rune) bool { return r >= 0x80 })
	if got := PlainString(s); got && !asIs || !got && asIs && ascii {
		t.Errorf("PlainString(%q) = %v; encoding/json writes %s", s, got, enc)
	}
}

func TestPlainStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range quoteCases {
		checkPlain(t, s)
	}
}

// Every byte that is not written as it is is found at every place in
// and around the eight-byte words PlainString reads.
func TestPlainStringFindsEveryByteInAWord(t *testing.T) {
	for b := 0; b < 256; b++ {
		for at := range 25 {
			checkPlain(t, strings.Repeat("x", at)+string([]byte{byte(b)})+strings.Repeat("y", 24-at))
		}
	}
}

func FuzzPlainString(f *testing.F) {
	for _, s := range quoteCases {
		f.Add(s)
	}
	f.Fuzz(checkPlain)
}
