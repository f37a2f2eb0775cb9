package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// benchLine is one line of `go test -bench` output.
func benchLine(name string, ns float64) string {
	return fmt.Sprintf("Benchmark%s-2   \t    1000\t  %.0f ns/op\t  64 B/op\n", name, ns)
}

// TestKindRows checks that the rows of the payload kinds read the
// benchmarks BenchmarkCall names (bench/payload_test.go: benchName) and
// divide the right ones.
func TestKindRows(t *testing.T) {
	var out strings.Builder
	for _, name := range []string{"Call/escaped/4KiB/", "Call/object/256KiB/", "Call/64B/"} {
		out.WriteString(benchLine(name+"airlock", 2000))
		out.WriteString(benchLine(name+"raw-pipe", 1000))
		out.WriteString(benchLine(name+"raw-jsonrpc", 1600))
		out.WriteString(benchLine(name+"goplugin-grpc", 5000))
		out.WriteString(benchLine(name+"goplugin-netrpc", 3000))
	}
	res := parse(strings.NewReader(out.String()))
	want := map[string]float64{
		"process call 4KiB, escaped string: Airlock ÷ raw pipe":                   2,
		"process call 4KiB, escaped string: Airlock ÷ raw JSON-RPC":               1.25,
		"process call 256KiB, object of many fields: go-plugin gRPC ÷ Airlock":    2.5,
		"process call 256KiB, object of many fields: go-plugin net/rpc ÷ Airlock": 1.5,
	}
	found := 0
	for _, c := range comparisons() {
		r, ok := want[c.what]
		if !ok {
			continue
		}
		found++
		num, ok1 := res.median(c.num, c.unit)
		den, ok2 := res.median(c.den, c.unit)
		if !ok1 || !ok2 {
			t.Errorf("%s: %s or %s not measured", c.what, c.num, c.den)
			continue
		}
		if num/den != r {
			t.Errorf("%s = %.2f, want %.2f", c.what, num/den, r)
		}
	}
	if found != len(want) {
		t.Errorf("found %d of the %d rows", found, len(want))
	}
}

func TestPrintKinds(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  []string // lines the table must have
		none  bool     // no table at all
	}{
		{
			name:  "no kinds measured",
			input: benchLine("Call/64B/airlock", 2000),
			none:  true,
		},
		{
			name: "kinds and the plain string",
			input: benchLine("Call/escaped/64B/airlock", 2000) + benchLine("Call/escaped/64B/raw-pipe", 1000) +
				benchLine("Call/64B/airlock", 4000) + benchLine("Call/64B/goplugin-grpc", 40000),
			want: []string{
				"| escaped string 64B | 1.0 µs (0.50) | - | - | - | 2.0 µs | - | - | - |",
				"| plain string 64B | - | - | - | - | 4.0 µs | - | 40.0 µs (10.00) | - |",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			printKinds(&b, parse(strings.NewReader(tt.input)))
			if tt.none {
				if b.Len() != 0 {
					t.Fatalf("printed a table:\n%s", b.String())
				}
				return
			}
			for _, line := range tt.want {
				if !strings.Contains(b.String(), line+"\n") {
					t.Errorf("no line %q in\n%s", line, b.String())
				}
			}
			if strings.Contains(b.String(), "4KiB") {
				t.Errorf("a row for a size not measured:\n%s", b.String())
			}
		})
	}
}
