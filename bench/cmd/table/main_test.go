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

// pairedLine is one run of a paired benchmark (bench/paired_test.go):
// contender other against raw wazero, per call times and the ratios the
// benchmark computed itself.
func pairedLine(name, other string, base, ns, baseCPU, cpu, ratio, cpuRatio float64) string {
	return fmt.Sprintf("Benchmark%s-2 \t 50\t 2000000 ns/op\t %.0f %s-host-cpu-ns/op\t %.0f %s-ns/op\t %.3f host-cpu-ratio\t %.3f ratio\t %.0f raw-wazero-host-cpu-ns/op\t %.0f raw-wazero-ns/op\n",
		name, cpu, other, ns, other, cpuRatio, ratio, baseCPU, base)
}

// TestPairedRows checks that the wasm rows of the paired benchmarks read
// the ratio each run measured (the median of the runs'), not the ratio of
// the contenders' medians, which may come from different runs, and show
// the contenders' medians beside it.
func TestPairedRows(t *testing.T) {
	// Three runs, the machine slower in each: the contenders' medians
	// come from the second run (2240 / 2000 = 1.12), the median of the
	// runs' ratios from the first (1.10).
	input := pairedLine("WasmCompute/loop/airlock", "airlock", 1000, 1100, 900, 990, 1.10, 1.10) +
		pairedLine("WasmCompute/loop/airlock", "airlock", 2000, 2240, 1800, 1980, 1.12, 1.10) +
		pairedLine("WasmCompute/loop/airlock", "airlock", 3000, 3210, 2700, 2916, 1.07, 1.08) +
		pairedLine("WasmCallPaired/raw-wazero-closeonctx", "raw-wazero-closeonctx", 500, 6000, 500, 3000, 12, 6) +
		pairedLine("WasmCallPaired/airlock", "airlock", 500, 1100, 500, 900, 2.2, 1.8)
	tests := []struct {
		what     string
		ratio    float64
		num, den string // as printed
		target   string
		met      string
	}{
		{"wasm compute (loop): Airlock ÷ raw wazero with no termination checks (paired)", 1.10, "2.2 µs", "2.0 µs", "≤ 1.15", "yes"},
		{"wasm compute (loop), host CPU: Airlock ÷ raw wazero (paired)", 1.10, "2.0 µs", "1.8 µs", "≤ 1.15", "yes"},
		{"wasm call 64B: raw wazero with WithCloseOnContextDone ÷ without (paired)", 12, "6.0 µs", "500 ns", "", ""},
		{"wasm call 64B: Airlock ÷ raw wazero (same copies, no termination checks) (paired)", 2.2, "1.1 µs", "500 ns", "≤ 2", "no"},
		{"wasm call 64B, host CPU: Airlock ÷ raw wazero (paired)", 1.8, "900 ns", "500 ns", "≤ 2", "yes"},
	}
	out := table(t, input)
	for _, tt := range tests {
		want := fmt.Sprintf("| %s | %s | %s | %.2f | %s | %s |\n", tt.what, tt.num, tt.den, tt.ratio, tt.target, tt.met)
		if !strings.Contains(out, want) {
			t.Errorf("no row %q in\n%s", want, out)
		}
	}
	// The recursion was not measured: its rows say so.
	if !strings.Contains(out, "| wasm compute (recurse), host CPU: Airlock ÷ raw wazero (paired) | WasmCompute/recurse/airlock | WasmCompute/recurse/airlock | not measured |") {
		t.Errorf("no row for the recursion, not measured, in\n%s", out)
	}
}

// TestInterleavedRows checks that the telemetry rows read the ratio each
// run of BenchmarkTelemetryInterleaved measured, its modes timed in turns
// (the median of the runs'), as the paired rows do.
func TestInterleavedRows(t *testing.T) {
	// The medians of the times come from different runs (15 000 / 14 000
	// = 1.07); the median of the runs' ratios is 1.04.
	line := func(off, metrics, ratio float64) string {
		return fmt.Sprintf("BenchmarkTelemetryInterleaved-2 \t 30\t 31000000 ns/op\t %.0f metrics-ns/call\t %.3f metrics/off\t %.0f off-ns/call\n", metrics, ratio, off)
	}
	out := table(t, line(13000, 13520, 1.04)+line(14000, 15000, 1.07)+line(15000, 15450, 1.03))
	want := "| telemetry, process call 64B: metrics (OpenTelemetry SDK), no tracer provider ÷ off (interleaved) | 15.0 µs | 14.0 µs | 1.04 | ≤ 1.1 | yes |\n"
	if !strings.Contains(out, want) {
		t.Errorf("no row %q in\n%s", want, out)
	}
}

// table is the table of comparisons for input, `go test -bench` output.
func table(t *testing.T, input string) string {
	t.Helper()
	var b bytes.Buffer
	printComparisons(&b, parse(strings.NewReader(input)))
	return b.String()
}
