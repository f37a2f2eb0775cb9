package sandbox

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// On macOS the launcher applies what the system allows an unprivileged
// process: resource limits (descriptors, file size, CPU time, processes, no
// core dumps) and close-on-exec of every inherited descriptor. macOS has no
// Landlock or seccomp; its own sandbox (Seatbelt) is reachable only through
// a private C interface or the deprecated sandbox-exec, so file system and
// network rules are reported as not enforced, and so is the memory cap
// (macOS does not enforce RLIMIT_DATA or RLIMIT_AS on mmap-based heaps).

// dataLimitEnforced reports whether the kernel holds a process to
// RLIMIT_DATA.
const dataLimitEnforced = false

// selfExe names the host's executable for the launcher.
func selfExe() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	return filepath.EvalSymlinks(exe)
}

// closeExtraOnExec marks every descriptor beyond stdio close-on-exec.
func closeExtraOnExec() {
	var lim unix.Rlimit
	n := uint64(4096)
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &lim) == nil && lim.Cur < 1<<16 {
		n = lim.Cur
	}
	for fd := 3; fd < int(n); fd++ {
		syscall.CloseOnExec(fd)
	}
}

// apply confines the current process as far as macOS allows.
func apply(req request, rep Report) (Report, error) {
	p := req.Policy
	rep.Missing = append(rep.Missing,
		"file system rules (no Landlock on macOS)",
		"network denial (no seccomp on macOS)",
		"system call filter (no seccomp on macOS)",
	)
	if !p.Spawn && p.Processes <= 0 {
		rep.Missing = append(rep.Missing, "process creation denial (no seccomp on macOS; set a process limit)")
	}
	if p.Memory > 0 {
		rep.Missing = append(rep.Missing, fmt.Sprintf("memory limit of %d bytes (macOS does not enforce RLIMIT_DATA)", p.Memory))
	}
	if err := applyLimits(p, &rep); err != nil {
		return rep, err
	}
	return rep, nil
}

// DefaultReadOnly lists the system paths a plugin may read; macOS has no
// file system rules to give them to.
func DefaultReadOnly() []string { return nil }

// DefaultReadWrite lists the paths every plugin may write.
func DefaultReadWrite() []string { return nil }

// InterpreterDirs returns what a plugin needs to read to run interp.
func InterpreterDirs(interp string) []string { return []string{filepath.Dir(interp)} }

// Available reports whether this platform starts process plugins through
// the launcher.
func Available() bool { return true }

// isolate adds nothing on macOS, which has no namespaces.
func isolate(*exec.Cmd, Policy) uintptr { return 0 }

// withoutNamespaces is never needed on macOS.
func withoutNamespaces(cmd *exec.Cmd) *exec.Cmd { return cmd }

// MachineFacts reports what macOS offers: resource limits only.
func MachineFacts() Facts {
	return Facts{OS: "darwin", Root: os.Geteuid() == 0, Launcher: true}
}
