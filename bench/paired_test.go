package bench

import (
	"testing"
	"time"
)

// Paired benchmarks: two contenders measured in turns within every
// iteration, so that the drift of a shared machine, which moves two
// benchmarks run one after the other apart, slows both alike and cancels
// out of their ratio. Wall time still counts the moments the machine gave
// the CPU to another process, at random, to either side; the host's CPU
// time does not, and its ratio is the steadier of the two.

// contender is one side of a paired benchmark: its name in the metrics,
// and one call, which checks its own result (errors, length or value).
type contender struct {
	name string
	call func() error
}

// paired runs base and other in turns, block calls each per iteration,
// the one that goes first alternating from one iteration to the next (so
// that neither always pays for the garbage the other left). It adds up
// each one's wall time and the host's CPU time while it ran (all threads:
// hostCPU), and reports per call NAME-ns/op and NAME-host-cpu-ns/op for
// each, and other ÷ base as ratio and host-cpu-ratio. Allocations are not
// reported: b.ReportAllocs would mix the two. Each contender is called
// once before the timing starts.
func paired(b *testing.B, block int, base, other contender) {
	sides := [2]contender{base, other}
	// A first call each, untimed: it may instantiate a module.
	for _, c := range sides {
		if err := c.call(); err != nil {
			b.Fatalf("%s: %v", c.name, err)
		}
	}
	var wall, cpu [2]time.Duration
	for i := 0; b.Loop(); i++ {
		for k := range sides {
			j := (i + k) % 2
			start, startCPU := time.Now(), hostCPU()
			for range block {
				if err := sides[j].call(); err != nil {
					b.Fatalf("%s: %v", sides[j].name, err)
				}
			}
			cpu[j] += hostCPU() - startCPU
			wall[j] += time.Since(start)
		}
	}
	calls := float64(b.N * block)
	for j, c := range sides {
		b.ReportMetric(float64(wall[j])/calls, c.name+"-ns/op")
		if cpu[0] > 0 {
			b.ReportMetric(float64(cpu[j])/calls, c.name+"-host-cpu-ns/op")
		}
	}
	b.ReportMetric(float64(wall[1])/float64(wall[0]), "ratio")
	if cpu[0] > 0 {
		b.ReportMetric(float64(cpu[1])/float64(cpu[0]), "host-cpu-ratio")
	}
}
