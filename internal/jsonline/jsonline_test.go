package jsonline

import "testing"

func TestOneLine(t *testing.T) {
	cases := []struct{ in, want string }{
		{`{"a":1}`, `{"a":1}`},
		{"{\n\"a\": 1\r\n}", `{"a":1}`},
		{"\"a\\nb\"", "\"a\\nb\""}, // an escaped newline is no line break
		{"[1,\n", "[1, "},          // invalid: left for the peer to refuse, but one line
	}
	for _, c := range cases {
		if got := string(OneLine([]byte(c.in))); got != c.want {
			t.Errorf("OneLine(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
