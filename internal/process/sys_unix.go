//go:build unix

package process

import (
	"os"
	"os/exec"
	"syscall"
)

// sandbox prepares the child's process attributes: its own process group,
// so that stopping it stops everything it started (threat: go-plugin's
// Kill leaving children running).
func sandbox(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	setParentDeathSignal(cmd.SysProcAttr)
}

// killTree kills the plugin's whole process group.
func killTree(p *os.Process) {
	if p == nil {
		return
	}
	_ = syscall.Kill(-p.Pid, syscall.SIGKILL)
	_ = p.Kill()
}

// terminate asks the plugin's process group to stop.
func terminate(p *os.Process) {
	_ = syscall.Kill(-p.Pid, syscall.SIGTERM)
}

func platformEnv() []string { return nil }
