package process

import (
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// setParentDeathSignal has the kernel kill the plugin if the host dies
// (threat: plugins outliving a dead host, go-plugin #210).
func setParentDeathSignal(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }

// outputPipe makes the pipe the plugin writes its messages to, left in
// blocking mode so that Go's poller never registers it. The connection
// reads it through poll(2) (rpc.Options.CallerReads); were it registered
// too, every message the plugin writes would also wake a thread of the
// host sleeping in epoll_wait, for nothing: a third of the host's CPU on
// a small call (docs/BENCHMARKS.md).
func outputPipe() (r, w *os.File, err error) {
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC); err != nil {
		return nil, nil, os.NewSyscallError("pipe2", err)
	}
	return os.NewFile(uintptr(fds[0]), "|0"), os.NewFile(uintptr(fds[1]), "|1"), nil
}

// signalText names the signal that ended a plugin. SIGSYS is the
// sandbox's ABI filter (internal/sandbox/seccomp_linux.go) killing it for
// a system call through a foreign ABI; said as "bad system call" alone, it
// sends the author looking for a bug of their own.
func signalText(sig syscall.Signal) string {
	if sig == syscall.SIGSYS {
		return `the sandbox's system call filter (SIGSYS), "bad system call": a system call through a foreign ABI (i386 or x32 on amd64, 32-bit on arm64), which no grant allows`
	}
	return fmt.Sprintf("signal %v", sig)
}
