package instrument

import "golang.org/x/sys/unix"

// threadCPU is the calling thread's CPU time in nanoseconds: on a loaded
// machine, what a guest's work costs, which wall time is not.
func threadCPU() int64 {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts) != nil {
		return 0
	}
	return ts.Nano()
}
