package sandbox

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	seccomp "github.com/elastic/go-seccomp-bpf"
	"github.com/landlock-lsm/go-landlock/landlock"
	ll "github.com/landlock-lsm/go-landlock/landlock/syscall"
	"golang.org/x/sys/unix"
)

// dataLimitEnforced reports whether the kernel holds a process to
// RLIMIT_DATA.
const dataLimitEnforced = true

// selfExe names the host's executable for the launcher: /proc/self/exe is
// the executable as it was started, even if the file on disk has since
// been replaced.
func selfExe() (string, error) { return "/proc/self/exe", nil }

// closeExtraOnExec marks every descriptor beyond stdio close-on-exec.
func closeExtraOnExec() {
	if err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		markAllCloseOnExec()
	}
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
