package main

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// Probes for explain mode (explain_linux_test.go): each makes one call the
// sandbox refuses, so that the host's explanation of it can be checked,
// and reports the call's error, which must be the refusal.
func init() {
	escapes["probe-socket-inet"] = func(escapeInput) result {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
		if err == nil {
			unix.Close(fd)
		}
		return errResult(err)
	}
	escapes["probe-read"] = func(in escapeInput) result {
		data, err := os.ReadFile(in.Path)
		r := errResult(err)
		r.Data = string(data)
		return r
	}
	escapes["probe-write"] = func(in escapeInput) result {
		return errResult(os.WriteFile(in.Path, []byte("written"), 0o600))
	}
	escapes["probe-ptrace"] = func(in escapeInput) result {
		_, _, e := unix.Syscall(unix.SYS_PTRACE, unix.PTRACE_ATTACH, uintptr(in.PID), 0)
		return errnoResult(e)
	}
	// A flood of refused calls: Count is how many were refused.
	escapes["probe-flood"] = func(in escapeInput) result {
		var r result
		for range in.PID {
			_, _, e := syscall.RawSyscall(unix.SYS_SOCKET, unix.AF_INET, unix.SOCK_DGRAM, 0)
			if e == 0 {
				r.Error = "a socket was made"
				return r
			}
			r.Count++
			r.Data = e.Error()
		}
		return r
	}
}
