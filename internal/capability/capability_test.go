package capability

import (
	"slices"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	cases := []struct {
		in, want, err string
	}{
		{"log", "log", ""},
		{"ledger.read", "ledger.read", ""},
		{"env:HOME", "env:HOME", ""},
		{"http:api.example.com", "http:api.example.com", ""},
		{"fs.read:/srv/in", "fs.read:/srv/in", ""},
		{"fs.read:/srv/../etc/", "fs.read:/etc", ""},
		{`fs.write:C:\data\out\..\in`, "fs.write:C:/data/in", ""},
		{"fs.read:d:/x/", "fs.read:d:/x", ""},
		{`fs.read:C:relative`, "", "absolute path"},
		{"fs.read:C:/../etc", "fs.read:C:/etc", ""}, // ".." cannot remove the drive
		{"env:a\x1b[31m", "", "control character"},
		{"", "", "empty name"},
		{"Log", "", "lower-case"},
		{"9log", "", "lower-case"},
		{"log.", "", "lower-case"},
		{"env:", "", "empty scope"},
		{"fs.read:relative/path", "", "absolute path"},
		{"env:A\nB", "", "control character"},
	}
	for _, c := range cases {
		got, err := Parse(c.in)
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("Parse(%q) err = %v, want %q", c.in, err, c.err)
		case c.err == "" && (err != nil || got.String() != c.want):
			t.Errorf("Parse(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

func TestCovers(t *testing.T) {
	cases := []struct {
		grant, want string
		covers      bool
	}{
		{"log", "log", true},
		{"log", "kv", false},
		{"env", "env:HOME", false}, // a bare name is not every scope
		{"env:*", "env:HOME", true},
		{"env:*", "env", false},
		{"env:HOME", "env:PATH", false},
		{"fs.read:/srv", "fs.read:/srv/in/x", true},
		{"fs.read:/srv", "fs.read:/srv", true},
		{"fs.read:/srv/in", "fs.read:/srv/inbox", false},
		{"fs.read:/", "fs.read:/etc/passwd", true},
		{"fs.read:/srv", "fs.write:/srv", false},
		{`fs.read:C:\data`, `fs.read:C:\data\in\x`, true},
		{`fs.read:C:\data`, `fs.read:C:\database`, false},
		{"fs.read:C:/", "fs.read:C:/data", true},
		{"fs.read:C:/", "fs.read:D:/data", false},
		{"http:*.example.com", "http:api.example.com", true},
		{"http:*.example.com", "http:example.com.evil.org", false},
		{"http:api.example.com", "http:evil.com", false},
	}
	for _, c := range cases {
		g, w := MustParse(c.grant), MustParse(c.want)
		if got := g.Covers(w); got != c.covers {
			t.Errorf("%q covers %q = %v, want %v", c.grant, c.want, got, c.covers)
		}
	}
}

func TestSet(t *testing.T) {
	s, err := NewSet([]string{"log", "env:HOME", "env:LANG", "log", "fs.read:/srv"})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Strings(); !slices.Equal(got, []string{"log", "env:HOME", "env:LANG", "fs.read:/srv"}) {
		t.Errorf("Strings = %v (duplicates must go)", got)
	}
	if !s.AllowsString("fs.read:/srv/x") || s.AllowsString("kv") || s.AllowsString("Bad Cap") {
		t.Error("AllowsString wrong")
	}
	missing := s.Missing([]Cap{MustParse("kv"), MustParse("log"), MustParse("env:PATH")})
	if len(missing) != 2 || missing[0].String() != "kv" || missing[1].String() != "env:PATH" {
		t.Errorf("Missing = %v, want [kv env:PATH] in order", missing)
	}
	if got := s.Scopes("env"); !slices.Equal(got, []string{"HOME", "LANG"}) {
		t.Errorf("Scopes(env) = %v", got)
	}
	if _, err := NewSet([]string{"log", "BAD"}); err == nil {
		t.Error("NewSet accepted a malformed grant")
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"log", "fs.read:/a/../b", "env:X", "http:*.x.y", ":", "a:b:c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := Parse(s)
		if err != nil {
			return
		}
		again, err := Parse(c.String())
		if err != nil || again != c {
			t.Fatalf("Parse(%q) = %v; round trip gave %v, %v", s, c, again, err)
		}
		if !c.Covers(c) {
			t.Fatalf("%v does not cover itself", c)
		}
	})
}
