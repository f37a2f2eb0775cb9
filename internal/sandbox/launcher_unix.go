//go:build linux || darwin

package sandbox

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The launcher is the host's own executable started with this argv[0]
// and this variable set; init below recognises it.
const (
	launcherArg0 = "airlock-launcher"
	launcherEnv  = "AIRLOCK_SANDBOX_LAUNCHER"
	probeArg0    = "airlock-probe" // the program Probe confines: it exits at once
	probeEnv     = "AIRLOCK_SANDBOX_PROBE"
	policyFD     = 3 // the launcher reads its request here
	statusFD     = 4 // and writes its report here
)

// request is what the host sends the launcher.
type request struct {
	Policy Policy   `json:"policy"`
	Path   string   `json:"path"`
	Args   []string `json:"args"`
	Env    []string `json:"env"`
	// Namespaces are the clone flags the launcher was started with
	// (namespaces_linux.go); NamespaceError says why none were, if the
	// kernel refused them.
	Namespaces     uintptr `json:"namespaces"`
	NamespaceError string  `json:"namespace_error,omitempty"`
	// TaskGroup names the pids cgroup the host moved the launcher into
	// (tasks_linux.go); TaskGroupError says why there is none, if the
	// host tried.
	TaskGroup      string `json:"task_group,omitempty"`
	TaskGroupError string `json:"task_group_error,omitempty"`
}

// status is one line the launcher writes back.
type status struct {
	Report *Report `json:"report,omitempty"`
	Error  string  `json:"error,omitempty"`
	// Namespaces marks an Error as ErrNamespaces.
	Namespaces bool `json:"namespaces,omitempty"`
}

func init() {
	if len(os.Args) == 1 && os.Args[0] == probeArg0 && os.Getenv(probeEnv) == "1" {
		os.Exit(0)
	}
	// Only the launcher itself takes this path: the host's executable,
	// started by Wrap with the marker argv[0] and variable. In a normal
	// start of the host this returns at once.
	if len(os.Args) == 1 && os.Args[0] == launcherArg0 && os.Getenv(launcherEnv) == "1" {
		// Threat: a set-user-ID host turned into a way to run any program
		// with its privileges. The launcher runs only as its real user.
		if os.Geteuid() != os.Getuid() || os.Getegid() != os.Getgid() {
			os.Stderr.WriteString("airlock-launcher: refusing to run set-user-ID or set-group-ID\n")
			os.Exit(126)
		}
		runLauncher()
	}
}

// Launch is a command wrapped to start through the launcher.
type Launch struct {
	req      request
	policyW  *os.File
	statusR  *os.File
	childEnd []*os.File
	ex       explainLink // explain mode (explain_linux.go); zero otherwise
	group    *taskGroup  // the plugin's pids cgroup (tasks_linux.go), or nil
}

// Wrap rewrites cmd to start the launcher, which applies p and then runs
// what cmd named. Call Started after cmd.Start, or Abort if it failed.
func Wrap(cmd *exec.Cmd, p Policy) (*Launch, error) {
	polR, polW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	stR, stW, err := os.Pipe()
	if err != nil {
		polR.Close()
		polW.Close()
		return nil, err
	}
	l := &Launch{
		req:      request{Policy: p, Path: cmd.Path, Args: cmd.Args, Env: cmd.Env},
		policyW:  polW,
		statusR:  stR,
		childEnd: []*os.File{polR, stW},
	}
	if l.req.Env == nil {
		l.req.Env = []string{}
	}
	exe, err := selfExe()
	if err != nil {
		l.Abort()
		return nil, fmt.Errorf("sandbox launcher: %w", err)
	}
	cmd.Path = exe
	cmd.Args = []string{launcherArg0}
	cmd.Env = []string{launcherEnv + "=1"}
	cmd.ExtraFiles = []*os.File{polR, stW}
	if p.Explain { // explain mode: the launcher's third file carries the filter's listener back
		child, err := l.ex.wrap()
		if err != nil {
			l.Abort()
			return nil, fmt.Errorf("sandbox explain mode: %w", err)
		}
		l.childEnd = append(l.childEnd, child)
		cmd.ExtraFiles = append(cmd.ExtraFiles, child)
	}
	if !p.NoNamespaces {
		l.req.Namespaces = isolate(cmd, p)
	}
	return l, nil
}

// Start starts cmd, the command Wrap rewrote, and returns the command that
// runs. Where the kernel refuses the namespaces Wrap asked for (no
// unprivileged user namespaces, a container's seccomp profile, a limit
// reached), it starts a copy without them and the report says so; the
// system call filter's argument checks then guard other processes alone.
func (l *Launch) Start(cmd *exec.Cmd) (*exec.Cmd, error) {
	err := cmd.Start()
	if err != nil && l.req.Namespaces != 0 {
		retry := withoutNamespaces(cmd)
		if err2 := retry.Start(); err2 != nil {
			return nil, err2
		}
		l.req.Namespaces = 0
		l.req.NamespaceError = err.Error()
		cmd, err = retry, nil
	}
	if err == nil {
		l.joinTaskGroup(cmd.Process.Pid)
	}
	return cmd, err
}

// joinTaskGroup puts the launcher, which waits for its policy and so has
// run none of the plugin's code, into a pids cgroup of its own, where the
// host may make one (root).
func (l *Launch) joinTaskGroup(pid int) {
	if !wantsTaskGroup(l.req.Policy) {
		return
	}
	g, err := newTaskGroup(pid, l.req.Policy.Tasks)
	if err != nil {
		l.req.TaskGroupError = err.Error()
		return
	}
	l.group, l.req.TaskGroup = g, g.dir
}

// Abort releases the launch's pipes after cmd.Start failed.
func (l *Launch) Abort() {
	for _, f := range append(l.childEnd, l.policyW, l.statusR) {
		f.Close()
	}
	l.ex.close()
	l.group.remove()
}

// Close ends what the launch still holds once the plugin has ended:
// explain mode's loop, which it waits for, and its descriptors; and the
// plugin's pids cgroup, whose remaining processes it kills. It is safe to
// call more than once.
func (l *Launch) Close() {
	l.ex.close()
	l.group.remove()
}

// Started sends the policy to the launcher and waits, up to timeout, for
// its report: what it enforced, or why it could not start the plugin.
func (l *Launch) Started(timeout time.Duration) (Report, error) {
	for _, f := range l.childEnd {
		f.Close()
	}
	defer l.statusR.Close()
	data, err := json.Marshal(l.req)
	if err != nil {
		l.policyW.Close()
		return Report{}, err
	}
	_, werr := l.policyW.Write(data)
	l.policyW.Close()
	if l.req.Policy.Explain { // explain mode: the loop must run before the launcher's exec, which it answers
		if err := l.ex.start(l.req.Policy, timeout); err != nil {
			return Report{}, err
		}
	}
	_ = l.statusR.SetReadDeadline(time.Now().Add(timeout))
	var rep *Report
	sc := bufio.NewScanner(io.LimitReader(l.statusR, 64<<10))
	for sc.Scan() {
		var st status
		if err := json.Unmarshal(sc.Bytes(), &st); err != nil {
			return Report{}, fmt.Errorf("sandbox launcher: unreadable status %q", sc.Text())
		}
		if st.Error != "" {
			if st.Namespaces {
				return Report{}, fmt.Errorf("%w: %s", ErrNamespaces, st.Error)
			}
			return Report{}, errors.New(st.Error)
		}
		rep = st.Report
	}
	if err := sc.Err(); err != nil {
		return Report{}, fmt.Errorf("sandbox launcher: %w", err)
	}
	if rep == nil {
		if werr != nil {
			return Report{}, fmt.Errorf("sandbox launcher: send policy: %w", werr)
		}
		return Report{}, errors.New("sandbox launcher exited without a report")
	}
	// End of file after the report: the exec succeeded and closed the
	// launcher's end.
	return *rep, nil
}

// Probe confines a program that exits at once, under policy p, and
// returns the launcher's report: what a plugin with that policy gets on
// this machine. The probe is the host's own executable, which p may not
// need to read; Probe adds it.
func Probe(p Policy, timeout time.Duration) (Report, error) {
	exe, err := os.Executable()
	if err != nil {
		return Report{}, err
	}
	if real, err := filepath.EvalSymlinks(exe); err == nil {
		exe = real
	}
	p.ReadOnly = append(slices.Clone(p.ReadOnly), exe)
	p.Explain = false // nobody reads a probe's explanations
	cmd := &exec.Cmd{Path: exe, Args: []string{probeArg0}, Env: []string{probeEnv + "=1"}}
	l, err := Wrap(cmd, p)
	if err != nil {
		return Report{}, err
	}
	started, err := l.Start(cmd)
	if err != nil {
		l.Abort()
		return Report{}, err
	}
	rep, err := l.Started(timeout)
	defer l.Close()
	if werr := started.Wait(); err == nil && werr != nil {
		err = fmt.Errorf("sandbox probe: %w", werr)
	}
	return rep, err
}

// runLauncher is the launcher's whole life: read the request, confine
// itself, execute the plugin. It never returns.
func runLauncher() {
	// Capabilities and the user are per thread (caps_linux.go): the
	// launcher drops them on this thread and executes the plugin from it.
	runtime.LockOSThread()
	st := os.NewFile(statusFD, "airlock-status")
	fail := func(format string, args ...any) {
		msg, _ := json.Marshal(status{Error: "sandbox: " + fmt.Sprintf(format, args...)})
		st.Write(append(msg, '\n'))
		os.Exit(126)
	}
	pol := os.NewFile(policyFD, "airlock-policy")
	data, err := io.ReadAll(io.LimitReader(pol, 1<<20))
	pol.Close()
	if err != nil {
		fail("read policy: %v", err)
	}
	var req request
	if err := json.Unmarshal(data, &req); err != nil {
		fail("decode policy: %v", err)
	}
	var rep Report
	req.Policy.Processes = taskBound(req, &rep)
	rep, err = apply(req, rep)
	if errors.Is(err, ErrNamespaces) {
		msg, _ := json.Marshal(status{Error: "sandbox: " + err.Error(), Namespaces: true})
		st.Write(append(msg, '\n'))
		os.Exit(126)
	}
	if err != nil {
		fail("%v", err)
	}
	if req.Policy.Require && len(rep.Missing) > 0 {
		fail("full confinement is required but these are not available here: %v", rep.Missing)
	}
	line, _ := json.Marshal(status{Report: &rep})
	st.Write(append(line, '\n'))
	// Every descriptor beyond stdio closes at exec, the status pipe
	// included, which tells the host the exec succeeded.
	closeExtraOnExec()
	// The memory cap comes last, between the launcher's final allocations
	// and the exec: the launcher (a Go program, race-built in tests) needs
	// more memory than a small plugin's cap, and dying under it would lose
	// the plugin's error. A failure here still reaches the host, which
	// reads status lines until the exec closes the pipe.
	if err := setLimits(limits(req.Policy, dataLimitEnforced), atExec); err != nil {
		fail("%v", err)
	}
	err = syscall.Exec(req.Path, req.Args, req.Env)
	fail("exec %s: %v", req.Path, err)
}

// applyLimits sets the policy's resource limits on the current process,
// all but those left for the moment of the exec (atExec), and reports
// them all as enforced: the launcher sets the rest or fails to start the
// plugin.
func applyLimits(p Policy, rep *Report) error {
	all := limits(p, dataLimitEnforced)
	if err := setLimits(all, func(l limit) bool { return !atExec(l) }); err != nil {
		return err
	}
	for _, l := range all {
		rep.Enforced = append(rep.Enforced, fmt.Sprintf("%s=%d", l.name, l.value))
	}
	return nil
}

// atExec reports whether limit l is set just before the exec rather than
// with the others: the data segment cap and the task count, which the
// launcher itself (a Go program, which may start a thread at any time)
// would otherwise be held to.
func atExec(l limit) bool { return l.res == unix.RLIMIT_DATA || l.res == unix.RLIMIT_NPROC }

// setLimits sets the limits that match on the current process, soft and
// hard alike, so that the plugin cannot raise them.
func setLimits(ls []limit, match func(limit) bool) error {
	for _, l := range ls {
		if !match(l) {
			continue
		}
		if err := unix.Setrlimit(l.res, &unix.Rlimit{Cur: l.value, Max: l.value}); err != nil {
			return fmt.Errorf("setrlimit %s: %w", l.name, err)
		}
	}
	return nil
}

// limit is one resource limit to set.
type limit struct {
	name  string
	res   int
	value uint64
}

// limits lists the resource limits policy p asks for, defaults filled in;
// RLIMIT_DATA only where the kernel enforces it (dataEnforced).
func limits(p Policy, dataEnforced bool) []limit {
	files, fsize := p.Files, p.FileSize
	if files <= 0 {
		files = DefaultFiles
	}
	if fsize <= 0 {
		fsize = DefaultFileSize
	}
	// Threat: core dumps of a plugin writing the host's secrets to disk.
	out := []limit{
		{"RLIMIT_CORE", unix.RLIMIT_CORE, 0},
		{"RLIMIT_NOFILE", unix.RLIMIT_NOFILE, uint64(files)},
		{"RLIMIT_FSIZE", unix.RLIMIT_FSIZE, uint64(fsize)},
	}
	if p.Memory > 0 && dataEnforced {
		out = append(out, limit{"RLIMIT_DATA", unix.RLIMIT_DATA, uint64(p.Memory)})
	}
	if p.CPU >= time.Second {
		out = append(out, limit{"RLIMIT_CPU", unix.RLIMIT_CPU, uint64(p.CPU / time.Second)})
	}
	if p.Processes > 0 {
		out = append(out, limit{"RLIMIT_NPROC", unix.RLIMIT_NPROC, uint64(p.Processes)})
	}
	return out
}
