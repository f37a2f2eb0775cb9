package bench

import (
	"encoding/json"
	"fmt"
	"strings"
)

// The payloads of the call benchmarks, shared by the process and wasm
// tiers: three sizes, and at each size three kinds of value an
// application passes to a plugin.

// sizes are the payloads' sizes once encoded.
var sizes = []struct {
	name string
	n    int
}{{"64B", 64}, {"4KiB", 4 << 10}, {"256KiB", 256 << 10}}

// payloads are the inputs of the call benchmarks, as the Go values an
// application holds, each about n bytes once encoded: a plain string (the
// case Airlock's encoder handles fastest), a string that needs escaping,
// and an object with many fields. Every contender is handed the value and
// encodes it itself with each call, so that all do the same encoding
// work.
var payloads = []struct {
	name string
	make func(n int) any
}{
	{"string", func(n int) any { return payload(n) }},
	{"escaped", escapedString},
	{"object", manyFields},
}

// payload is a string of n-2 characters: a JSON string of n bytes in all
// (quotes included).
func payload(n int) string { return strings.Repeat("x", n-2) }

// escapedString is a string whose JSON encoding, about n bytes, escapes a
// third of its characters.
func escapedString(n int) any {
	const unit = "ab\"c\\d\ne" // 9 characters, 12 bytes encoded
	return strings.Repeat(unit, max((n-2)/12, 1))
}

// manyFields is an object of about n bytes encoded, 15 bytes a field.
func manyFields(n int) any {
	m := make(map[string]int, n/15)
	for i := range max(n/15, 1) {
		m[fmt.Sprintf("f%04d", i)] = 100000 + i
	}
	return m
}

// benchName names a call benchmark: the plain string keeps the names the
// benchmarks had before the other kinds (SIZE/CONTENDER), the others are
// KIND/SIZE/CONTENDER.
func benchName(kind, size, contender string) string {
	if kind == "string" {
		return size + "/" + contender
	}
	return kind + "/" + size + "/" + contender
}

// msg is one process call's payload, made once per benchmark: the Go
// value, which each echoer encodes with every call. Airlock encodes it
// inside Host.Call (with encoding/json), the raw JSON clients with
// encoding/json too, so that all do the same encoding work. go-plugin
// carries what its users carry: a string as its bytes (a protobuf bytes
// or string field, a []byte for net/rpc: no escaping), anything else as
// JSON bytes in that field, as Terraform's providers carry values
// (DynamicValue) over go-plugin.
type msg struct {
	value any    // the Go value
	b     []byte // a string's characters as bytes (go-plugin); nil for other kinds
	size  int    // the payload's length encoded as JSON
}

// newMsg is the plain string of n bytes encoded.
func newMsg(n int) msg {
	m, err := valueMsg(payload(n))
	if err != nil {
		panic(err) // a string always encodes
	}
	return m
}

// valueMsg is a payload handed over as the Go value v.
func valueMsg(v any) (msg, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return msg{}, err
	}
	m := msg{value: v, size: len(data)}
	if s, ok := v.(string); ok {
		m.b = []byte(s)
	}
	return m, nil
}

// encoded is the payload encoded now as JSON: what a JSON client sends.
func (m msg) encoded() (json.RawMessage, error) { return json.Marshal(m.value) }

// bytes is what a go-plugin client puts in its bytes field: a string's
// characters, anything else encoded as JSON now.
func (m msg) bytes() ([]byte, error) {
	if m.b != nil {
		return m.b, nil
	}
	return json.Marshal(m.value)
}
