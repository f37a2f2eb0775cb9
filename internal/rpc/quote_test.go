package rpc

import (
	"encoding/json"
	"strings"
	"testing"
)

// quoteCases are strings of every kind AppendString treats apart.
var quoteCases = []string{
	"", "plain", `quote " and backslash \`, "<script>&amp;</script>",
	"\b\f\n\r\t\x00\x01\x1f\x7f", "é, 日本, 🎉", "\u2028 and \u2029",
	"bad \xff utf-8 \xc3", "\xed\xa0\x80 a surrogate", "x\"",
}

// AppendString writes exactly what encoding/json writes for a string.
func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range quoteCases {
		want, _ := json.Marshal(s)
		if got := AppendString(nil, s); string(got) != string(want) {
			t.Errorf("AppendString(%q) = %s, want %s", s, got, want)
		}
	}
}

// Every byte that needs a second look is found at every place in and
// around the eight-byte words AppendString scans.
func TestAppendStringFindsEveryByteInAWord(t *testing.T) {
	for _, bad := range []string{`"`, `\`, "<", ">", "&", "\x00", "\x1f", "\x80", "é", "\u2028"} {
		for at := range 25 {
			s := strings.Repeat("x", at) + bad + strings.Repeat("y", 24-at)
			want, _ := json.Marshal(s)
			if got := AppendString(nil, s); string(got) != string(want) {
				t.Errorf("AppendString(%q) = %s, want %s", s, got, want)
			}
		}
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range quoteCases {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := AppendString([]byte("prefix"), s); string(got) != "prefix"+string(want) {
			t.Fatalf("AppendString(%q) = %s, want prefix%s", s, got, want)
		}
	})
}

func BenchmarkAppendString(b *testing.B) {
	plain := "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	b.Run("AppendString", func(b *testing.B) {
		var buf []byte
		for b.Loop() {
			buf = AppendString(buf[:0], plain)
		}
	})
	b.Run("json.Marshal", func(b *testing.B) {
		for b.Loop() {
			_, _ = json.Marshal(plain)
		}
	})
}
