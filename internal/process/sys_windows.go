package process

import (
	"os"
	"os/exec"
)

// processGroup does nothing yet on Windows; job objects come with the Windows
// port.
func processGroup(*exec.Cmd) {}

func killTree(p *os.Process) {
	if p != nil {
		_ = p.Kill()
	}
}

func terminate(p *os.Process) { killTree(p) }

// closeInheritedOnExec does nothing on Windows, where handles are not
// inherited unless marked inheritable and listed.
func closeInheritedOnExec() {}

// platformEnv passes the variables Windows programs cannot start without.
func platformEnv() []string {
	var env []string
	for _, k := range []string{"SYSTEMROOT", "WINDIR"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}
