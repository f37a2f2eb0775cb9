package protocol_test

import (
	"encoding/json"
	"fmt"

	"github.com/airlock-go/airlock/protocol"
)

// The params of a call, as a host writes them: on one line (an input
// spread over several lines is compacted), input last (a guest finds where
// the input ends without scanning it).
func ExampleCallParams_AppendJSON() {
	p := protocol.CallParams{Name: "greet", Phase: "define", TimeoutMS: 250, Input: json.RawMessage("{\n  \"name\": \"ada\"\n}")}
	b, err := p.AppendJSON(nil)
	fmt.Println(string(b), err)
	// Output: {"name":"greet","phase":"define","timeout_ms":250,"input":{"name":"ada"}} <nil>
}

// A traceparent that is not valid is none, as W3C Trace Context asks.
func ExampleParseTraceparent() {
	for _, s := range []string{
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01",
	} {
		t, ok := protocol.ParseTraceparent([]byte(s))
		fmt.Println(ok, t.Flags&1 == 1)
	}
	// Output:
	// true true
	// false false
}

// A plugin's answer to a call it could not run carries one of the codes.
func ExampleErrorf() {
	err := protocol.Errorf(protocol.CodeInvalidParams, "greet: %s is required", "name")
	b, _ := json.Marshal(err)
	fmt.Println(string(b))
	// Output: {"code":-32602,"message":"greet: name is required"}
}
