// Command table reads `go test -bench` output and prints the benchmark
// table of docs/BENCHMARKS.md: each comparison as a ratio of medians (as
// benchstat summarises runs: one slow run on a noisy machine does not move
// it), beside the target it must meet.
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// line matches "BenchmarkName-2   N   123 ns/op ... 456 unit".
var line = regexp.MustCompile(`^Benchmark(\S+?)(?:-\d+)?\s+\d+\s+(.*)$`)

// results maps a benchmark name to unit to the values measured.
type results map[string]map[string][]float64

func parse(r io.Reader) results {
	res := results{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		m := line.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		f := strings.Fields(m[2])
		for i := 0; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			if res[m[1]] == nil {
				res[m[1]] = map[string][]float64{}
			}
			res[m[1]][f[i+1]] = append(res[m[1]][f[i+1]], v)
		}
	}
	return res
}

// median returns the median of the runs of one benchmark in one unit.
func (r results) median(name, unit string) (float64, bool) {
	vs := slices.Clone(r[name][unit])
	if len(vs) == 0 {
		return 0, false
	}
	slices.Sort(vs)
	n := len(vs)
	if n%2 == 1 {
		return vs[n/2], true
	}
	return (vs[n/2-1] + vs[n/2]) / 2, true
}

// comparison is one row: num / den of a unit (den's own unit if denUnit
// is set: two measures of one benchmark), and its target. If ratio is
// set, the row's ratio is the median of that metric of num, a ratio the
// benchmark measured itself (a paired benchmark: both contenders timed in
// turns within each run), and num and den are shown beside it.
type comparison struct {
	what     string
	num, den string
	unit     string
	denUnit  string
	ratio    string
	target   string
	ok       func(float64) bool
}

func atMost(x float64) func(float64) bool  { return func(v float64) bool { return v <= x } }
func atLeast(x float64) func(float64) bool { return func(v float64) bool { return v >= x } }

func comparisons() []comparison {
	var cs []comparison
	for _, sz := range []string{"64B", "4KiB", "256KiB"} {
		c := comparison{what: "process call " + sz + ": Airlock ÷ raw pipe", num: "Call/" + sz + "/airlock", den: "Call/" + sz + "/raw-pipe", unit: "ns/op"}
		if sz == "64B" {
			c.target, c.ok = "≤ 1.3", atMost(1.3)
		}
		cs = append(cs, c)
		cs = append(cs, comparison{what: "process call " + sz + ": raw pipe ÷ raw pipe read with blocking reads (the cost of Go's poller)", num: "Call/" + sz + "/raw-pipe", den: "Call/" + sz + "/raw-pipe-blocking", unit: "ns/op"})
		cs = append(cs, comparison{what: "process call " + sz + ": Airlock ÷ raw JSON-RPC (decode on both sides, nothing else)", num: "Call/" + sz + "/airlock", den: "Call/" + sz + "/raw-jsonrpc", unit: "ns/op"})
		if sz == "64B" {
			cs = append(cs,
				comparison{what: "process call 64B: raw client calling the Go SDK plugin ÷ raw JSON-RPC (the plugin SDK's share)", num: "Call/64B/raw-client-sdk-plugin", den: "Call/64B/raw-jsonrpc", unit: "ns/op"},
				comparison{what: "process call 64B: Airlock ÷ raw client calling the Go SDK plugin (the host's share)", num: "Call/64B/airlock", den: "Call/64B/raw-client-sdk-plugin", unit: "ns/op"})
		}
		c = comparison{what: "process call " + sz + ": go-plugin gRPC ÷ Airlock", num: "Call/" + sz + "/goplugin-grpc", den: "Call/" + sz + "/airlock", unit: "ns/op"}
		if sz == "64B" {
			c.target, c.ok = "≥ 3", atLeast(3)
		}
		cs = append(cs, c)
		cs = append(cs, comparison{what: "process call " + sz + ": go-plugin net/rpc ÷ Airlock", num: "Call/" + sz + "/goplugin-netrpc", den: "Call/" + sz + "/airlock", unit: "ns/op"})
		cs = append(cs, comparison{what: "process call " + sz + ": sandbox cost (with ÷ without)", num: "Call/" + sz + "/airlock", den: "Call/" + sz + "/airlock-no-sandbox", unit: "ns/op"})
		cs = append(cs, kindComparisons(sz)...)
	}
	for _, n := range []string{"4", "16", "64"} {
		c := comparison{what: "process throughput, " + n + " in flight ÷ 1", num: "Inflight/1/airlock", den: "Inflight/" + n + "/airlock", unit: "ns/op"}
		if n == "64" {
			c.target, c.ok = "≥ 3", atLeast(3)
		}
		cs = append(cs, c)
	}
	cs = append(cs,
		comparison{what: "process throughput, 64 in flight: go-plugin gRPC ÷ Airlock", num: "Inflight/64/goplugin-grpc", den: "Inflight/64/airlock", unit: "ns/op"},
		comparison{what: "process start: Airlock ÷ bare spawn and first byte", num: "Start/airlock", den: "Start/bare-spawn-first-byte", unit: "ns/op"},
		comparison{what: "process start: Airlock without sandbox ÷ bare spawn", num: "Start/airlock-no-sandbox", den: "Start/bare-spawn-first-byte", unit: "ns/op"},
		comparison{what: "process start: go-plugin gRPC ÷ Airlock", num: "Start/goplugin-grpc", den: "Start/airlock", unit: "ns/op"},
	)
	for _, sz := range []string{"64B", "4KiB"} {
		n := "Native/" + sz + "/"
		cs = append(cs,
			comparison{what: "native call " + sz + ": in-process ÷ builtin (the C call's share)", num: n + "in-process", den: n + "builtin", unit: "ns/op"},
			comparison{what: "native call " + sz + ": contained ÷ in-process (the sandboxed child's cost)", num: n + "process", den: n + "in-process", unit: "ns/op"},
			comparison{what: "native call " + sz + ": contained ÷ Go process plugin", num: n + "process", den: "Call/" + sz + "/airlock", unit: "ns/op"})
	}
	cs = append(cs,
		paired("wasm call 64B: Airlock ÷ raw wazero (same copies, no termination checks)", "WasmCallPaired/airlock", wall, "≤ 2", atMost(2)),
		paired("wasm call 64B, host CPU: Airlock ÷ raw wazero", "WasmCallPaired/airlock", hostCPU, "≤ 2", atMost(2)),
		paired("wasm call 64B: raw wazero with WithCloseOnContextDone ÷ without", "WasmCallPaired/raw-wazero-closeonctx", wall, "", nil),
		paired("wasm call 64B, a Go SDK guest: Airlock ÷ raw wazero (same copies, no termination checks, no deadline)", "WasmGoCallPaired/airlock", wall, "", nil),
		comparison{what: "wasm call 64B: extism (no timeout: cannot stop a guest) ÷ Airlock", num: "Wasm/extism", den: "Wasm/airlock", unit: "ns/op", target: "> 1", ok: atLeast(1.0000001)},
		comparison{what: "wasm call 64B: extism with Manifest.Timeout ÷ Airlock", num: "Wasm/extism-timeout", den: "Wasm/airlock", unit: "ns/op", target: "> 1", ok: atLeast(1.0000001)},
		comparison{what: "wasm call 64B, escaped string: Airlock ÷ raw wazero", num: "Wasm/escaped/64B/airlock", den: "Wasm/escaped/64B/raw-wazero", unit: "ns/op"},
		comparison{what: "wasm call 64B, object of many fields: Airlock ÷ raw wazero", num: "Wasm/object/64B/airlock", den: "Wasm/object/64B/raw-wazero", unit: "ns/op"},
		comparison{what: "wasm call 4KiB, escaped string: Airlock ÷ raw wazero", num: "Wasm/escaped/4KiB/airlock", den: "Wasm/escaped/4KiB/raw-wazero", unit: "ns/op"},
		comparison{what: "wasm call 4KiB, object of many fields: Airlock ÷ raw wazero", num: "Wasm/object/4KiB/airlock", den: "Wasm/object/4KiB/raw-wazero", unit: "ns/op"},
		comparison{what: "wasm call 4KiB: Airlock ÷ raw wazero", num: "Wasm/4KiB/airlock", den: "Wasm/4KiB/raw-wazero", unit: "ns/op"},
		comparison{what: "wasm call 4KiB: extism with Manifest.Timeout ÷ Airlock", num: "Wasm/4KiB/extism-timeout", den: "Wasm/4KiB/airlock", unit: "ns/op"},
		comparison{what: "wasm call 256KiB: Airlock ÷ raw wazero", num: "Wasm/256KiB/airlock", den: "Wasm/256KiB/raw-wazero", unit: "ns/op"},
		comparison{what: "wasm call 256KiB: extism with Manifest.Timeout ÷ Airlock", num: "Wasm/256KiB/extism-timeout", den: "Wasm/256KiB/airlock", unit: "ns/op"},
	)
	for _, work := range []string{"loop", "recurse", "memory"} {
		what, pair := "wasm compute ("+work+")", "WasmCompute/"+work+"/"
		cs = append(cs,
			paired(what+": Airlock ÷ raw wazero with no termination checks", pair+"airlock", wall, "≤ 1.15", atMost(1.15)),
			paired(what+", host CPU: Airlock ÷ raw wazero", pair+"airlock", hostCPU, "≤ 1.15", atMost(1.15)),
			paired(what+": raw wazero with WithCloseOnContextDone ÷ without", pair+"raw-wazero-closeonctx", wall, "", nil))
	}
	cs = append(cs, comparison{what: "wasm start: first compile ÷ warm cache", num: "WasmStart/cold", den: "WasmStart/warm", unit: "ns/op", target: "≥ 20", ok: atLeast(20)})
	return append(cs, telemetryComparisons()...)
}

// A paired benchmark's measures (bench/paired_test.go): per contender
// NAME-ns/op and NAME-host-cpu-ns/op, and their ratios.
var (
	wall    = measure{"-ns/op", "ratio"}
	hostCPU = measure{"-host-cpu-ns/op", "host-cpu-ratio"}
)

// measure is one of a paired benchmark's measures: the suffix of each
// contender's unit, and the unit of their ratio.
type measure struct{ suffix, ratio string }

// paired is the row of a paired benchmark, bench/CONTENDER (bench/paired_test.go):
// CONTENDER against raw wazero, timed in turns within each run, in one
// measure; its ratio is the median of the runs' own ratios.
func paired(what, bench string, m measure, target string, ok func(float64) bool) comparison {
	other := bench[strings.LastIndexByte(bench, '/')+1:]
	return comparison{what: what + " (paired)", num: bench, den: bench, unit: other + m.suffix, denUnit: "raw-wazero" + m.suffix, ratio: m.ratio, target: target, ok: ok}
}

// kinds are the payloads of the call benchmarks other than the plain
// string (bench/payload_test.go), by benchmark name and as the table says
// them.
var kinds = []struct{ name, what string }{
	{"escaped", "escaped string"},
	{"object", "object of many fields"},
}

// kindComparisons are the process rows of one size for the payloads other
// than the plain string: Airlock against the floors and against go-plugin,
// as the plain string's rows.
func kindComparisons(sz string) []comparison {
	var cs []comparison
	for _, k := range kinds {
		call := callPrefix(k.name, sz)
		what := "process call " + sz + ", " + k.what + ": "
		cs = append(cs,
			comparison{what: what + "Airlock ÷ raw pipe", num: call + "airlock", den: call + "raw-pipe", unit: "ns/op"},
			comparison{what: what + "Airlock ÷ raw JSON-RPC", num: call + "airlock", den: call + "raw-jsonrpc", unit: "ns/op"},
			comparison{what: what + "go-plugin gRPC ÷ Airlock", num: call + "goplugin-grpc", den: call + "airlock", unit: "ns/op"},
			comparison{what: what + "go-plugin net/rpc ÷ Airlock", num: call + "goplugin-netrpc", den: call + "airlock", unit: "ns/op"})
	}
	return cs
}

// telemetryComparisons are the rows of the telemetry benchmarks: a 64 B
// process call with telemetry in each mode ÷ off, by wall time
// (BenchmarkTelemetryInterleaved, the modes measured in turns in one
// benchmark: as for a paired benchmark, the ratio is the median of the
// runs' own ratios), then by each side's CPU time (BenchmarkTelemetry).
func telemetryComparisons() []comparison {
	modes := []struct{ mode, what, target string }{
		{"metrics", "metrics (OpenTelemetry SDK), no tracer provider", "≤ 1.1"},
		{"metrics+caller-context", "metrics, the caller's trace context passed on, no tracer provider", ""},
		{"metrics+traces-all-sync", "metrics and a span for every call, each exported as it ends (no-op exporter: Airlock's own cost)", "≤ 1.1"},
		{"metrics+traces-all-sdkbatch", "metrics and a span for every call, the SDK's batch span processor", ""},
		{"metrics+traces-all-spanbatch", "metrics and a span for every call, Airlock's spanbatch processor", ""},
		{"metrics+traces-1%-sdkbatch", "metrics, 1 % of the traces sampled, the SDK's batch span processor", ""},
		{"metrics+traces-1%-spanbatch", "metrics, 1 % of the traces sampled, spanbatch", "≤ 1.1"},
	}
	var cs []comparison
	for _, m := range modes {
		c := comparison{what: "telemetry, process call 64B: " + m.what + " ÷ off (interleaved)", num: "TelemetryInterleaved", den: "TelemetryInterleaved",
			unit: m.mode + "-ns/call", denUnit: "off-ns/call", ratio: m.mode + "/off", target: m.target}
		if m.target != "" {
			c.ok = atMost(1.1)
		}
		cs = append(cs, c)
	}
	for _, side := range []string{"host", "plugin"} {
		for _, m := range modes[:3] {
			cs = append(cs, comparison{what: "telemetry, process call 64B, " + side + " CPU: " + m.what + " ÷ off",
				num: "Telemetry/64B/" + m.mode, den: "Telemetry/64B/off", unit: side + "-cpu-ns/op"})
		}
	}
	return cs
}

func main() {
	res := parse(os.Stdin)
	printComparisons(os.Stdout, res)
	printSides(res)
	printKinds(os.Stdout, res)
	if mem, ok := res.median("Memory", "host-bytes/plugin"); ok {
		fmt.Printf("\nHost heap per loaded process plugin: %.0f KiB\n", mem/1024)
	}
	if mem, ok := res.median("WasmMemory", "host-bytes/plugin"); ok {
		fmt.Printf("Host heap per loaded wasm plugin: %.0f KiB\n", mem/1024)
	}
}

// printComparisons prints the table of comparisons: each row's ratio,
// the medians it was taken from, and whether it meets its target.
func printComparisons(w io.Writer, res results) {
	fmt.Fprintln(w, "| comparison | numerator | denominator | ratio | target | met |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	for _, c := range comparisons() {
		denUnit := c.unit
		if c.denUnit != "" {
			denUnit = c.denUnit
		}
		num, ok1 := res.median(c.num, c.unit)
		den, ok2 := res.median(c.den, denUnit)
		ratio, ok3 := num/den, den != 0
		if c.ratio != "" {
			ratio, ok3 = res.median(c.num, c.ratio)
		}
		if !ok1 || !ok2 || !ok3 {
			fmt.Fprintf(w, "| %s | %s | %s | not measured | %s | |\n", c.what, c.num, c.den, c.target)
			continue
		}
		met := ""
		if c.ok != nil {
			met = "no"
			if c.ok(ratio) {
				met = "yes"
			}
		}
		fmt.Fprintf(w, "| %s | %s | %s | %.2f | %s | %s |\n", c.what, human(num, c.unit), human(den, denUnit), ratio, c.target, met)
	}
}

// printSides prints, for the small process call, each side's CPU time and
// wake-ups per call (bench/usage_test.go), medians of the runs.
func printSides(res results) {
	rows := []string{"raw-pipe", "raw-pipe-blocking", "raw-jsonrpc", "raw-client-sdk-plugin", "airlock", "airlock-no-sandbox", "goplugin-grpc"}
	if _, ok := res.median("Call/64B/airlock", "host-cpu-ns/op"); !ok {
		return
	}
	fmt.Println("\nWhere a 64 B process call's time goes (medians; CPU is user and system time, all threads):")
	fmt.Println()
	fmt.Println("| benchmark | wall | host CPU | plugin CPU | host wake-ups | plugin wake-ups |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, r := range rows {
		name := "Call/64B/" + r
		wall, ok := res.median(name, "ns/op")
		if !ok {
			continue
		}
		hc, _ := res.median(name, "host-cpu-ns/op")
		pc, _ := res.median(name, "plugin-cpu-ns/op")
		hw, _ := res.median(name, "host-wakeups/op")
		pw, _ := res.median(name, "plugin-wakeups/op")
		fmt.Printf("| %s | %s | %s | %s | %.2f | %.2f |\n", r, human(wall, "ns/op"), human(hc, "ns/op"), human(pc, "ns/op"), hw, pw)
	}
	fmt.Println()
}

// callContenders are the contenders of BenchmarkCall, in its order.
var callContenders = []string{"raw-pipe", "raw-pipe-blocking", "raw-jsonrpc", "raw-client-sdk-plugin", "airlock", "airlock-no-sandbox", "goplugin-grpc", "goplugin-netrpc"}

// printKinds prints the time of a process call by payload and contender,
// each payload's medians side by side, with each contender's ratio to
// Airlock.
func printKinds(w io.Writer, res results) {
	if _, ok := res.median(callPrefix("escaped", "64B")+"airlock", "ns/op"); !ok {
		return
	}
	fmt.Fprintln(w, "\nA process call's time by payload (medians; in brackets, the contender's time ÷ Airlock's):")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| payload | "+strings.Join(callContenders, " | ")+" |")
	fmt.Fprintln(w, "|---|"+strings.Repeat("---|", len(callContenders)))
	for _, k := range append([]struct{ name, what string }{{"string", "plain string"}}, kinds...) {
		for _, sz := range []string{"64B", "4KiB", "256KiB"} {
			if cells, ok := kindRow(res, callPrefix(k.name, sz)); ok {
				fmt.Fprintf(w, "| %s %s | %s |\n", k.what, sz, strings.Join(cells, " | "))
			}
		}
	}
}

// kindRow is the cells of one payload's row: each contender's median, and
// its ratio to Airlock's; not ok if Airlock was not measured.
func kindRow(res results, prefix string) (cells []string, ok bool) {
	airlock, ok := res.median(prefix+"airlock", "ns/op")
	if !ok {
		return nil, false
	}
	for _, c := range callContenders {
		v, measured := res.median(prefix+c, "ns/op")
		switch {
		case !measured:
			cells = append(cells, "-")
		case c == "airlock":
			cells = append(cells, human(v, "ns/op"))
		default:
			cells = append(cells, fmt.Sprintf("%s (%.2f)", human(v, "ns/op"), v/airlock))
		}
	}
	return cells, true
}

// callPrefix is the name of BenchmarkCall's benchmarks of a payload kind
// and size, up to the contender: the plain string's have no kind.
func callPrefix(kind, size string) string {
	if kind == "string" {
		return "Call/" + size + "/"
	}
	return "Call/" + kind + "/" + size + "/"
}

func human(v float64, unit string) string {
	if !strings.HasSuffix(unit, "ns/op") && !strings.HasSuffix(unit, "-ns/call") {
		return fmt.Sprintf("%.0f %s", v, unit)
	}
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2f ms", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1f µs", v/1e3)
	}
	return fmt.Sprintf("%.0f ns", v)
}
