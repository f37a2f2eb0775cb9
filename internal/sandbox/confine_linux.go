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

// apply confines the current process, the launcher, in layers:
// namespaces (made at clone; here the mount layer inside them), Landlock,
// capabilities, the system call filters, and resource limits. Landlock
// before seccomp, since the Landlock library needs system calls that the
// filter denies; privileges after the mounts, which need them; resource
// limits last, the memory cap after everything else, just before the exec
// (runLauncher), so that the launcher's own work is not held to it.
func apply(req request, rep Report) (Report, error) {
	p := req.Policy
	namespaceReport(req, &rep)
	fc := filterContext{self: os.Getpid(), pidNamespace: req.Namespaces&unix.CLONE_NEWPID != 0,
		ipcNamespace: req.Namespaces&unix.CLONE_NEWIPC != 0}
	if req.Namespaces&unix.CLONE_NEWNS != 0 {
		if err := mountProc(); err != nil {
			return rep, fmt.Errorf("%w: %v", ErrNamespaces, err)
		}
		// While /proc is writable and the launcher holds its
		// capabilities (inotify_linux.go); without it, inotify is refused.
		if req.Namespaces&unix.CLONE_NEWUSER != 0 {
			fc.inotifyBounded = boundInotify(&rep) == nil
		}
		if err := readOnlyExceptWrites(p); err != nil {
			rep.Missing = append(rep.Missing, "read-only mounts ("+err.Error()+"; metadata changes are refused by the system call filter instead)")
		} else {
			fc.readOnlyMount = true
			rep.Enforced = append(rep.Enforced, "read-only file system outside write grants, with no device but the granted ones")
		}
		if err := reenterWorkDir(); err != nil {
			return rep, fmt.Errorf("working directory: %w", err)
		}
	}
	scoped, err := applyLandlock(p, &rep)
	if err != nil {
		return rep, err
	}
	fc.signalScoped = scoped
	if os.Geteuid() == 0 && p.RunAs == nil && !fc.readOnlyMount && !landlockApplied(&rep) {
		// A root plugin without capabilities still owns root's files:
		// kernel settings in /proc/sys and /sys (pid_max), the consoles,
		// its pids cgroup's files. Only read-only mounts or Landlock
		// keep it from writing them.
		rep.Missing = append(rep.Missing, "root's files kept from a root plugin (neither read-only mounts nor Landlock here: it may write kernel settings in /proc/sys and /sys, open the consoles, and leave its pids cgroup)")
	}
	if err := dropPrivileges(p.RunAs, &rep); err != nil {
		return rep, err
	}
	if err := applySeccomp(p, fc, &rep); err != nil {
		return rep, err
	}
	if err := applyLimits(p, &rep); err != nil {
		return rep, err
	}
	return rep, nil
}

// applyLandlock limits the file system to the policy's paths (threat: a
// plugin reading the host user's files, or writing outside its grants). It
// reports whether signals are scoped to the plugin's domain.
func applyLandlock(p Policy, rep *Report) (signalScoped bool, err error) {
	abi, err := ll.LandlockGetABIVersion()
	if err != nil || abi < 1 {
		rep.Missing = append(rep.Missing, "Landlock file system rules (kernel has no Landlock)")
		return false, nil
	}
	// The process's own /proc directory, named as the host's /proc names
	// it: in a PID namespace, os.Getpid is 1, and /proc/1 is the host's
	// init.
	self, err := os.Readlink("/proc/self")
	if err != nil {
		return false, fmt.Errorf("landlock: %w", err)
	}
	ro := append([]string{"/proc/" + self}, p.ReadOnly...)
	var rules []landlock.Rule
	for _, path := range ro {
		rules = append(rules, pathRule(path, false))
	}
	for _, path := range p.ReadWrite {
		rules = append(rules, pathRule(path, true))
	}
	cfg := landlock.V7.BestEffort()
	if err := cfg.RestrictPaths(rules...); err != nil {
		return false, fmt.Errorf("landlock: %w", err)
	}
	rep.Enforced = append(rep.Enforced, fmt.Sprintf("landlock-fs(abi %d)", abi))
	if !p.Network && abi >= 4 {
		if err := cfg.RestrictNet(); err != nil {
			return false, fmt.Errorf("landlock net: %w", err)
		}
		rep.Enforced = append(rep.Enforced, "landlock-net")
	}
	if abi >= 6 {
		// Threat: signalling the host or other processes, and reaching
		// abstract unix sockets outside the plugin.
		if err := cfg.RestrictScoped(); err != nil {
			return false, fmt.Errorf("landlock scope: %w", err)
		}
		rep.Enforced = append(rep.Enforced, "landlock-scope")
		return true, nil
	}
	return false, nil
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

// DefaultReadOnly lists the system paths a plugin may read: shared
// libraries, the dynamic linker's configuration, time zones, certificates,
// and the devices every program expects. Interpreters' own directories are
// added by the caller, and the system configuration some read outside them
// (interpreterConfig).
func DefaultReadOnly() []string {
	return append([]string{
		"/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin",
		"/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d",
		"/etc/localtime", "/etc/nsswitch.conf", "/etc/ssl", "/etc/ca-certificates",
		"/etc/alternatives",
		"/dev/urandom", "/dev/random", "/dev/zero",
		"/sys/fs/cgroup", "/sys/devices/system/cpu",
	}, interpreterConfig()...)
}

// interpreterConfig lists the system configuration that interpreters read
// at start from outside their installation prefix (which the caller adds:
// InterpreterDirs). Each entry is configuration the distribution installs
// for every user to read, holding no secrets, and names the interpreter
// that needs it (docs/PLATFORMS.md, "Interpreters"; tested by
// interpreters_linux_test.go):
//
//   - Java: Debian and Ubuntu link the JDK's conf/ directory
//     (security/java.security, logging.properties, the jvm.cfg) to
//     /etc/java-N-openjdk, and Fedora and RHEL to /etc/java. Without it
//     the JVM dies at start ("Error loading java.security file"). The
//     trust store those files name is under /etc/ssl, read already.
//
// Python, Node, Ruby and Perl need nothing beyond the list above.
func interpreterConfig() []string {
	java, _ := filepath.Glob("/etc/java-*")
	return append([]string{"/etc/java"}, java...)
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

// MachineFacts reports what the kernel offers.
func MachineFacts() Facts {
	f := Facts{OS: "linux", Root: os.Geteuid() == 0, Seccomp: seccomp.Supported(), Launcher: true}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		f.Kernel = unix.ByteSliceToString(u.Release[:])
	}
	if abi, err := ll.LandlockGetABIVersion(); err == nil {
		f.LandlockABI = abi
	}
	return f
}
