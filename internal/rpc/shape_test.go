package rpc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/airlock-go/airlock/protocol"
)

// shapedSeeds are lines as Airlock's encoder writes them, and a few it
// does not write.
func shapedSeeds(t testing.TB) [][]byte {
	msgs := []Message{
		{ID: json.RawMessage("1"), Result: json.RawMessage(`"` + strings.Repeat("x", 62) + `"`)},
		{ID: json.RawMessage("123456789012345678"), Result: json.RawMessage(`{"a":[1,2,{"b":null}],"c":"\u00e9\"\\"}`)},
		{ID: json.RawMessage("7"), Result: json.RawMessage(`null`)},
		{ID: json.RawMessage("7"), Result: json.RawMessage(`-1.5e3`)},
		{ID: json.RawMessage("8"), Method: "kv.get", Params: json.RawMessage(`{"key":"k"}`)},
		{ID: json.RawMessage("9"), Method: "kv.get", Origin: json.RawMessage("41"), Params: json.RawMessage(`{"key":"k"}`)},
		{Method: "log", Params: json.RawMessage(`{"level":"info","msg":"héllo"}`)},
		{Method: protocol.MethodCancel, Params: json.RawMessage(`{"id":3}`)},
		{ID: json.RawMessage("9"), Method: "shutdown"},
		{ID: json.RawMessage("10"), Error: &protocol.Error{Code: -32002, Message: "cancelled"}},
		{ID: json.RawMessage(`"s"`), Result: json.RawMessage(`1`)},
	}
	calls := []protocol.CallParams{
		{Name: "echo", TimeoutMS: 30000, Input: json.RawMessage(`"xyz"`)},
		{Name: "greet", Phase: "before", TimeoutMS: 5, Input: json.RawMessage(`{"name":"ada","n":[1,2]}`)},
		{Name: "odd \"name\"", Input: json.RawMessage(`1`)},
		{Name: "ünïcode", Phase: "after", Input: nil},
		{Name: "x", Input: json.RawMessage(`{}`)},
		{Name: "traced", Phase: "define", TimeoutMS: 9, Traceparent: &testTraceparent, Tracestate: "a=b", Input: json.RawMessage(`"q"`)},
	}
	var lines [][]byte
	for i := range msgs {
		msgs[i].JSONRPC = protocol.JSONRPC
		b, err := appendMessage(nil, &msgs[i])
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, b)
	}
	for i, p := range calls {
		m := Message{JSONRPC: protocol.JSONRPC, numID: int64(i + 1), Method: protocol.MethodCall, appendParams: p}
		if i == 1 {
			m.Origin = json.RawMessage("12")
		}
		b, err := appendMessage(nil, &m)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, b)
	}
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":1,"result":1 }`,
		`{"jsonrpc":"2.0","id":1,"result":1,"id":2}`,
		`{"jsonrpc":"2.0","id":01,"result":1}`,
		`{"jsonrpc":"2.0","id":1,"method":"call","params":{"name":"a","input":1,"name":"b"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"call","params":{"name":"a","input":{"k":1,"k":2}}}`,
		`{"jsonrpc":"2.0","method":"call","params":{"name":"a","input":1}}`,
		`{"jsonrpc":"2.0","id":1,"method":"call","params":{"name":"a","timeout_ms":-1,"input":1}}`,
		`{"jsonrpc":"2.0","id":1,"method":"ca\u006cl","params":{"name":"a","input":1}}`,
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"\xff\"}",
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xc3\",\"params\":1}",
		`{"jsonrpc":"2.0","id":1,"result":}`,
		`{"jsonrpc":"2.0","id":1,"method":"f","origin":"s","params":1}`,
		`{"jsonrpc":"2.0","id":1,"result":"}`,
	} {
		lines = append(lines, []byte(s))
	}
	return lines
}

// checkShaped fails if decodeShaped accepts line and decode does not, or
// decodes it differently.
func checkShaped(t testing.TB, line []byte) (shaped bool) {
	var fast Message
	var d decoder
	if !d.decodeShaped(line, &fast) {
		return false
	}
	var slow Message
	if err := d.decode(line, &slow); err != nil {
		t.Fatalf("%q: decodeShaped accepted what decode refuses: %v", line, err)
	}
	if f, s := describeMessage(fast), describeMessage(slow); f != s {
		t.Fatalf("%q decoded differently:\nshaped: %s\ndecode: %s", line, f, s)
	}
	return true
}

func describeMessage(m Message) string {
	var e string
	if m.Error != nil {
		e = fmt.Sprintf("%+v", *m.Error)
	}
	return fmt.Sprintf("jsonrpc=%q id=%q method=%q origin=%q params=%q result=%q error=%s call=%v name=%q phase=%q timeout=%d traceparent=%q tracestate=%q input=%q",
		m.JSONRPC, m.ID, m.Method, m.Origin, m.Params, m.Result, e, m.hasCall, m.call.Name, m.call.Phase, m.call.TimeoutMS, m.call.Traceparent.Value(), m.call.Tracestate, m.call.Input)
}

// decodeShaped accepts only what decode accepts, and decodes it the same:
// the lines Airlock writes, and every line one byte away from them.
func TestShapedMatchesDecode(t *testing.T) {
	accepted := 0
	for _, line := range shapedSeeds(t) {
		if checkShaped(t, line) {
			accepted++
		}
		for i := range line {
			for _, c := range []byte{'"', '\\', '}', '{', ',', ':', ' ', '0', 'x', 0x01, 0xff} {
				mutated := bytes.Clone(line)
				mutated[i] = c
				checkShaped(t, mutated)
			}
			checkShaped(t, append(bytes.Clone(line[:i]), line[i+1:]...))
			checkShaped(t, append(append(bytes.Clone(line[:i]), ' '), line[i:]...))
		}
	}
	// The shapes Airlock writes are the ones it recognises: without this
	// the test would pass with a decodeShaped that accepts nothing.
	if accepted < 13 {
		t.Errorf("decodeShaped accepted %d of the seeds, want the 13 Airlock writes with params or a result", accepted)
	}
}

func FuzzShapedMatchesDecode(f *testing.F) {
	for _, line := range shapedSeeds(f) {
		f.Add(line)
	}
	f.Fuzz(func(t *testing.T, line []byte) { checkShaped(t, line) })
}

func BenchmarkDecodeShaped(b *testing.B) {
	line := []byte(`{"jsonrpc":"2.0","id":12,"result":"` + strings.Repeat("x", 62) + `"}`)
	var d decoder
	b.ReportAllocs()
	for b.Loop() {
		var m Message
		if !d.decodeShaped(line, &m) {
			b.Fatal("not recognised")
		}
	}
}

// plainStringValue agrees with IsValid on the strings it accepts, and
// refuses every control character, wherever it stands in the 8-byte words.
func TestPlainStringValue(t *testing.T) {
	for _, c := range []struct {
		v    string
		want bool
	}{
		{`""`, true}, {`"abc"`, true}, {`"` + strings.Repeat("é", 40) + `"`, true},
		{`"a\"b"`, false}, {`"a\\b"`, false}, {`"a"b"`, false}, {`"abc`, false}, {`abc"`, false},
		{"\"\xff\"", false}, {`"`, false}, {`1`, false},
	} {
		if got := plainStringValue([]byte(c.v)); got != c.want {
			t.Errorf("plainStringValue(%q) = %v, want %v", c.v, got, c.want)
		}
	}
	for n := 1; n <= 20; n++ {
		for i := range n {
			for _, ctl := range []byte{0x00, 0x01, 0x0a, 0x1f} {
				body := []byte(strings.Repeat("x", n))
				body[i] = ctl
				if plainStringValue([]byte(`"` + string(body) + `"`)) {
					t.Fatalf("accepted control character %#x at %d of %d", ctl, i, n)
				}
			}
		}
		if v := `"` + strings.Repeat("\x20\x7f", n) + `"`; !plainStringValue([]byte(v)) {
			t.Fatalf("refused %q", v)
		}
	}
}
