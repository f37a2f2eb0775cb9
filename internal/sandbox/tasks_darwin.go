package sandbox

import "errors"

// On macOS RLIMIT_NPROC counts every process of the user and there are no
// cgroups: a plugin's own tasks cannot be bounded (tasks_linux.go says
// what Linux does).

// taskGroup is Linux's pids cgroup; macOS has none.
type taskGroup struct{ dir string }

func newTaskGroup(pid, max int) (*taskGroup, error) {
	return nil, errors.New("macOS has no cgroups")
}

func (g *taskGroup) remove() {}

func wantsTaskGroup(Policy) bool { return false }

// taskBound reports that the plugin's tasks are not bounded, and keeps
// the operator's RLIMIT_NPROC (max_processes), if any.
func taskBound(req request, rep *Report) int {
	if req.Policy.Tasks > 0 {
		rep.Missing = append(rep.Missing, "a bound on the plugin's processes and threads (macOS counts RLIMIT_NPROC for every process of the user; set max_processes)")
	}
	return req.Policy.Processes
}
