package bench

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Where a call's time goes, from Linux's per-thread scheduler statistics
// (/proc/PID/task/TID/schedstat: nanoseconds on a CPU, and how many times
// the thread was put on one). On a small call, wall time is mostly spent
// waking threads up, and varies from run to run on a shared machine; CPU
// time and wake-ups per call vary much less, and show which side, host or
// plugin, pays for what. Elsewhere the metrics are left out.

// usage is CPU time and times scheduled, summed over threads.
type usage struct {
	cpu    time.Duration
	wakeup int64
}

func (u usage) sub(v usage) usage { return usage{u.cpu - v.cpu, u.wakeup - v.wakeup} }

// sides is the host's (this process's) usage and its children's.
type sides struct{ host, plugin usage }

// measure returns what this process and its children have used so far;
// ok is false where /proc has no scheduler statistics.
func measure() (s sides, ok bool) {
	s.host, ok = threadsUsage(os.Getpid())
	if !ok {
		return s, false
	}
	for _, pid := range children(os.Getpid()) {
		u, _ := threadsUsage(pid)
		s.plugin.cpu += u.cpu
		s.plugin.wakeup += u.wakeup
	}
	return s, true
}

// usageMeter reports, per operation, the usage between its start and
// report.
type usageMeter struct {
	start sides
	ok    bool
}

func startUsage() usageMeter {
	s, ok := measure()
	return usageMeter{s, ok}
}

// report adds host-cpu-ns/op and host-wakeups/op, and for a plugin in a
// process of its own plugin-cpu-ns/op and plugin-wakeups/op.
func (m usageMeter) report(b *testing.B) {
	end, ok := measure()
	if !ok || !m.ok || b.N == 0 {
		return
	}
	n := float64(b.N)
	host, plugin := end.host.sub(m.start.host), end.plugin.sub(m.start.plugin)
	b.ReportMetric(float64(host.cpu)/n, "host-cpu-ns/op")
	b.ReportMetric(float64(host.wakeup)/n, "host-wakeups/op")
	if plugin.cpu > 0 {
		b.ReportMetric(float64(plugin.cpu)/n, "plugin-cpu-ns/op")
		b.ReportMetric(float64(plugin.wakeup)/n, "plugin-wakeups/op")
	}
}

// threadsUsage sums the scheduler statistics of pid's threads.
func threadsUsage(pid int) (usage, bool) {
	dir := filepath.Join("/proc", strconv.Itoa(pid), "task")
	tids, err := os.ReadDir(dir)
	if err != nil {
		return usage{}, false
	}
	var u usage
	for _, tid := range tids {
		b, err := os.ReadFile(filepath.Join(dir, tid.Name(), "schedstat"))
		if err != nil {
			continue // the thread has exited
		}
		f := bytes.Fields(b)
		if len(f) < 3 {
			return usage{}, false
		}
		cpu, err1 := strconv.ParseInt(string(f[0]), 10, 64)
		slices, err2 := strconv.ParseInt(string(f[2]), 10, 64)
		if err1 != nil || err2 != nil {
			return usage{}, false
		}
		u.cpu += time.Duration(cpu)
		u.wakeup += slices
	}
	return u, true
}

// children lists the processes whose parent is pid.
func children(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var kids []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// The command name, in parentheses, may hold spaces: the fields
		// that follow it are state, then the parent's pid.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		f := bytes.Fields(stat[i+1:])
		if len(f) > 1 && string(f[1]) == strconv.Itoa(pid) {
			kids = append(kids, child)
		}
	}
	return kids
}

// hostCPU is the CPU time this process has used so far, user and system,
// all threads: one system call, cheap enough to read around each
// contender's turn in a paired benchmark (paired_test.go), where reading
// /proc as measure does would cost more than a small call. 0 where
// getrusage fails.
func hostCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
