package process

import (
	"os"
	"os/exec"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/airlock-go/airlock/internal/tier"
)

// processGroup does nothing before the start on Windows: the plugin is put
// in a job object right after it starts (newGroup).
func processGroup(*exec.Cmd) {}

// group is a job object holding the plugin and every process it starts
// (threat: children left running after the plugin is stopped). The job is
// closed with kill-on-close, so the plugin dies with the host.
//
// # Notes
//
// The plugin is assigned to the job just after it starts; a child it
// starts in that instant escapes the job. Go's os/exec cannot start a
// process suspended and resume it.
type group struct {
	proc *os.Process
	mu   sync.Mutex
	job  windows.Handle
}

func newGroup(p *os.Process, l tier.Limits) *group {
	g := &group{proc: p}
	job, err := windows.CreateJobObject(nil, nil)
	if err != nil {
		return g
	}
	info := windows.JOBOBJECT_EXTENDED_LIMIT_INFORMATION{}
	info.BasicLimitInformation.LimitFlags = windows.JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE
	if l.MaxMemory > 0 {
		info.BasicLimitInformation.LimitFlags |= windows.JOB_OBJECT_LIMIT_PROCESS_MEMORY
		info.ProcessMemoryLimit = uintptr(l.MaxMemory)
	}
	if l.MaxProcesses > 0 {
		info.BasicLimitInformation.LimitFlags |= windows.JOB_OBJECT_LIMIT_ACTIVE_PROCESS
		info.BasicLimitInformation.ActiveProcessLimit = uint32(l.MaxProcesses)
	}
	if _, err := windows.SetInformationJobObject(job, windows.JobObjectExtendedLimitInformation,
		uintptr(unsafe.Pointer(&info)), uint32(unsafe.Sizeof(info))); err != nil {
		windows.CloseHandle(job)
		return g
	}
	h, err := windows.OpenProcess(windows.PROCESS_SET_QUOTA|windows.PROCESS_TERMINATE, false, uint32(p.Pid))
	if err != nil {
		windows.CloseHandle(job)
		return g
	}
	defer windows.CloseHandle(h)
	if err := windows.AssignProcessToJobObject(job, h); err != nil {
		windows.CloseHandle(job)
		return g
	}
	g.job = job
	return g
}

// kill ends every process in the job.
func (g *group) kill() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.job != 0 {
		_ = windows.TerminateJobObject(g.job, 1)
	}
	_ = g.proc.Kill()
}

// terminate is kill on Windows, which has no polite signal for consoles
// without a window.
func (g *group) terminate() { g.kill() }

// release closes the job handle (killing anything left in it).
func (g *group) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.job != 0 {
		windows.CloseHandle(g.job)
		g.job = 0
	}
}

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

// closeInheritedOnExec does nothing on Windows, where handles are not
// inherited unless marked inheritable and listed.
func closeInheritedOnExec() {}

// signalText names the signal that ended a plugin.
func signalText(sig syscall.Signal) string { return "signal " + sig.String() }
