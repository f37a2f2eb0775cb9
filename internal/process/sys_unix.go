//go:build unix

package process

import (
	"os"
	"os/exec"
	"strconv"
	"syscall"

	"github.com/airlock-go/airlock/internal/tier"
)

// processGroup prepares the child's process attributes: its own session,
// and so its own process group, so that stopping it stops everything it
// started (threat: go-plugin's Kill leaving children running), and no
// controlling terminal (threat: a plugin of a host started from a shell
// opening /dev/tty to type commands into the user's shell with TIOCSTI,
// or to take the foreground and read what the user types).
func processGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	setParentDeathSignal(cmd.SysProcAttr)
}

// group is the plugin's process group.
type group struct{ pid int }

func newGroup(p *os.Process, _ tier.Limits) *group { return &group{pid: p.Pid} }

// kill kills the whole process group.
func (g *group) kill() {
	_ = syscall.Kill(-g.pid, syscall.SIGKILL)
	_ = syscall.Kill(g.pid, syscall.SIGKILL)
}

// terminate asks the process group to stop; SIGCONT lets a stopped plugin
// receive the request.
func (g *group) terminate() {
	_ = syscall.Kill(-g.pid, syscall.SIGTERM)
	_ = syscall.Kill(-g.pid, syscall.SIGCONT)
}

func (g *group) release() {}

func platformEnv() []string { return nil }

// closeInheritedOnExec marks close-on-exec every descriptor above stderr
// that the host holds without it. Go opens all its own descriptors that
// way, so these are ones the host itself inherited (from a shell, a
// supervisor, a test harness) and would otherwise pass on to every plugin
// (threat: a plugin reaching a socket, pipe or file through a descriptor
// it was never meant to have).
func closeInheritedOnExec() {
	for _, dir := range []string{"/proc/self/fd", "/dev/fd"} {
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			fd, err := strconv.Atoi(e.Name())
			if err != nil || fd <= 2 {
				continue
			}
			syscall.CloseOnExec(fd)
		}
		return
	}
}
