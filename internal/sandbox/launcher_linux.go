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
	"strconv"
	"syscall"
	"time"

	seccomp "github.com/elastic/go-seccomp-bpf"
	"github.com/landlock-lsm/go-landlock/landlock"
	ll "github.com/landlock-lsm/go-landlock/landlock/syscall"
	"golang.org/x/sys/unix"
)

// The launcher is the host's own executable started with this argv[0]
// and this variable set; init below recognises it.
const (
	launcherArg0 = "airlock-launcher"
	launcherEnv  = "AIRLOCK_SANDBOX_LAUNCHER"
	policyFD     = 3 // the launcher reads its request here
	statusFD     = 4 // and writes its report here
)

// request is what the host sends the launcher.
type request struct {
	Policy Policy   `json:"policy"`
	Path   string   `json:"path"`
	Args   []string `json:"args"`
	Env    []string `json:"env"`
}

// status is one line the launcher writes back.
type status struct {
	Report *Report `json:"report,omitempty"`
	Error  string  `json:"error,omitempty"`
}

func init() {
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
	// /proc/self/exe is the host's executable as it was started, even if
	// the file on disk has since been replaced.
	cmd.Path = "/proc/self/exe"
	cmd.Args = []string{launcherArg0}
	cmd.Env = []string{launcherEnv + "=1"}
	cmd.ExtraFiles = []*os.File{polR, stW}
	return l, nil
}

// Abort releases the launch's pipes after cmd.Start failed.
func (l *Launch) Abort() {
	for _, f := range append(l.childEnd, l.policyW, l.statusR) {
		f.Close()
	}
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
	_ = l.statusR.SetReadDeadline(time.Now().Add(timeout))
	var rep *Report
	sc := bufio.NewScanner(io.LimitReader(l.statusR, 64<<10))
	for sc.Scan() {
		var st status
		if err := json.Unmarshal(sc.Bytes(), &st); err != nil {
			return Report{}, fmt.Errorf("sandbox launcher: unreadable status %q", sc.Text())
		}
		if st.Error != "" {
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

// runLauncher is the launcher's whole life: read the request, confine
// itself, execute the plugin. It never returns.
func runLauncher() {
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
	rep, err := apply(req.Policy)
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
	if err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		markAllCloseOnExec()
	}
	err = syscall.Exec(req.Path, req.Args, req.Env)
	fail("exec %s: %v", req.Path, err)
}

func markAllCloseOnExec() {
	entries, _ := os.ReadDir("/proc/self/fd")
	for _, e := range entries {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
			syscall.CloseOnExec(fd)
		}
	}
}

// apply confines the current process. Landlock before seccomp, since the
// Landlock library needs system calls that the seccomp filter may deny;
// resource limits last, so that the launcher's own work is not held to the
// plugin's memory cap.
func apply(p Policy) (Report, error) {
	var rep Report
	if err := applyLandlock(p, &rep); err != nil {
		return rep, err
	}
	if err := applySeccomp(p, &rep); err != nil {
		return rep, err
	}
	if err := applyLimits(p, &rep); err != nil {
		return rep, err
	}
	return rep, nil
}

func applyLimits(p Policy, rep *Report) error {
	set := func(name string, res int, v uint64) error {
		if err := unix.Setrlimit(res, &unix.Rlimit{Cur: v, Max: v}); err != nil {
			return fmt.Errorf("setrlimit %s: %w", name, err)
		}
		rep.Enforced = append(rep.Enforced, fmt.Sprintf("%s=%d", name, v))
		return nil
	}
	files, fsize := p.Files, p.FileSize
	if files <= 0 {
		files = DefaultFiles
	}
	if fsize <= 0 {
		fsize = DefaultFileSize
	}
	// Threat: core dumps of a plugin writing the host's secrets to disk.
	steps := []struct {
		name string
		res  int
		v    uint64
		on   bool
	}{
		{"RLIMIT_CORE", unix.RLIMIT_CORE, 0, true},
		{"RLIMIT_NOFILE", unix.RLIMIT_NOFILE, uint64(files), true},
		{"RLIMIT_FSIZE", unix.RLIMIT_FSIZE, uint64(fsize), true},
		{"RLIMIT_DATA", unix.RLIMIT_DATA, uint64(p.Memory), p.Memory > 0},
		{"RLIMIT_CPU", unix.RLIMIT_CPU, uint64(p.CPU / time.Second), p.CPU >= time.Second},
		{"RLIMIT_NPROC", unix.RLIMIT_NPROC, uint64(p.Processes), p.Processes > 0},
	}
	for _, s := range steps {
		if !s.on {
			continue
		}
		if err := set(s.name, s.res, s.v); err != nil {
			return err
		}
	}
	return nil
}

// applyLandlock limits the file system to the policy's paths (threat: a
// plugin reading the host user's files, or writing outside its grants).
func applyLandlock(p Policy, rep *Report) error {
	abi, err := ll.LandlockGetABIVersion()
	if err != nil || abi < 1 {
		rep.Missing = append(rep.Missing, "Landlock file system rules (kernel has no Landlock)")
		return nil
	}
	ro := append([]string{fmt.Sprintf("/proc/%d", os.Getpid())}, p.ReadOnly...)
	var rules []landlock.Rule
	for _, path := range ro {
		rules = append(rules, pathRule(path, false))
	}
	for _, path := range p.ReadWrite {
		rules = append(rules, pathRule(path, true))
	}
	cfg := landlock.V7.BestEffort()
	if err := cfg.RestrictPaths(rules...); err != nil {
		return fmt.Errorf("landlock: %w", err)
	}
	rep.Enforced = append(rep.Enforced, fmt.Sprintf("landlock-fs(abi %d)", abi))
	if !p.Network && abi >= 4 {
		if err := cfg.RestrictNet(); err != nil {
			return fmt.Errorf("landlock net: %w", err)
		}
		rep.Enforced = append(rep.Enforced, "landlock-net")
	}
	if abi >= 6 {
		// Threat: signalling the host or other processes, and reaching
		// abstract unix sockets outside the plugin.
		if err := cfg.RestrictScoped(); err != nil {
			return fmt.Errorf("landlock scope: %w", err)
		}
		rep.Enforced = append(rep.Enforced, "landlock-scope")
	}
	return nil
}

func pathRule(path string, write bool) landlock.Rule {
	st, err := os.Stat(path)
	isDir := err != nil || st.IsDir()
	switch {
	case write && isDir:
		return landlock.RWDirs(path).IgnoreIfMissing()
	case write:
		return landlock.RWFiles(path).IgnoreIfMissing()
	case isDir:
		return landlock.RODirs(path).IgnoreIfMissing()
	}
	return landlock.ROFiles(path).IgnoreIfMissing()
}

// applySeccomp installs the system call filter (threat: a plugin opening
// network connections, forking without bound, tracing or reading other
// processes' memory, or using kernel interfaces a plugin never needs).
func applySeccomp(p Policy, rep *Report) error {
	if !seccomp.Supported() {
		rep.Missing = append(rep.Missing, "seccomp (not supported by the kernel)")
		return nil
	}
	eperm := seccomp.ActionErrno | seccomp.Action(unix.EPERM)
	groups := []seccomp.SyscallGroup{{
		Action: eperm,
		Names:  existing(deniedAlways),
	}}
	if !p.Network {
		groups = append(groups, seccomp.SyscallGroup{Action: eperm, Names: []string{"socket"}})
	}
	if !p.Spawn {
		groups = append(groups,
			seccomp.SyscallGroup{Action: eperm, Names: existing([]string{"fork", "vfork"})},
			// clone3 passes its flags in memory a filter cannot read:
			// ENOSYS makes the C library fall back to clone.
			seccomp.SyscallGroup{Action: seccomp.ActionErrno | seccomp.Action(unix.ENOSYS), Names: []string{"clone3"}},
			seccomp.SyscallGroup{Action: eperm, NamesWithCondtions: []seccomp.NameWithConditions{{
				Name:       "clone",
				Conditions: seccomp.ArgumentConditions{{Argument: 0, Operation: seccomp.BitsNotSet, Value: unix.CLONE_THREAD}},
			}}},
		)
	}
	f := seccomp.Filter{
		NoNewPrivs: true,
		Flag:       seccomp.FilterFlagTSync,
		Policy:     seccomp.Policy{DefaultAction: seccomp.ActionAllow, Syscalls: groups},
	}
	if err := seccomp.LoadFilter(f); err != nil {
		return fmt.Errorf("seccomp: %w", err)
	}
	what := "seccomp"
	if !p.Network {
		what += "(no sockets"
	} else {
		what += "(sockets allowed"
	}
	if !p.Spawn {
		what += ", no new processes)"
	} else {
		what += ")"
	}
	rep.Enforced = append(rep.Enforced, what, "no_new_privs")
	return nil
}

// deniedAlways are system calls no plugin needs.
var deniedAlways = []string{
	"ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd",
	"bpf", "perf_event_open", "userfaultfd",
	"keyctl", "add_key", "request_key",
	"mount", "umount2", "pivot_root", "chroot", "unshare", "setns",
	"init_module", "finit_module", "delete_module",
	"kexec_load", "kexec_file_load", "reboot", "swapon", "swapoff",
	"open_by_handle_at", "name_to_handle_at",
	"io_uring_setup", "io_uring_enter", "io_uring_register",
	"acct", "quotactl", "syslog", "settimeofday", "clock_settime", "adjtimex",
	"iopl", "ioperm",
}

// existing keeps the names this architecture has (arm64 has no fork,
// iopl, ...).
func existing(names []string) []string {
	var out []string
	for _, n := range names {
		if syscallExists(n) {
			out = append(out, n)
		}
	}
	return out
}

func syscallExists(name string) bool {
	p := seccomp.Policy{DefaultAction: seccomp.ActionAllow, Syscalls: []seccomp.SyscallGroup{{Action: seccomp.ActionErrno, Names: []string{name}}}}
	_, err := p.Assemble()
	return err == nil
}

// DefaultReadOnly lists the system paths a plugin may read: shared
// libraries, the dynamic linker's configuration, time zones, certificates,
// and the devices every program expects. Interpreters' own directories are
// added by the caller.
func DefaultReadOnly() []string {
	return []string{
		"/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin",
		"/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d",
		"/etc/localtime", "/etc/nsswitch.conf", "/etc/ssl", "/etc/ca-certificates",
		"/etc/alternatives",
		"/dev/urandom", "/dev/random", "/dev/zero",
		"/sys/fs/cgroup", "/sys/devices/system/cpu",
	}
}

// DefaultReadWrite lists the paths every plugin may write: /dev/null.
func DefaultReadWrite() []string { return []string{"/dev/null"} }

// InterpreterDirs returns what a plugin needs to read to run interp: the
// installation prefix above its bin directory (for
// /root/.pyenv/versions/3.11.7/bin/python3, /root/.pyenv/versions/3.11.7).
func InterpreterDirs(interp string) []string {
	real, err := filepath.EvalSymlinks(interp)
	if err != nil {
		real = interp
	}
	var out []string
	for _, p := range []string{interp, real} {
		dir := filepath.Dir(p)
		if filepath.Base(dir) == "bin" {
			dir = filepath.Dir(dir)
		}
		if dir != "/" && dir != "" {
			out = append(out, dir)
		}
	}
	return out
}

// Available reports whether this platform confines process plugins.
func Available() bool { return true }
