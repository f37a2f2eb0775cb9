package airlock

// ProtectProcess hardens the host process itself, for hosts that hold
// secrets: on Linux it makes the process non-dumpable, so that other
// processes of the same user can neither attach a debugger to it nor open
// its /proc/PID/fd entries (and so cannot reach the pipes to its plugins),
// and it writes no core dumps. Elsewhere it does nothing.
//
// # Notes
//
// It is process-wide and cannot be undone: a developer can no longer
// attach a debugger or profiler as the same user. Call it early in main.
func ProtectProcess() error { return protectProcess() }
