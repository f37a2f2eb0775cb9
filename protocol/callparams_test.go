package protocol

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

// AppendJSON writes what encoding/json reads back as the same params, on
// one line, with "input" last (the ABI's promise to guests, docs/ABI.md).
func TestCallParamsAppendJSON(t *testing.T) {
	cases := []struct {
		name string
		p    CallParams
	}{
		{"name and input", CallParams{Name: "greet", Input: json.RawMessage(`{"a":1}`)}},
		{"all members", CallParams{Name: "g", Phase: "before", Input: json.RawMessage(`[1,2]`), TimeoutMS: 250, Traceparent: &Traceparent{TraceID: [16]byte{0x0a, 0xf7, 0x65, 0x19, 0x16, 0xcd, 0x43, 0xdd, 0x84, 0x48, 0xeb, 0x21, 0x1c, 0x80, 0x31, 0x9c}, SpanID: [8]byte{0xb7, 0xad, 0x6b, 0x71, 0x69, 0x20, 0x33, 0x31}, Flags: 1}, Tracestate: "k=v"}},
		{"nil input", CallParams{Name: "g"}},
		{"input over several lines", CallParams{Name: "g", Input: json.RawMessage("{\n  \"a\": 1\r\n}")}},
		{"name to escape", CallParams{Name: "a\"b\n", Input: json.RawMessage(`1`)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			raw, err := c.p.AppendJSON(nil)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.ContainsAny(raw, "\r\n") {
				t.Errorf("%s spreads over several lines", raw)
			}
			var got CallParams
			if err := json.Unmarshal(raw, &got); err != nil {
				t.Fatalf("%s: %v", raw, err)
			}
			want := c.p
			switch {
			case want.Input == nil:
				want.Input = json.RawMessage("null")
			default:
				var compact bytes.Buffer
				_ = json.Compact(&compact, want.Input)
				want.Input = compact.Bytes()
			}
			if !bytes.HasSuffix(raw, []byte(`,"input":`+string(want.Input)+`}`)) {
				t.Errorf("%s: input is not the last member", raw)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s decodes to %+v, want %+v", raw, got, want)
			}
		})
	}
}

func TestErrorMessage(t *testing.T) {
	if got, want := Errorf(CodeDenied, "no %s", "kv").Error(), "no kv (code -32001)"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
