package plugin

import "golang.org/x/sys/unix"

// protectProcess makes the plugin's process non-dumpable (threat: another
// process of the same user opening /proc/PID/fd to read or inject into the
// plugin's protocol pipes, or attaching a debugger to read its memory).
func protectProcess() { _ = unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0) }
