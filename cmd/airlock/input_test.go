package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadJSONArg(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	os.WriteFile(good, []byte("{\"a\": [1, 2]}\n"), 0o644)
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"a": `+strings.Repeat("1", 200)), 0o644)
	cases := []struct {
		name, value, stdin string
		want               string // the JSON, or what the usage error says
		ok                 bool
	}{
		{"inline", `{"name":"ada"}`, "", `{"name":"ada"}`, true},
		{"inline scalar", `42`, "", `42`, true},
		{"file", "@" + good, "", "{\"a\": [1, 2]}\n", true},
		{"stdin", "-", ` "x" `, ` "x" `, true},
		{"inline invalid", `{oops`, "", `--input is not valid JSON: invalid character 'o' looking for beginning of object key string (at byte 2): "{oops"`, false},
		{"file invalid, quoted short", "@" + bad, "", `bad.json is not valid JSON: unexpected end of JSON input (at byte 206): "{\"a\": 1111`, false},
		{"file missing", "@" + filepath.Join(dir, "none.json"), "", "none.json: ", false}, // the rest is the system's words
		{"no file name", "@", "", "want a file name after @", false},
		{"stdin empty", "-", "", "standard input is not valid JSON", false},
		{"empty inline", "", "", "--input is not valid JSON", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			withStdin(t, c.stdin)
			got, err := readJSONArg("--input", c.value)
			var ue *usageError
			switch {
			case c.ok && (err != nil || string(got) != c.want):
				t.Errorf("got %q, %v; want %q", got, err, c.want)
			case !c.ok && (!errors.As(err, &ue) || !strings.Contains(err.Error(), c.want)):
				t.Errorf("error %v; want a usage error saying %q", err, c.want)
			case !c.ok && len(err.Error()) > 400:
				t.Errorf("error is %d bytes: the input is not quoted in full", len(err.Error()))
			}
		})
	}
}

func TestParseStub(t *testing.T) {
	cases := []struct {
		arg, name, cap, value, err string
	}{
		{arg: `ledger.balance={"balance":1}`, name: "ledger.balance", cap: "ledger.balance", value: `{"balance":1}`},
		{arg: `ledger.balance:ledger.read=7`, name: "ledger.balance", cap: "ledger.read", value: `7`},
		{arg: `fetch:http:api.example.com=null`, name: "fetch", cap: "http:api.example.com", value: `null`},
		{arg: `ledger.balance`, err: "want NAME=VALUE"},
		{arg: `Ledger=1`, err: "--stub Ledger"},
		{arg: `x:Bad Cap=1`, err: "--stub x:Bad Cap"},
		{arg: `x={`, err: "not valid JSON"},
	}
	for _, c := range cases {
		s, err := parseStub(c.arg)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: error %v, want %q", c.arg, err, c.err)
			}
			continue
		}
		if err != nil || s.name != c.name || s.cap != c.cap || string(s.value) != c.value {
			t.Errorf("%s: %+v, %v", c.arg, s, err)
		}
	}
}
