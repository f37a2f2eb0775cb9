package sandbox

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// refusal is explain mode's account of one refusal: the call, the rule
// that refused it, and the grant that would allow it ("" if none).
type refusal struct {
	call  string
	rule  string // the policy filter's rule; "" for a path
	why   string
	grant string
}

// message is the log line, e.g. plugin "teller": sandbox refused
// socket(AF_INET): rule "network" (no net grant); grant "net" would allow
// it.
func (r refusal) message(plugin string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "plugin %q: sandbox refused %s: ", plugin, r.call)
	if r.rule != "" {
		fmt.Fprintf(&b, "rule %q (%s)", r.rule, r.why)
	} else {
		b.WriteString(r.why)
	}
	if r.grant != "" {
		fmt.Fprintf(&b, "; grant %q would allow it", r.grant)
	} else {
		b.WriteString("; no grant allows it")
	}
	return b.String()
}

// Calls refused to every plugin, by the reason docs/SECURITY.md gives.
var (
	otherMemoryCalls = []string{"ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "process_madvise", "process_mrelease", "kcmp"}
	otherProcCalls   = []string{"prlimit64", "sched_setaffinity", "sched_setscheduler", "sched_setparam", "sched_setattr", "migrate_pages", "move_pages", "get_robust_list", "setpriority", "ioprio_set"}
	signalCalls      = []string{"kill", "tkill", "tgkill", "rt_tgsigqueueinfo", "rt_sigqueueinfo", "pidfd_open"}
)

// explainRefusal names the rule of filterGroups that refused the call
// name with arguments a, under policy p.
func explainRefusal(name string, a [6]uint64, p Policy) refusal {
	switch {
	case name == "socket" || name == "socketpair":
		return socketRefusal(name, a, p)
	case name == "clone" && a[0]&nsFlags != 0, name == "unshare", name == "setns":
		return refusal{call: name, rule: "namespaces", why: "a plugin makes no namespaces"}
	case name == "clone" || name == "fork" || name == "vfork":
		return refusal{call: name, rule: "spawn", why: "no spawn grant", grant: "spawn"}
	case slices.Contains(otherMemoryCalls, name):
		return refusal{call: name, rule: "other processes' memory", why: "refused to every plugin"}
	case slices.Contains(otherProcCalls, name):
		return refusal{call: name, rule: "other processes", why: "a plugin acts on itself only"}
	case slices.Contains(signalCalls, name):
		return refusal{call: name, rule: "signals", why: "a plugin signals itself and its own processes only"}
	case name == "mknod" || name == "mknodat":
		return refusal{call: name, rule: "device nodes", why: "refused to every plugin"}
	case slices.Contains(metadataCalls, name):
		return refusal{call: name, rule: "metadata", why: "without the namespace layer no file's mode, owner, attributes or times change; with it, those inside fs.write grants do"}
	case name == "memfd_create" || name == "mmap" || name == "fcntl" || name == "shmget" && p.Memory > 0:
		return refusal{call: name, rule: "memory cap", why: "under max_memory_bytes, no shared anonymous memory, memfds, System V shared memory or pipes grown beyond their default size, which the cap does not count"}
	case slices.Contains(inotifyCalls, name):
		return refusal{call: name, rule: "inotify", why: "the host cannot count this plugin's inotify instances apart from its user's (a root host, or no user namespace), and a plugin could take them all"}
	case slices.Contains(sysvIPCCalls, name) || slices.Contains(posixMQCalls, name):
		return refusal{call: name, rule: "IPC", why: "without the namespace layer, the host's System V IPC objects and POSIX message queues are out of reach"}
	case name == "setsid" || name == "setpgid":
		return refusal{call: name, rule: "process group", why: "without the namespace layer a plugin stays in its process group"}
	case slices.Contains(deniedAlways, name):
		return refusal{call: name, rule: "kernel interfaces", why: "refused to every plugin"}
	case name == "":
		return refusal{call: "a system call of a foreign ABI", rule: "native ABI only", why: "refused to every plugin"}
	}
	return refusal{call: name, rule: "policy", why: "refused by the system call filter"}
}

// socketRefusal explains socket and socketpair by address family.
func socketRefusal(name string, a [6]uint64, p Policy) refusal {
	fam := int(a[0])
	r := refusal{call: fmt.Sprintf("%s(%s)", name, familyName(fam))}
	switch {
	case name == "socketpair" && fam == unix.AF_UNIX:
		r.rule, r.why, r.grant = "unix", "no unix grant: stream and sequenced-packet pairs only, since a datagram socket can send to any socket by path", "unix"
	case name == "socketpair":
		r.rule, r.why = "socket families", "socketpair makes unix pairs only"
	case (fam == unix.AF_INET || fam == unix.AF_INET6 || fam == unix.AF_NETLINK) && !p.Network:
		r.rule, r.why, r.grant = "network", "no net grant", "net"
	case fam == unix.AF_NETLINK:
		r.rule, r.why = "network", "of netlink, only routing sockets (NETLINK_ROUTE)"
	case fam == unix.AF_UNIX:
		r.rule, r.why, r.grant = "unix", "no unix grant", "unix"
	default:
		r.rule, r.why = "socket families", "only inet, inet6, netlink routing and unix sockets can be granted"
	}
	return r
}

func familyName(fam int) string {
	switch fam {
	case unix.AF_INET:
		return "AF_INET"
	case unix.AF_INET6:
		return "AF_INET6"
	case unix.AF_UNIX:
		return "AF_UNIX"
	case unix.AF_NETLINK:
		return "AF_NETLINK"
	case unix.AF_PACKET:
		return "AF_PACKET"
	}
	return "family " + strconv.Itoa(fam)
}

// access is what a path call needs of the path Landlock checks.
type access int

const (
	accRead   access = iota // read a file or list a directory
	accExec                 // execute a file
	accWrite                // write or truncate a file
	accCreate               // make a name in the parent directory
	accRemove               // remove a name from the parent directory
)

var accessNames = [...]string{"read", "execute", "write", "create", "remove"}

func (a access) String() string { return accessNames[a] }

// pathArg is one path argument of a path call.
type pathArg struct {
	dirfd  int    // the argument with the directory it is relative to; -1: the working directory
	path   int    // the argument with the path's address
	need   access //
	create bool   // a write that creates the file if it is missing (O_CREAT)
}

// target is one path a path call names, read from the plugin's memory.
type target struct {
	path   string // absolute, as the plugin named it
	need   access
	create bool
}

// pathArgs says where each path call's paths are and what it needs.
// open, openat and openat2 need what their flags say (openFlags).
func pathArgs(name string, a [6]uint64, flags uint64) []pathArg {
	switch name {
	case "open":
		return openArg(-1, 0, a[1])
	case "openat", "openat2":
		return openArg(0, 1, flags)
	case "creat":
		return openArg(-1, 0, unix.O_CREAT|unix.O_WRONLY|unix.O_TRUNC)
	case "execve":
		return []pathArg{{-1, 0, accExec, false}}
	case "execveat":
		return []pathArg{{0, 1, accExec, false}}
	case "truncate":
		return []pathArg{{-1, 0, accWrite, false}}
	case "mkdir":
		return []pathArg{{-1, 0, accCreate, false}}
	case "mkdirat":
		return []pathArg{{0, 1, accCreate, false}}
	case "rmdir", "unlink":
		return []pathArg{{-1, 0, accRemove, false}}
	case "unlinkat":
		return []pathArg{{0, 1, accRemove, false}}
	case "rename":
		return []pathArg{{-1, 0, accRemove, false}, {-1, 1, accCreate, false}}
	case "renameat", "renameat2":
		return []pathArg{{0, 1, accRemove, false}, {2, 3, accCreate, false}}
	case "link", "symlink":
		return []pathArg{{-1, 1, accCreate, false}}
	case "linkat":
		return []pathArg{{2, 3, accCreate, false}}
	case "symlinkat":
		return []pathArg{{1, 2, accCreate, false}}
	}
	return nil
}

func openArg(dirfd, path int, flags uint64) []pathArg {
	if flags&unix.O_PATH != 0 {
		return nil // Landlock checks no access for O_PATH
	}
	if flags&(unix.O_WRONLY|unix.O_RDWR|unix.O_TRUNC) != 0 || flags&unix.O_CREAT != 0 {
		return []pathArg{{dirfd, path, accWrite, flags&unix.O_CREAT != 0}}
	}
	return []pathArg{{dirfd, path, accRead, false}}
}

// readTargets reads from the plugin's memory the paths that call name
// with arguments a names. The host may: the plugin is its descendant,
// and in a user namespace that the host's user owns.
func (e *explainer) readTargets(pid int, name string, a [6]uint64) ([]target, error) {
	var flags uint64
	if name == "openat2" { // struct open_how starts with its flags
		raw, err := readMemory(pid, a[2], 8)
		if err != nil {
			return nil, err
		}
		flags = binary.NativeEndian.Uint64(raw)
	} else if name == "openat" {
		flags = a[2]
	}
	var out []target
	for _, arg := range pathArgs(name, a, flags) {
		path, err := readString(pid, a[arg.path])
		if err != nil {
			return nil, err
		}
		if path == "" {
			continue // AT_EMPTY_PATH: the descriptor itself, checked when it was opened
		}
		if !filepath.IsAbs(path) {
			base, err := baseDir(pid, arg.dirfd, a)
			if err != nil {
				return nil, err
			}
			path = filepath.Join(base, path)
		}
		out = append(out, target{path: filepath.Clean(path), need: arg.need, create: arg.create})
	}
	return out, nil
}

// baseDir is the directory a relative path is resolved from.
func baseDir(pid, dirfd int, a [6]uint64) (string, error) {
	if dirfd < 0 || int32(a[dirfd]) == unix.AT_FDCWD {
		return os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
	}
	return os.Readlink(fmt.Sprintf("/proc/%d/fd/%d", pid, int32(a[dirfd])))
}

// readMemory reads n bytes at addr in process pid.
func readMemory(pid int, addr uint64, n int) ([]byte, error) {
	buf := make([]byte, n)
	local := []unix.Iovec{{Base: &buf[0]}}
	local[0].SetLen(n)
	remote := []unix.RemoteIovec{{Base: uintptr(addr), Len: n}}
	got, err := unix.ProcessVMReadv(pid, local, remote, 0)
	if err != nil {
		return nil, err
	}
	return buf[:got], nil
}

// readString reads a NUL-terminated path at addr, a page at most at a
// time (the next page may be unmapped), up to PATH_MAX.
func readString(pid int, addr uint64) (string, error) {
	const page = 4096
	var out []byte
	for len(out) < unix.PathMax {
		n := page - int(addr%page)
		chunk, err := readMemory(pid, addr, n)
		if err != nil {
			return "", err
		}
		if i := bytes.IndexByte(chunk, 0); i >= 0 {
			return string(append(out, chunk[:i]...)), nil
		}
		if len(chunk) == 0 {
			break
		}
		out = append(out, chunk...)
		addr += uint64(len(chunk))
	}
	return "", fmt.Errorf("path at %#x is longer than PATH_MAX", addr)
}

// pathRules are the plugin's Landlock rules, resolved as Landlock
// resolves them (a rule on a symbolic link holds for what it points to).
type pathRules struct {
	read, write []string
}

func newPathRules(p Policy) pathRules {
	resolve := func(paths []string) []string {
		var out []string
		for _, path := range paths {
			if real, err := filepath.EvalSymlinks(path); err == nil {
				path = real
			}
			out = append(out, filepath.Clean(path))
		}
		return out
	}
	return pathRules{read: resolve(p.ReadOnly), write: resolve(p.ReadWrite)}
}

func covered(path string, roots []string) bool {
	for _, r := range roots {
		if path == r || r == "/" || strings.HasPrefix(path, r+"/") {
			return true
		}
	}
	return false
}

// allows reports whether the rules give need on path (a resolved path).
func (r pathRules) allows(path string, need access) bool {
	if covered(path, r.write) {
		return true
	}
	return (need == accRead || need == accExec) && covered(path, r.read)
}

// refusal says whether Landlock will refuse call on t, and which grant
// would allow it. A path that does not exist is not refused (the call
// fails with ENOENT), unless the call creates it, which needs its
// directory. The plugin's /proc is its own mount, which the host does not
// see; paths there are not explained.
func (r pathRules) refusal(call string, t target) (refusal, bool) {
	if t.path == "/proc" || strings.HasPrefix(t.path, "/proc/") {
		return refusal{}, false
	}
	need, checked := t.need, t.path
	if need == accCreate || need == accRemove {
		checked = filepath.Dir(t.path)
	}
	real, err := filepath.EvalSymlinks(checked)
	if err != nil && t.create {
		need, checked = accCreate, filepath.Dir(t.path)
		real, err = filepath.EvalSymlinks(checked)
	}
	if err != nil || r.allows(real, need) {
		return refusal{}, false
	}
	shown := strconv.Quote(t.path)
	if checked == t.path && real != t.path {
		shown += " (" + strconv.Quote(real) + ")" // a symbolic link: Landlock checks what it points to
	}
	out := refusal{call: fmt.Sprintf("%s(%s, %s)", call, shown, need)}
	switch {
	case need == accRead || need == accExec:
		out.why, out.grant = "no fs.read grant covers it", "fs.read:"+real
	case checked == t.path:
		out.why, out.grant = "no fs.write grant covers it", "fs.write:"+real
	default: // a name made or removed: its directory needs the grant
		out.why, out.grant = "no fs.write grant covers "+real, "fs.write:"+real
	}
	return out, true
}
