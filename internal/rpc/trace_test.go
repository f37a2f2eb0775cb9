package rpc

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/airlock-go/airlock/protocol"
)

// testTraceparent is the example of W3C Trace Context.
var testTraceparent = protocol.Traceparent{
	TraceID: [16]byte{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
	SpanID:  [8]byte{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
	Flags:   1,
}

// A traceparent is written as W3C writes it, and read back; one that is
// not valid reads as none.
func TestTraceparent(t *testing.T) {
	const example = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	if got := testTraceparent.String(); got != example {
		t.Errorf("String() = %s, want %s", got, example)
	}
	cases := []struct {
		in   string
		want protocol.Traceparent
	}{
		{example, testTraceparent},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", protocol.Traceparent{TraceID: testTraceparent.TraceID, SpanID: testTraceparent.SpanID}},
		{"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future", testTraceparent}, // a later version's extra field
		{"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", testTraceparent},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x", protocol.Traceparent{}}, // version 00 has no more
		{"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x", protocol.Traceparent{}},
		{"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", protocol.Traceparent{}},
		{"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", protocol.Traceparent{}}, // upper case
		{"00-00000000000000000000000000000000-00f067aa0ba902b7-01", protocol.Traceparent{}},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", protocol.Traceparent{}},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g", protocol.Traceparent{}},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01", protocol.Traceparent{}},
		{"00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01", protocol.Traceparent{}},
		{"", protocol.Traceparent{}},
	}
	for _, c := range cases {
		got, ok := protocol.ParseTraceparent([]byte(c.in))
		if got != c.want || ok != !c.want.IsZero() {
			t.Errorf("protocol.ParseTraceparent(%q) = %v, %v; want %v", c.in, got, ok, c.want)
		}
		// The same through both decoders of a call's params.
		raw := `{"name":"f","traceparent":"` + c.in + `","input":1}`
		for name, decode := range map[string]func(string) (protocol.CallParams, error){
			"DecodeCallParams": func(s string) (protocol.CallParams, error) { return DecodeCallParams([]byte(s)) },
			"Unmarshal":        func(s string) (p protocol.CallParams, err error) { err = Unmarshal([]byte(s), &p); return },
		} {
			p, err := decode(raw)
			if err != nil || p.Traceparent.Value() != c.want || (name == "DecodeCallParams" && (p.Traceparent == nil) != c.want.IsZero()) {
				t.Errorf("%s(%s) = %v, %v; want %v", name, raw, p.Traceparent.Value(), err, c.want)
			}
		}
	}
	// Not a string: the params are wrong, as before.
	if _, err := DecodeCallParams([]byte(`{"name":"f","traceparent":1,"input":1}`)); err == nil {
		t.Error("DecodeCallParams accepts a traceparent that is not a string")
	}
	// Marshal writes it, and leaves none out.
	for p, want := range map[*protocol.Traceparent]string{&testTraceparent: `"traceparent":"` + example + `"`, nil: ""} {
		b, err := json.Marshal(protocol.CallParams{Name: "f", Traceparent: p})
		if err != nil || !strings.Contains(string(b), want) || (want == "" && strings.Contains(string(b), "traceparent")) {
			t.Errorf("Marshal with %v = %s, %v; want %s", p, b, err, want)
		}
	}
}

// Writing a traceparent into a buffer with room costs no allocation.
func TestTraceparentAppendAllocs(t *testing.T) {
	buf := make([]byte, 0, 128)
	p := protocol.CallParams{Name: "f", Traceparent: &testTraceparent, Input: json.RawMessage(`1`)}
	if n := testing.AllocsPerRun(100, func() { _, _ = p.AppendJSON(buf[:0]) }); n != 0 {
		t.Errorf("AppendJSON of traced params: %v allocations, want 0", n)
	}
}
