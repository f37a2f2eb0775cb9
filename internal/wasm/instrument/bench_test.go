package instrument

import (
	"context"
	"runtime"
	"testing"
)

// BenchmarkOverhead runs the work guest's compute-bound functions as they
// were and instrumented, under raw wazero, alternately within each
// iteration, and reports the ratio of the thread CPU time each took: the
// cost of the fuel, with the drift of a shared machine cancelled out.
func BenchmarkOverhead(b *testing.B) {
	wasm := workModule(b)
	ctx := context.Background()
	const refill = 1 << 16
	for _, c := range []struct {
		fn  string
		arg uint64
	}{{"fnv", 20}, {"fib", 27}, {"sort", 2500}, {"indirect", 1 << 20}} {
		b.Run(c.fn, func(b *testing.B) {
			orig := newHost(b, refill).instantiate(b, wasm).ExportedFunction(c.fn)
			inst := newHost(b, refill).instantiate(b, mustInstrument(b, wasm)).ExportedFunction(c.fn)
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			var spent [2]int64
			for b.Loop() {
				for i, fn := range []interface {
					Call(context.Context, ...uint64) ([]uint64, error)
				}{orig, inst} {
					cpu := threadCPU()
					if _, err := fn.Call(ctx, c.arg); err != nil {
						b.Fatal(err)
					}
					spent[i] += threadCPU() - cpu
				}
			}
			b.ReportMetric(float64(spent[0])/float64(b.N), "original-cpu-ns/op")
			b.ReportMetric(float64(spent[1])/float64(b.N), "instrumented-cpu-ns/op")
			b.ReportMetric(float64(spent[1])/float64(spent[0]), "ratio")
		})
	}
}
