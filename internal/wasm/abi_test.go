package wasm

import (
	"encoding/json"
	"testing"

	"github.com/airlock-go/airlock/internal/rpc"
)

// compactResult reads only envelopes whose result the full decoding would
// return as it is, and leaves everything else (invalid JSON included) to
// it. Threat: a guest answering with invalid JSON that the fast path let
// through to the caller.
func TestCompactResult(t *testing.T) {
	for _, c := range []struct {
		out  string
		fast bool
	}{
		{`{"result":"echo"}`, true},
		{`{"result":"a\"b\\c\u00e9"}`, true},
		{`{"result":{"a":1,"b":[true,null,2.5e3]}}`, true},
		{`{"result":null}`, true},
		{`{"result":tru}`, false},
		{`{"result":"unterminated}`, false},
		{`{"result":{"a":1,"a":2}}`, false}, // duplicate names: refused as rpc.Unmarshal refuses them
		{"{\"result\":\"\xff\"}", false},    // invalid UTF-8
		{"{\"result\":\"caf\xc3\"}", false}, // a plain string cut inside a rune
		{"{\"result\":\"a\x01b\"}", false},  // a control character, unescaped
		{`{"result":"café, plain"}`, true},
		{`{"result": 1}`, false},
		{`{"result":1 }`, false},
		{`{"result":1,"error":null}`, false},
		{`{"error":{"code":1,"message":"x"}}`, false},
		{`{"result":}`, false},
		{`{"result":`, false},
	} {
		got, ok := compactResult([]byte(c.out))
		if ok != c.fast {
			t.Errorf("%s: fast = %v, want %v", c.out, ok, c.fast)
			continue
		}
		if !ok {
			continue
		}
		var env struct {
			Result json.RawMessage `json:"result"`
		}
		if err := rpc.Unmarshal([]byte(c.out), &env); err != nil || string(env.Result) != string(got) {
			t.Errorf("%s: fast path %s, full decoding %s, %v", c.out, got, env.Result, err)
		}
	}
}
