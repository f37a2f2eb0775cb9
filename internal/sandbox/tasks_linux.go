package sandbox

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The bound on a plugin's tasks (processes and threads together).
//
// Threat: a thread bomb. Without the spawn grant a plugin may still start
// threads (clone with CLONE_THREAD), and threads cost a PID each: a plugin
// looping on clone takes every PID of the machine, after which neither the
// host nor anything else can start a thread or a process. Seccomp cannot
// count, and RLIMIT_NPROC counts every process of the user (and the kernel
// exempts root from it), so the bound is one of the plugin's own:
//
//   - a host running as root puts the launcher, before the plugin exists,
//     into a pids cgroup of its own (pids.max = Policy.Tasks), which its
//     threads and children inherit and cannot leave (the cgroup file
//     system is read-only in the plugin's mount namespace, and Landlock
//     refuses writes outside its grants);
//   - a host that is not root starts the plugin in a user namespace of its
//     own, where since Linux 5.14 the kernel counts RLIMIT_NPROC for the
//     tasks of that namespace alone: the launcher sets it to Policy.Tasks.
//
// Where neither is possible (no cgroup to create, a kernel before 5.14, no
// user namespace) the report says the bound is missing.

// taskGroup is a pids cgroup the host made for one plugin.
type taskGroup struct {
	dir   string // the cgroup's directory
	procs string // the file that lists its processes (v1 and v2 alike)
}

// newTaskGroup makes a pids cgroup beneath the host's own, named for the
// host and the launcher's PID, with at most max tasks, and moves pid (the
// launcher, which has started no plugin code yet) into it.
func newTaskGroup(pid, max int) (*taskGroup, error) {
	parent, err := hostPidsCgroup()
	if err != nil {
		return nil, err
	}
	sweepTaskGroups(parent)
	dir := filepath.Join(parent, fmt.Sprintf("airlock-%d-%d", os.Getpid(), pid))
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, fmt.Errorf("make pids cgroup: %w", err)
	}
	g := &taskGroup{dir: dir, procs: filepath.Join(dir, "cgroup.procs")}
	if err := os.WriteFile(filepath.Join(dir, "pids.max"), []byte(strconv.Itoa(max)), 0); err != nil {
		g.remove()
		return nil, fmt.Errorf("set pids.max: %w", err)
	}
	if err := os.WriteFile(g.procs, []byte(strconv.Itoa(pid)), 0); err != nil {
		g.remove()
		return nil, fmt.Errorf("move the launcher into its pids cgroup: %w", err)
	}
	return g, nil
}

// remove kills what is left in the group (descendants of a plugin that
// ran without a PID namespace may outlive it) and removes it, trying for
// up to a second while the killed tasks are reaped.
func (g *taskGroup) remove() {
	if g == nil {
		return
	}
	deadline := time.Now().Add(time.Second)
	for {
		err := os.Remove(g.dir)
		if err == nil || errors.Is(err, os.ErrNotExist) || !errors.Is(err, syscall.EBUSY) || time.Now().After(deadline) {
			return
		}
		g.killAll()
		time.Sleep(5 * time.Millisecond)
	}
}

// killAll sends SIGKILL to every process in the group.
func (g *taskGroup) killAll() {
	data, err := os.ReadFile(g.procs)
	if err != nil {
		return
	}
	for _, f := range strings.Fields(string(data)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 0 {
			unix.Kill(pid, unix.SIGKILL)
		}
	}
}

// hostPidsCgroup returns the directory of the host's own cgroup in the
// hierarchy that has the pids controller: a cgroup v1 "pids" hierarchy,
// or the v2 one where pids is among its controllers (enabled for its
// children if it is not yet: pids is a threaded controller, which the v2
// rule against processes in inner cgroups does not refuse).
func hostPidsCgroup() (string, error) {
	mounts, err := cgroupMounts()
	if err != nil {
		return "", err
	}
	paths, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", err
	}
	var v2 string
	for _, line := range strings.Split(strings.TrimSpace(string(paths)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[1] == "" {
			v2 = parts[2]
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			if dir := mounts.v1pids.path(parts[2]); c == "pids" && dir != "" {
				return dir, nil
			}
		}
	}
	dir := mounts.v2.path(v2)
	if dir == "" || v2 == "" {
		return "", errors.New("no pids cgroup controller is mounted where the host's cgroup is")
	}
	ctl, err := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
	if err != nil || !hasWord(string(ctl), "pids") {
		return "", fmt.Errorf("the pids controller is not available in the host's cgroup %s", v2)
	}
	sub, _ := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control"))
	if !hasWord(string(sub), "pids") {
		if err := os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte("+pids"), 0); err != nil {
			return "", fmt.Errorf("enable the pids controller below the host's cgroup %s: %w", v2, err)
		}
	}
	return dir, nil
}

// cgroupMountPoints are where the cgroup hierarchies that matter here
// are mounted.
type cgroupMountPoints struct {
	v1pids, v2 cgroupMount // a v1 hierarchy with the pids controller; the v2 one
}

// cgroupMount is one mount of a cgroup hierarchy: at dir, the hierarchy's
// cgroup root (a container may see its own cgroup as "/").
type cgroupMount struct{ dir, root string }

// path returns the directory of cgroup (as /proc/self/cgroup names it)
// under this mount, or "" if the mount does not show it.
func (m cgroupMount) path(cgroup string) string {
	if m.dir == "" {
		return ""
	}
	rel, ok := strings.CutPrefix(cgroup, m.root)
	if !ok || rel != "" && m.root != "/" && rel[0] != '/' {
		return ""
	}
	return filepath.Join(m.dir, rel)
}

func cgroupMounts() (cgroupMountPoints, error) {
	var m cgroupMountPoints
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return m, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTIONS
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		fields, tail := strings.Fields(pre), strings.Fields(post)
		if len(fields) < 5 || len(tail) < 3 {
			continue
		}
		mount := cgroupMount{dir: unescapeMountinfo(fields[4]), root: unescapeMountinfo(fields[3])}
		switch {
		case tail[0] == "cgroup2" && m.v2.dir == "":
			m.v2 = mount
		case tail[0] == "cgroup" && m.v1pids.dir == "" && hasWord(strings.ReplaceAll(tail[2], ",", " "), "pids"):
			m.v1pids = mount
		}
	}
	return m, sc.Err()
}

// sweepTaskGroups removes the groups left behind by hosts that died
// before removing them. Removing a cgroup that still holds a task fails,
// so a group in use is never removed.
func sweepTaskGroups(parent string) {
	entries, err := os.ReadDir(parent)
	if err != nil {
		return
	}
	for _, e := range entries {
		var host, pid int
		if !e.IsDir() || !strings.HasPrefix(e.Name(), "airlock-") {
			continue
		}
		if n, _ := fmt.Sscanf(e.Name(), "airlock-%d-%d", &host, &pid); n != 2 || host == os.Getpid() {
			continue
		}
		if unix.Kill(host, 0) == unix.ESRCH {
			os.Remove(filepath.Join(parent, e.Name()))
		}
	}
}

// unescapeMountinfo undoes mountinfo's octal escapes ("\040" for a
// space).
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// hasWord reports whether w is one of the space-separated words of s.
func hasWord(s, w string) bool { return slices.Contains(strings.Fields(s), w) }

// perNamespaceNproc reports whether the kernel counts RLIMIT_NPROC per
// user namespace (Linux 5.14 and later: "ucounts").
func perNamespaceNproc() bool {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return false
	}
	return kernelAtLeast(unix.ByteSliceToString(u.Release[:]), 5, 14)
}

// kernelAtLeast reports whether a kernel release ("6.18.44-foo") is at
// least major.minor.
func kernelAtLeast(release string, major, minor int) bool {
	parts := strings.SplitN(release, ".", 3)
	if len(parts) < 2 {
		return false
	}
	ma, err1 := strconv.Atoi(parts[0])
	mi, err2 := strconv.Atoi(strings.TrimRightFunc(parts[1], func(r rune) bool { return r < '0' || r > '9' }))
	if err1 != nil || err2 != nil {
		return false
	}
	return ma > major || ma == major && mi >= minor
}

// taskBound decides, in the launcher, how the plugin's tasks are bounded:
// it returns the RLIMIT_NPROC to set (0: none) and reports the bound.
func taskBound(req request, rep *Report) (nproc int) {
	p := req.Policy
	nproc = p.Processes
	if p.Tasks <= 0 {
		return nproc
	}
	switch {
	case req.TaskGroup != "":
		rep.Enforced = append(rep.Enforced, fmt.Sprintf("tasks<=%d (pids cgroup)", p.Tasks))
	case req.Namespaces&unix.CLONE_NEWUSER != 0 && perNamespaceNproc():
		if nproc <= 0 || p.Tasks < nproc {
			nproc = p.Tasks
		}
		rep.Enforced = append(rep.Enforced, fmt.Sprintf("tasks<=%d (RLIMIT_NPROC in the plugin's user namespace)", nproc))
	default:
		rep.Missing = append(rep.Missing, "a bound on the plugin's processes and threads ("+taskBoundMissing(req)+")")
	}
	return nproc
}

// taskBoundMissing says why neither bound could be had.
func taskBoundMissing(req request) string {
	switch {
	case req.TaskGroupError != "":
		return "no pids cgroup: " + req.TaskGroupError
	case req.Namespaces&unix.CLONE_NEWUSER == 0:
		return "no user namespace of its own, and RLIMIT_NPROC would count every process of the user"
	}
	return "the kernel, before 5.14, counts RLIMIT_NPROC for every process of the user"
}

// wantsTaskGroup reports whether the host makes a pids cgroup for a
// plugin with policy p: only root may.
func wantsTaskGroup(p Policy) bool { return p.Tasks > 0 && os.Geteuid() == 0 }
