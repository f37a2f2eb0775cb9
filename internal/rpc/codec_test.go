package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/airlock-go/airlock/protocol"
)

func TestCheckRaw(t *testing.T) {
	cases := []struct {
		name, in, want, err string
	}{
		{"object", `{"a":1}`, `{"a":1}`, ""},
		{"string", `"x"`, `"x"`, ""},
		{"spaces kept on one line", `{ "a" : 1 }`, `{ "a" : 1 }`, ""},
		{"newlines compacted", "{\n  \"a\": [1,\r\n 2]\n}", `{"a":[1,2]}`, ""},
		{"escaped newline in a string kept", `"a\nb"`, `"a\nb"`, ""},
		{"empty", ``, "", "invalid JSON"},
		{"two values", `1 2`, "", "invalid JSON"},
		{"truncated", `{"a":`, "", "invalid JSON"},
		{"duplicate names", `{"a":1,"a":2}`, "", "duplicate"},
		{"invalid UTF-8", "\"\xff\"", "", "UTF-8"},
		{"raw newline inside a string", "\"a\nb\"", "", "invalid JSON"},
		{"invalid with newline", "{\n", "", "invalid JSON"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := CheckRaw([]byte(c.in))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("CheckRaw(%q) = %q, %v; want an error containing %q", c.in, got, err, c.err)
				}
				return
			}
			if err != nil || string(got) != c.want {
				t.Fatalf("CheckRaw(%q) = %q, %v; want %q", c.in, got, err, c.want)
			}
		})
	}
}

// A handler's result spread over several lines must not split the answer
// into several messages.
func TestMultiLineResultStaysOneMessage(t *testing.T) {
	h := handler(map[string]Handler{"pretty": func(context.Context, string, json.RawMessage) (json.RawMessage, error) {
		return json.RawMessage("{\n  \"a\": 1\n}"), nil
	}})
	p := newPeer(t, h, Options{})
	p.send(`{"jsonrpc":"2.0","id":1,"method":"pretty"}` + "\n")
	if m := p.next(t); string(m.Result) != `{"a":1}` {
		t.Fatalf("result = %s, want {\"a\":1}", m.Result)
	}
	p.send(`{"jsonrpc":"2.0","id":2,"method":"pretty"}` + "\n")
	if m := p.next(t); string(m.ID) != "2" {
		t.Fatalf("second answer has id %s: the first was split", m.ID)
	}
}

// A member that appears twice would let the two ends read one message two
// ways: it is a violation.
func TestAmbiguousMessagesRefused(t *testing.T) {
	for _, line := range []string{
		`{"jsonrpc":"2.0","id":1,"id":2,"method":"echo"}`,
		`{"jsonrpc":"2.0","id":1,"method":"echo","params":{"a":1,"a":2}}`,
	} {
		p := newPeer(t, echoHandler, Options{})
		p.send(line + "\n")
		if err := p.wait(t); err == nil {
			t.Errorf("%s: connection kept going", line)
		}
	}
}

// The hand-written encoding of protocol.CallParams decodes to what it encoded.
func TestCallParamsEncoding(t *testing.T) {
	cases := []protocol.CallParams{
		{Name: "echo", Input: json.RawMessage(`"x"`)},
		{Name: "greet", Phase: "before", Input: json.RawMessage(`{"name":"ada"}`), TimeoutMS: 1500},
		{Name: `odd "name"` + "\u2028", Input: nil},
		{Name: "pretty", Input: json.RawMessage("{\n\"a\": 1\n}")},
		{Name: "traced", Phase: "define", TimeoutMS: 5, Traceparent: &testTraceparent, Tracestate: "k=v", Input: json.RawMessage(`1`)},
	}
	for _, c := range cases {
		raw, err := marshalParams(c)
		if err != nil {
			t.Fatalf("%+v: %v", c, err)
		}
		if strings.ContainsAny(string(raw), "\r\n") {
			t.Errorf("%+v encodes over several lines: %s", c, raw)
		}
		if names := memberNames(t, raw); names[len(names)-1] != "input" {
			t.Errorf("%s: members %q, want input last", raw, names)
		}
		var got protocol.CallParams
		if err := Unmarshal(raw, &got); err != nil {
			t.Fatalf("%s does not decode: %v", raw, err)
		}
		fast, err := DecodeCallParams(raw)
		if err != nil {
			t.Fatalf("DecodeCallParams(%s): %v", raw, err)
		}
		if fast.Name != got.Name || fast.Phase != got.Phase || fast.TimeoutMS != got.TimeoutMS || fast.Traceparent.Value() != got.Traceparent.Value() || fast.Tracestate != got.Tracestate || string(fast.Input) != string(got.Input) {
			t.Errorf("DecodeCallParams(%s) = %+v, Unmarshal gives %+v", raw, fast, got)
		}
		want := c
		if want.Input == nil {
			want.Input = json.RawMessage("null")
		}
		if compact, err := CheckRaw(want.Input); err == nil {
			want.Input = compact
		}
		if got.Name != want.Name || got.Phase != want.Phase || got.TimeoutMS != want.TimeoutMS || got.Traceparent.Value() != want.Traceparent.Value() || got.Tracestate != want.Tracestate || string(got.Input) != string(want.Input) {
			t.Errorf("%s decodes to %+v, want %+v", raw, got, want)
		}
	}
}

// memberNames lists the top-level member names of the object raw, in order.
func memberNames(t *testing.T, raw []byte) []string {
	t.Helper()
	dec := jsontext.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '{' {
		t.Fatalf("%s is not an object: %v", raw, err)
	}
	var names []string
	for dec.PeekKind() != '}' {
		name, err := dec.ReadToken()
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		names = append(names, name.String())
		if err := dec.SkipValue(); err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
	}
	return names
}

func TestDecodeMessage(t *testing.T) {
	cases := []struct {
		name, line string
		want       Message
		err        string
	}{
		{"request", `{"jsonrpc":"2.0","id":7,"method":"call","params":{"a":[1,2]}}`,
			Message{JSONRPC: "2.0", ID: json.RawMessage("7"), Method: "call", Params: json.RawMessage(`{"a":[1,2]}`)}, ""},
		{"result null", `{"jsonrpc":"2.0","id":"x","result":null}`,
			Message{JSONRPC: "2.0", ID: json.RawMessage(`"x"`), Result: json.RawMessage("null")}, ""},
		{"error", `{"jsonrpc":"2.0","id":1,"error":{"code":-32002,"message":"cancelled","data":[1]}}`,
			Message{JSONRPC: "2.0", ID: json.RawMessage("1"), Error: &protocol.Error{Code: -32002, Message: "cancelled", Data: json.RawMessage("[1]")}}, ""},
		{"escaped names and method", `{"jsonrpc":"2.0","\u0069d":1,"method":"my\u002fmethod"}`,
			Message{JSONRPC: "2.0", ID: json.RawMessage("1"), Method: "my/method"}, ""},
		{"unknown members skipped", `{"jsonrpc":"2.0","extra":{"deep":[{}]},"method":"log"}`,
			Message{JSONRPC: "2.0", Method: "log"}, ""},
		{"spaces", ` { "jsonrpc" : "2.0" , "method" : "x" } `, Message{JSONRPC: "2.0", Method: "x"}, ""},
		{"duplicate member", `{"jsonrpc":"2.0","id":1,"id":2}`, Message{}, "duplicate"},
		{"duplicate deep", `{"jsonrpc":"2.0","params":{"a":1,"a":2}}`, Message{}, "duplicate"},
		{"not an object", `[1]`, Message{}, "object"},
		{"method not a string", `{"jsonrpc":"2.0","method":1}`, Message{}, "string"},
		{"data after", `{"jsonrpc":"2.0"} {}`, Message{}, "after"},
		{"truncated", `{"jsonrpc":"2.0","id":`, Message{}, "EOF"},
		{"invalid UTF-8", "{\"jsonrpc\":\"2.0\",\"method\":\"\xff\"}", Message{}, "UTF-8"},
	}
	var d decoder
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var m Message
			err := d.decode([]byte(c.line), &m)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("decode(%s) = %v, want an error containing %q", c.line, err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("decode(%s): %v", c.line, err)
			}
			got, _ := json.Marshal(m)
			want, _ := json.Marshal(c.want)
			if string(got) != string(want) {
				t.Errorf("decode(%s) = %s, want %s", c.line, got, want)
			}
		})
	}
}

func BenchmarkDecodeMessage(b *testing.B) {
	line := []byte(`{"jsonrpc":"2.0","id":12,"result":"` + strings.Repeat("x", 62) + `"}`)
	var d decoder
	b.ReportAllocs()
	for b.Loop() {
		var m Message
		if err := d.decode(line, &m); err != nil {
			b.Fatal(err)
		}
	}
}

func TestDecodeCallParamsRefuses(t *testing.T) {
	for _, raw := range []string{
		`[]`, `{"name":1}`, `{"name":"a","name":"b"}`, `{"timeout_ms":"5"}`, `{"timeout_ms":1.5}`,
		`{"name":"a"} 1`, `{"name":"a","input":{"x":1,"x":2}}`, `{"name":"a","input":`,
	} {
		if p, err := DecodeCallParams([]byte(raw)); err == nil {
			t.Errorf("DecodeCallParams(%s) = %+v, want an error", raw, p)
		}
	}
}

// DecodeCallParams returns the input exactly as written, wherever it
// stands among the members and whatever the spacing around it.
func TestDecodeCallParamsInputSlice(t *testing.T) {
	for _, c := range []struct{ raw, input string }{
		{` { "input" : [1, 2] , "name" : "a" } `, `[1, 2]`},
		{`{"name":"a","input":"x\"y"}`, `"x\"y"`},
		{`{"input":{"k":"v"},"timeout_ms":5}`, `{"k":"v"}`},
		{"{\"name\":\"a\",\n\"input\":\n7\n}", `7`},
	} {
		p, err := DecodeCallParams([]byte(c.raw))
		if err != nil {
			t.Fatalf("DecodeCallParams(%q): %v", c.raw, err)
		}
		if string(p.Input) != c.input {
			t.Errorf("DecodeCallParams(%q).Input = %q, want %q", c.raw, p.Input, c.input)
		}
	}
}

// A call request's params are decoded with the message when method comes
// first; the raw params are kept either way, and params that are valid
// JSON but not call params leave the decoding to DecodeCallParams, which
// answers with an error instead of ending the connection.
func TestCallParamsDecodedWithMessage(t *testing.T) {
	cases := []struct {
		line, params string
		call         *protocol.CallParams
	}{
		{`{"jsonrpc":"2.0","id":1,"method":"call","params": {"name":"a","timeout_ms":5,"input":[1, 2]} }`,
			`{"name":"a","timeout_ms":5,"input":[1, 2]}`, &protocol.CallParams{Name: "a", TimeoutMS: 5, Input: json.RawMessage(`[1, 2]`)}},
		{`{"jsonrpc":"2.0","id":1,"method":"call","params":{"input":"x","phase":"before","name":"b"}}`,
			`{"input":"x","phase":"before","name":"b"}`, &protocol.CallParams{Name: "b", Phase: "before", Input: json.RawMessage(`"x"`)}},
		{`{"jsonrpc":"2.0","id":1,"params":{"name":"a","input":1},"method":"call"}`, `{"name":"a","input":1}`, nil},
		{`{"jsonrpc":"2.0","id":1,"method":"call","params":{"name":1,"input":1}}`, `{"name":1,"input":1}`, nil},
		{`{"jsonrpc":"2.0","id":1,"method":"other","params":{"name":"a","input":1}}`, `{"name":"a","input":1}`, nil},
	}
	var d decoder
	for _, c := range cases {
		var m Message
		if err := d.decode([]byte(c.line), &m); err != nil {
			t.Fatalf("%s: %v", c.line, err)
		}
		if string(m.Params) != c.params {
			t.Errorf("%s: params %s, want %s", c.line, m.Params, c.params)
		}
		switch {
		case c.call == nil && m.hasCall:
			t.Errorf("%s: decoded as call params %+v", c.line, m.call)
		case c.call != nil && !m.hasCall:
			t.Errorf("%s: call params not decoded", c.line)
		case c.call != nil && (m.call.Name != c.call.Name || m.call.Phase != c.call.Phase || m.call.TimeoutMS != c.call.TimeoutMS || string(m.call.Input) != string(c.call.Input)):
			t.Errorf("%s: decoded %+v, want %+v", c.line, m.call, *c.call)
		}
	}
	for _, bad := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"call","params":{"name":"a","name":"b"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"call","params":{"name":"a","input":[1,}}`,
		`{"jsonrpc":"2.0","id":1,"method":"call","params":{"name":"a"}} x`,
	} {
		var m Message
		if err := d.decode([]byte(bad), &m); err == nil {
			t.Errorf("%s decoded", bad)
		}
	}
}

// A decoder reuses the name of the last call while calls repeat it, and
// never confuses names that differ, however written.
func TestCallNamesInARow(t *testing.T) {
	var d, shaped decoder
	for _, c := range []struct{ raw, name string }{
		{`"echo"`, "echo"}, {`"echo"`, "echo"}, {`"echoes"`, "echoes"}, {`"ech\u006f"`, "echo"},
		{`"echo"`, "echo"}, {`"ech"`, "ech"}, {`"a\\b"`, `a\b`}, {`"a\\b"`, `a\b`},
	} {
		var m Message
		line := `{"jsonrpc":"2.0","id":1,"method":"call","params":{"name":` + c.raw + `,"input":1}}`
		if err := d.decode([]byte(line), &m); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		if !m.hasCall || m.call.Name != c.name {
			t.Errorf("%s: name %q, want %q", line, m.call.Name, c.name)
		}
		// The shaped decoder keeps its own last name: it takes only the
		// names written without escapes.
		var sm Message
		if shaped.decodeShaped([]byte(line), &sm) && sm.call.Name != c.name {
			t.Errorf("%s: shaped decoding gave name %q, want %q", line, sm.call.Name, c.name)
		}
	}
}
