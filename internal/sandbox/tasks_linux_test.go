package sandbox

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestKernelAtLeast(t *testing.T) {
	cases := []struct {
		release string
		want    bool
	}{
		{"5.14.0", true},
		{"5.14", true},
		{"5.13.19-generic", false},
		{"6.1.0-18-amd64", true},
		{"4.19.0", false},
		{"5.15+debian", true},
		{"5.4-rc1", false},
		{"banana", false},
		{"", false},
	}
	for _, c := range cases {
		if got := kernelAtLeast(c.release, 5, 14); got != c.want {
			t.Errorf("kernelAtLeast(%q, 5, 14) = %v, want %v", c.release, got, c.want)
		}
	}
}

func TestCgroupMountPath(t *testing.T) {
	cases := []struct {
		mount  cgroupMount
		cgroup string
		want   string
	}{
		{cgroupMount{"/sys/fs/cgroup/pids", "/"}, "/", "/sys/fs/cgroup/pids"},
		{cgroupMount{"/sys/fs/cgroup/pids", "/"}, "/user.slice/x", "/sys/fs/cgroup/pids/user.slice/x"},
		// A container whose hierarchy is mounted from its own cgroup.
		{cgroupMount{"/sys/fs/cgroup", "/docker/abc"}, "/docker/abc", "/sys/fs/cgroup"},
		{cgroupMount{"/sys/fs/cgroup", "/docker/abc"}, "/docker/abc/x", "/sys/fs/cgroup/x"},
		{cgroupMount{"/sys/fs/cgroup", "/docker/abc"}, "/docker/abcdef", ""},
		{cgroupMount{"/sys/fs/cgroup", "/docker/abc"}, "/other", ""},
		{cgroupMount{}, "/", ""},
	}
	for _, c := range cases {
		if got := c.mount.path(c.cgroup); got != c.want {
			t.Errorf("%+v.path(%q) = %q, want %q", c.mount, c.cgroup, got, c.want)
		}
	}
	if got := unescapeMountinfo(`/mnt/with\040space`); got != "/mnt/with space" {
		t.Errorf("unescapeMountinfo = %q", got)
	}
}

// What the launcher reports of the task bound, and the RLIMIT_NPROC it
// sets, for each way the host started it.
func TestTaskBound(t *testing.T) {
	perNS := perNamespaceNproc()
	userns := uintptr(unix.CLONE_NEWUSER | unix.CLONE_NEWPID)
	type taskBoundCase struct {
		name      string
		req       request
		wantNproc int
		enforced  string // a substring of the one report line, "" for none
		missing   string
	}
	cases := []taskBoundCase{
		{"no bound asked", request{Policy: Policy{Processes: 7}}, 7, "", ""},
		{"pids cgroup", request{Policy: Policy{Tasks: 64}, TaskGroup: "/sys/fs/cgroup/pids/airlock-1-2"}, 0, "tasks<=64 (pids cgroup)", ""},
		{"pids cgroup keeps max_processes", request{Policy: Policy{Tasks: 64, Processes: 9}, TaskGroup: "/g"}, 9, "tasks<=64 (pids cgroup)", ""},
		{"no cgroup, no user namespace", request{Policy: Policy{Tasks: 64}, TaskGroupError: "read-only file system"}, 0, "", "no pids cgroup: read-only file system"},
		{"no user namespace", request{Policy: Policy{Tasks: 64}, Namespaces: unix.CLONE_NEWPID}, 0, "", "no user namespace of its own"},
	}
	if perNS { // Linux 5.14 and later
		cases = append(cases,
			taskBoundCase{"user namespace", request{Policy: Policy{Tasks: 64}, Namespaces: userns}, 64, "tasks<=64 (RLIMIT_NPROC in the plugin's user namespace)", ""},
			taskBoundCase{"user namespace, lower max_processes", request{Policy: Policy{Tasks: 64, Processes: 9}, Namespaces: userns}, 9, "tasks<=9 (RLIMIT_NPROC", ""})
	} else {
		cases = append(cases, taskBoundCase{"user namespace, kernel before 5.14", request{Policy: Policy{Tasks: 64}, Namespaces: userns}, 0, "", "before 5.14"})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var rep Report
			if got := taskBound(c.req, &rep); got != c.wantNproc {
				t.Errorf("RLIMIT_NPROC = %d, want %d", got, c.wantNproc)
			}
			check := func(what string, lines []string, want string) {
				if want == "" {
					if len(lines) > 0 {
						t.Errorf("%s = %q, want none", what, lines)
					}
					return
				}
				if len(lines) != 1 || !strings.Contains(lines[0], want) {
					t.Errorf("%s = %q, want one line with %q", what, lines, want)
				}
			}
			check("enforced", rep.Enforced, c.enforced)
			check("missing", rep.Missing, c.missing)
		})
	}
}

// A root host's pids cgroup: a process in it is counted against its
// pids.max, and removing the group kills what is left in it and removes
// it. Only root may make cgroups; for other users the bound is the user
// namespace's RLIMIT_NPROC, which TestTaskBound and the host's
// containment suite (the thread bomb) cover.
func TestTaskGroup(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only root makes pids cgroups")
	}
	sleeper := exec.Command("sleep", "60")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- sleeper.Wait() }()
	t.Cleanup(func() { sleeper.Process.Kill() })
	g, err := newTaskGroup(sleeper.Process.Pid, 5)
	if err != nil {
		t.Fatalf("newTaskGroup: %v", err)
	}
	if max, _ := os.ReadFile(filepath.Join(g.dir, "pids.max")); strings.TrimSpace(string(max)) != "5" {
		t.Errorf("pids.max = %q, want 5", max)
	}
	self, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", sleeper.Process.Pid))
	if !strings.Contains(string(self), "/"+filepath.Base(g.dir)+"\n") {
		t.Errorf("the process is not in %s:\n%s", g.dir, self)
	}
	g.remove()
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		t.Fatal("the process left in the group was not killed")
	}
	if _, err := os.Stat(g.dir); !os.IsNotExist(err) {
		t.Errorf("the group %s is still there: %v", g.dir, err)
	}
}

// Groups left behind by hosts that died are removed by the next host;
// those of a live host are not.
func TestSweepTaskGroups(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only root makes pids cgroups")
	}
	parent, err := hostPidsCgroup()
	if err != nil {
		t.Fatal(err)
	}
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(parent, fmt.Sprintf("airlock-%d-1", dead.Process.Pid))
	live := filepath.Join(parent, fmt.Sprintf("airlock-%d-1", os.Getppid()))
	for _, dir := range []string{stale, live} {
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { os.Remove(stale); os.Remove(live) })
	sweepTaskGroups(parent)
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("the dead host's group is still there: %v", err)
	}
	if _, err := os.Stat(live); err != nil {
		t.Errorf("the live host's group was removed: %v", err)
	}
}

// Probe, which confines a program that exits at once, leaves no group
// behind and reports the bound.
func TestProbeTaskBound(t *testing.T) {
	rep, err := Probe(Policy{ReadOnly: DefaultReadOnly(), Tasks: 32}, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rep.String(), "tasks<=32") && !strings.Contains(rep.String(), "a bound on the plugin's processes and threads") {
		t.Errorf("the report says nothing of the task bound: %s", rep)
	}
	if os.Geteuid() == 0 {
		parent, err := hostPidsCgroup()
		if err != nil {
			t.Fatal(err)
		}
		left, _ := filepath.Glob(filepath.Join(parent, fmt.Sprintf("airlock-%d-*", os.Getpid())))
		if len(left) > 0 {
			t.Errorf("groups left behind: %q", left)
		}
	}
}
