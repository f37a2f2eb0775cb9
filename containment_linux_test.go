package airlock_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/airlock-go/airlock"
)

// The containment suite: one case per class of escape an attack run found
// (docs/SECURITY.md, "Containment"), each run three ways:
//
//   - "namespaces": the whole sandbox, as a host gets it by default;
//   - "filter-only": without the namespace layer (as on a kernel that
//     refuses namespaces), so that the system call filter's own checks are
//     what stops the attack;
//   - "off": the sandbox turned off, the control case: the attack works,
//     which shows that the refusals above are the sandbox's doing. A few
//     attacks have no control case, because working they would harm the
//     machine running the tests (renicing the user's every process,
//     renaming the host); the sandboxed runs check that nothing changed.
//
// The attacks act on a victim: a process of the same user that the test
// starts, never the test itself.

type sandboxMode struct {
	name       string
	namespaces bool
	off        bool
}

var sandboxModes = []sandboxMode{
	{name: "namespaces", namespaces: true},
	{name: "filter-only"},
	{name: "off", off: true},
}

// escapeEnv is what one case works with.
type escapeEnv struct {
	t        *testing.T
	mode     sandboxMode
	victim   int    // a process of the same user
	nice     int    // the victim's and the test's nice value before any attack
	home     string // stands for the user's home: readable by the plugin
	secret   string // a file in home
	writable string // the plugin's write grant
	sock     string // a unix socket the test listens on
	mq       string // a POSIX message queue's name
	dgram    string // a unix datagram socket the test listens on
	reached  chan string
}

type escapeCase struct {
	name   string
	attack string
	grants []string
	// rootOnly cases are refused by the kernel itself for other users,
	// so the control would show nothing.
	rootOnly  bool
	noControl bool // see above
	limits    airlock.Limits
	input     func(e *escapeEnv) map[string]any
	// check gets the attack's result and the call's error.
	check func(e *escapeEnv, r attackResult, err error)
}

func TestContainment(t *testing.T) {
	// A manifest declares the paths it may be granted; each case works
	// in files of its own beneath these two.
	home, writable := t.TempDir(), t.TempDir()
	plugin := testPluginWith(t, nil, []string{"net", "unix", "fs.read:" + home, "fs.write:" + writable})
	for _, mode := range sandboxModes {
		for _, c := range escapeCases() {
			if mode.off && (c.noControl || c.rootOnly && os.Geteuid() != 0) {
				continue // no control for this case: see the suite's comment
			}
			t.Run(mode.name+"/"+c.name, func(t *testing.T) {
				runEscape(t, plugin, newEscapeEnv(t, mode, home, writable), c)
			})
		}
	}
}

func runEscape(t *testing.T, plugin string, e *escapeEnv, c escapeCase) {
	mode := e.mode
	h, _ := newHostWith(t, airlock.Config{Restart: airlock.RestartPolicy{Backoff: airlock.Duration(10 * time.Millisecond)}}, airlock.Options{})
	conf := airlock.PluginConfig{
		Path:       plugin,
		Grants:     append([]string{"log", "fs.read:" + e.home, "fs.write:" + e.writable}, c.grants...),
		Namespaces: &mode.namespaces,
		Limits:     c.limits,
	}
	if mode.off {
		conf.Sandbox = "off"
	}
	load(t, h, conf)
	input := map[string]any{"attack": c.attack, "pid": e.victim}
	if c.input != nil {
		for k, v := range c.input(e) {
			input[k] = v
		}
	}
	raw, err := h.Call(ctxT(t, 20*time.Second), "testplugin", "escape", input)
	var r attackResult
	if err == nil {
		if jerr := json.Unmarshal(raw, &r); jerr != nil {
			t.Fatal(jerr)
		}
	}
	c.check(e, r, err)
}

func newEscapeEnv(t *testing.T, mode sandboxMode, home, writable string) *escapeEnv {
	e := &escapeEnv{t: t, mode: mode, home: home, writable: writable, reached: make(chan string, 4)}
	e.secret = filepath.Join(home, fmt.Sprintf("id_ed25519-%d", time.Now().UnixNano()))
	if err := os.WriteFile(e.secret, []byte("PRIVATE KEY"), 0o600); err != nil {
		t.Fatal(err)
	}
	victim := exec.Command("sleep", "300")
	victim.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := victim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { victim.Process.Kill(); victim.Wait() })
	e.victim = victim.Process.Pid
	// The attacks renice to 19: compare with where the test started (CI,
	// or a developer's `nice go test`, need not run at 0).
	e.nice = niceOf(t, os.Getpid())
	// A short path: unix socket paths are limited to 108 bytes.
	e.sock = filepath.Join(os.TempDir(), fmt.Sprintf("airlock-%d-%d.sock", os.Getpid(), time.Now().UnixNano()))
	// The same socket by path and by abstract name.
	for _, addr := range []string{e.sock, "@" + filepath.Base(e.sock)} {
		ln, err := net.Listen("unix", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go e.accept(ln)
	}
	t.Cleanup(func() { os.Remove(e.sock) })
	e.dgram = e.sock + ".dgram"
	pc, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: e.dgram, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close(); os.Remove(e.dgram) })
	go e.receive(pc)
	return e
}

// receive reports each datagram pc gets.
func (e *escapeEnv) receive(pc net.PacketConn) {
	buf := make([]byte, 16)
	for {
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		e.reached <- string(buf[:n])
	}
}

// accept reports what each connection to ln sends.
func (e *escapeEnv) accept(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		buf := make([]byte, 16)
		n, _ := c.Read(buf)
		c.Close()
		e.reached <- string(buf[:n])
	}
}

// refused checks a sandboxed run: the attack got an error saying one of
// say (in this mode), and the call itself worked.
func (e *escapeEnv) refused(r attackResult, err error, say ...string) {
	e.t.Helper()
	if err != nil {
		e.t.Fatalf("call failed: %v", err)
	}
	if r.Error == "" || !containsAny(r.Error, say) {
		e.t.Errorf("attack got %+v; want it refused with one of %q", r, say)
	}
}

// worked checks a control run.
func (e *escapeEnv) worked(r attackResult, err error) {
	e.t.Helper()
	if err != nil || r.Error != "" {
		e.t.Errorf("control (sandbox off): attack got %+v, %v; want it to work", r, err)
	}
}

// killedForForeignABI checks that the plugin was killed by the ABI
// filter: one error, naming the plugin.
func (e *escapeEnv) killedForForeignABI(r attackResult, err error) {
	e.t.Helper()
	if !errors.Is(err, airlock.ErrPluginCrashed) || !strings.Contains(err.Error(), "bad system call") {
		e.t.Errorf("err = %v (result %+v); want the plugin killed by SIGSYS (bad system call)", err, r)
	}
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// How an attack on another process is refused.
const (
	// byFilter: the system call filter refuses the call whatever its
	// target, before the kernel looks the PID up (the PID namespace is a
	// second layer behind it).
	byFilter = iota
	// bySignalScope: with a PID namespace the victim does not exist for
	// the plugin; without one, Landlock's signal scope refuses.
	bySignalScope
)

// notNameable is what an attack on another process gets.
func (e *escapeEnv) notNameable(r attackResult, err error, how int) {
	e.t.Helper()
	if how == bySignalScope && e.mode.namespaces {
		e.refused(r, err, "no such process")
	} else {
		e.refused(r, err, "operation not permitted")
	}
}

// victimCheck runs an attack on the victim: refused and unchanged when
// sandboxed, changed in the control.
func victimCheck(how int, changed func(e *escapeEnv) bool) func(*escapeEnv, attackResult, error) {
	return func(e *escapeEnv, r attackResult, err error) {
		e.t.Helper()
		if e.mode.off {
			e.worked(r, err)
			if !changed(e) {
				e.t.Errorf("control: the victim is unchanged")
			}
			return
		}
		e.notNameable(r, err, how)
		if changed(e) {
			e.t.Errorf("the victim was changed")
		}
	}
}

// metadataCheck runs an attack on a file's metadata outside the write
// grants.
func metadataCheck(changed func(e *escapeEnv) bool) func(*escapeEnv, attackResult, error) {
	return func(e *escapeEnv, r attackResult, err error) {
		e.t.Helper()
		switch {
		case e.mode.off:
			e.worked(r, err)
		case e.mode.namespaces:
			e.refused(r, err, "read-only file system")
		default:
			e.refused(r, err, "operation not permitted")
		}
		if !e.mode.off && changed != nil && changed(e) {
			e.t.Errorf("the file was changed")
		}
	}
}

func escapeCases() []escapeCase {
	foreign := func(e *escapeEnv, r attackResult, err error) {
		e.t.Helper()
		if e.mode.off {
			if err != nil || r.Count < 0 {
				e.t.Errorf("control: %+v, %v; want the call to work", r, err)
			}
			return
		}
		e.killedForForeignABI(r, err)
	}
	pathIs := func(p func(e *escapeEnv) string) func(e *escapeEnv) map[string]any {
		return func(e *escapeEnv) map[string]any { return map[string]any{"path": p(e)} }
	}
	secret := pathIs(func(e *escapeEnv) string { return e.secret })
	modeOf := func(e *escapeEnv) os.FileMode {
		st, err := os.Stat(e.secret)
		if err != nil {
			e.t.Fatal(err)
		}
		return st.Mode().Perm()
	}
	return []escapeCase{
		// Class 1: foreign ABIs. x32's control gets the kernel's own
		// ENOSYS where the kernel lacks x32; the sandbox kills instead.
		{name: "i386 socket", attack: "i386-socket", check: foreign},
		{name: "i386 fork", attack: "i386-fork", check: foreign},
		{name: "i386 keyctl", attack: "i386-keyctl", check: foreign},
		{name: "x32 socket", attack: "x32-socket", check: func(e *escapeEnv, r attackResult, err error) {
			if e.mode.off {
				if err != nil {
					e.t.Errorf("control: %v", err)
				}
				return
			}
			e.killedForForeignABI(r, err)
		}},

		// Class 2: other processes, without a signal.
		{name: "prlimit on another process", attack: "prlimit", check: victimCheck(byFilter, func(e *escapeEnv) bool {
			var lim unix.Rlimit
			if err := unix.Prlimit(e.victim, unix.RLIMIT_CPU, nil, &lim); err != nil {
				e.t.Fatal(err)
			}
			return lim.Max == 1
		})},
		{name: "setpriority on another process", attack: "setpriority", check: victimCheck(byFilter, func(e *escapeEnv) bool {
			return niceOf(e.t, e.victim) != e.nice
		})},
		{name: "setpriority on another process group", attack: "setpriority-group", check: victimCheck(byFilter, func(e *escapeEnv) bool {
			return niceOf(e.t, e.victim) != e.nice
		})},
		{name: "setpriority on the whole user", attack: "setpriority-user", noControl: true, check: func(e *escapeEnv, r attackResult, err error) {
			e.refused(r, err, "operation not permitted", "permission denied")
			if niceOf(e.t, e.victim) != e.nice || niceOf(e.t, os.Getpid()) != e.nice {
				e.t.Errorf("the victim or the test was reniced")
			}
		}},
		{name: "sched_setaffinity on another process", attack: "sched-setaffinity", check: victimCheck(byFilter, func(e *escapeEnv) bool {
			var set unix.CPUSet
			if err := unix.SchedGetaffinity(e.victim, &set); err != nil {
				e.t.Fatal(err)
			}
			return set.Count() == 1
		})},
		{name: "sched_setscheduler on another process", attack: "sched-setscheduler", check: victimCheck(byFilter, func(e *escapeEnv) bool {
			policy, _, _ := unix.Syscall(unix.SYS_SCHED_GETSCHEDULER, uintptr(e.victim), 0, 0)
			return policy != 0
		})},
		{name: "ioprio_set on another process", attack: "ioprio", check: victimCheck(byFilter, func(e *escapeEnv) bool {
			return ioprioOf(e.victim) != ioprioOf(os.Getpid())
		})},
		{name: "ioprio_set on the whole user", attack: "ioprio-user", noControl: true, check: func(e *escapeEnv, r attackResult, err error) {
			before := ioprioOf(os.Getpid())
			e.refused(r, err, "operation not permitted")
			if ioprioOf(os.Getpid()) != before {
				e.t.Errorf("the test's I/O priority was changed")
			}
		}},
		{name: "kill another process", attack: "kill", check: victimCheck(bySignalScope, func(e *escapeEnv) bool {
			return victimGone(e)
		})},
		{name: "kill another process through a pidfd", attack: "pidfd-kill", check: victimCheck(bySignalScope, func(e *escapeEnv) bool {
			return victimGone(e)
		})},
		{name: "oom_score_adj of another process", attack: "oom-score", check: func(e *escapeEnv, r attackResult, err error) {
			adj, _ := os.ReadFile(fmt.Sprintf("/proc/%d/oom_score_adj", e.victim))
			changed := strings.TrimSpace(string(adj)) == "1000"
			if e.mode.off {
				e.worked(r, err)
				if !changed {
					e.t.Error("control: unchanged")
				}
				return
			}
			// Its own /proc in a namespace has no such process; without
			// one, Landlock refuses the path.
			e.refused(r, err, "no such file or directory", "permission denied")
			if changed {
				e.t.Error("the victim's oom_score_adj was changed")
			}
		}},

		// Class 4: metadata outside the write grants. The plugin may read
		// home; it may not change what is there.
		{name: "chmod of a readable file", attack: "chmod", input: secret, check: metadataCheck(func(e *escapeEnv) bool {
			return modeOf(e) != 0o600
		})},
		{name: "chown of a readable file", attack: "chown", input: secret, check: metadataCheck(nil)},
		{name: "setxattr of a readable file", attack: "setxattr", input: secret, check: metadataCheck(func(e *escapeEnv) bool {
			n, _ := unix.Getxattr(e.secret, "user.airlock", make([]byte, 64))
			return n > 0
		})},
		// Newer than the filter library's table of names (Linux 6.17).
		{name: "file attributes through a system call the filter cannot name", attack: "file-setattr", input: secret,
			check: func(e *escapeEnv, r attackResult, err error) {
				if !kernelAtLeast(6, 17) {
					e.t.Skip("file_setattr is Linux 6.17's")
				}
				switch {
				case e.mode.off:
					e.worked(r, err)
				case e.mode.namespaces: // the read-only mounts hold too
					e.refused(r, err, "function not implemented", "read-only file system")
				default:
					e.refused(r, err, "function not implemented")
				}
			}},
		{name: "hard link of a readable file into the write grant, then chmod", attack: "link-then-chmod",
			input: func(e *escapeEnv) map[string]any {
				return map[string]any{"path": e.secret, "target": filepath.Join(e.writable, fmt.Sprintf("link-%d", time.Now().UnixNano()))}
			},
			check: func(e *escapeEnv, r attackResult, err error) {
				switch {
				case e.mode.off:
					e.worked(r, err)
				case e.mode.namespaces:
					// The write grant is a mount of its own: no link
					// crosses into it.
					e.refused(r, err, "invalid cross-device link")
				default:
					// Landlock refuses links from a directory without
					// the refer right.
					e.refused(r, err, "invalid cross-device link", "permission denied")
				}
				if !e.mode.off && modeOf(e) != 0o600 {
					e.t.Errorf("the file's mode was changed through a link")
				}
			}},
		{name: "utimes of a readable file", attack: "utimes", input: secret, check: metadataCheck(func(e *escapeEnv) bool {
			st, _ := os.Stat(e.secret)
			return st.ModTime().Unix() == 1
		})},
		{name: "chmod of the plugin's own directory", attack: "chmod", input: func(e *escapeEnv) map[string]any { return map[string]any{"path": "."} },
			check: metadataCheck(nil)},
		{name: "chmod inside a write grant", attack: "chmod", input: pathIs(func(e *escapeEnv) string {
			p := filepath.Join(e.writable, fmt.Sprintf("mine-%d", time.Now().UnixNano()))
			os.WriteFile(p, nil, 0o600)
			return p
		}), check: func(e *escapeEnv, r attackResult, err error) {
			// Allowed where the mount layer can tell grants apart; the
			// filter alone cannot, and refuses all metadata changes.
			if e.mode.namespaces || e.mode.off {
				e.worked(r, err)
			} else {
				e.refused(r, err, "operation not permitted")
			}
		}},
		{name: "device node inside a write grant", attack: "mknod-char", rootOnly: true,
			input: pathIs(func(e *escapeEnv) string {
				return filepath.Join(e.writable, fmt.Sprintf("kmsg-%d", time.Now().UnixNano()))
			}),
			check: func(e *escapeEnv, r attackResult, err error) {
				if e.mode.off {
					e.worked(r, err)
					return
				}
				e.refused(r, err, "operation not permitted")
			}},
		{name: "fifo inside a write grant", attack: "mkfifo",
			input: pathIs(func(e *escapeEnv) string {
				return filepath.Join(e.writable, fmt.Sprintf("fifo-%d", time.Now().UnixNano()))
			}),
			check: func(e *escapeEnv, r attackResult, err error) { e.worked(r, err) }},

		// Class 5: unix sockets need their own grant; net is not enough.
		{name: "unix socket by path with the net grant", attack: "unix-connect", grants: []string{"net"},
			input: func(e *escapeEnv) map[string]any { return map[string]any{"path": e.sock} }, check: unixCheck(false)},
		{name: "unix socket by path with the unix grant", attack: "unix-connect", grants: []string{"unix"},
			input: func(e *escapeEnv) map[string]any { return map[string]any{"path": e.sock} }, check: unixCheck(true)},
		{name: "abstract unix socket with the unix grant", attack: "unix-connect", grants: []string{"unix"},
			input: func(e *escapeEnv) map[string]any { return map[string]any{"path": "@" + filepath.Base(e.sock)} },
			check: func(e *escapeEnv, r attackResult, err error) {
				// Abstract sockets belong to the network namespace, and
				// Landlock scopes them to the plugin's domain.
				if e.mode.off {
					e.worked(r, err)
					<-e.reached
					return
				}
				e.refused(r, err, "operation not permitted", "connection refused")
				select {
				case got := <-e.reached:
					e.t.Errorf("the listener was reached: %q", got)
				default:
				}
			}},
		{name: "unix socket by path with no grant", attack: "unix-connect",
			input: func(e *escapeEnv) map[string]any { return map[string]any{"path": e.sock} }, check: unixCheck(false)},
		// socketpair makes unix sockets without the grant; a datagram one
		// can still send to any datagram socket by path (syslog's
		// /dev/log, systemd's notify socket).
		{name: "unix datagram by path from a socketpair with no grant", attack: "unix-dgram-sendto",
			input: func(e *escapeEnv) map[string]any { return map[string]any{"path": e.dgram} }, check: unixCheck(false)},
		{name: "unix datagram by path from a socketpair with the net grant", attack: "unix-dgram-sendto", grants: []string{"net"},
			input: func(e *escapeEnv) map[string]any { return map[string]any{"path": e.dgram} }, check: unixCheck(false)},
		{name: "unix datagram by path with the unix grant", attack: "unix-dgram-sendto", grants: []string{"unix"},
			input: func(e *escapeEnv) map[string]any { return map[string]any{"path": e.dgram} }, check: unixCheck(true)},

		// Class 9: a thread bomb, which needs no spawn grant. The attack
		// tries 400 threads that run no Go code under max_tasks = 64.
		{name: "thread bomb without spawn", attack: "threadbomb", limits: airlock.Limits{MaxTasks: 64}, check: threadBombCheck},
		// The pids cgroup a root host's plugin is in: lifting its bound
		// or moving out of it. No control: without the sandbox there is
		// no group, and the writes would change the host's own cgroup.
		{name: "leaving the pids cgroup", attack: "leave-pids-cgroup", rootOnly: true, noControl: true, check: func(e *escapeEnv, r attackResult, err error) {
			if os.Geteuid() != 0 {
				return // no group: only root hosts make them
			}
			e.refused(r, err, "read-only file system", "permission denied")
			if r.Count != 0 || !strings.Contains(r.Data, "/airlock-") {
				e.t.Errorf("%d writes worked; the plugin's cgroups afterwards:\n%s", r.Count, r.Data)
			}
		}},

		// Class 8: memory beyond max_memory_bytes (64 MiB here; each
		// attack touches 192 MiB) outside the data segment RLIMIT_DATA
		// caps: shared mappings, memfds, System V shared memory.
		{name: "shared anonymous memory beyond the cap", attack: "shared-anon-memory", limits: capped, check: memoryCheck(192 << 20)},
		{name: "memfd memory beyond the cap", attack: "memfd-memory", limits: capped, check: memoryCheck(192 << 20)},
		{name: "System V shared memory beyond the cap", attack: "sysv-shm-memory", limits: capped, check: memoryCheck(192 << 20)},
		// A POSIX message queue made in the host's IPC namespace outlives
		// the plugin (a kernel object, up to RLIMIT_MSGQUEUE's 800 KiB).
		{name: "a message queue outliving the plugin", attack: "mq-create", input: mqName, check: mqCheck},
		// The user's inotify instances (128 by default), which a plugin
		// with no grant held all of. No control: the host user's (root's
		// on CI) would all be taken while it runs.
		{name: "the user's inotify instances", attack: "inotify-instances", noControl: true, check: inotifyCheck},
		// Kernel memory in pipes: 48 MiB in pipes grown to 1 MiB each.
		{name: "pipes grown beyond their default size under the cap", attack: "pipe-memory", limits: capped, check: func(e *escapeEnv, r attackResult, err error) {
			memoryCheck(48<<20)(e, r, err)
			if !e.mode.off && r.Count != 0 {
				e.t.Errorf("%d bytes held in grown pipes", r.Count)
			}
		}},
		// Without an IPC namespace, the host's System V objects are the
		// plugin's to attach by id, if the user may.
		{name: "the host's System V shared memory", attack: "sysv-shm-read", input: hostShm, check: func(e *escapeEnv, r attackResult, err error) {
			if e.mode.off {
				e.worked(r, err)
				if r.Data != "HOST SECRET" {
					e.t.Errorf("control: read %q from the host's segment", r.Data)
				}
				return
			}
			e.refused(r, err, "operation not permitted", "invalid argument")
		}},

		// Class 6: what a plugin keeps of a root host's privileges.
		{name: "capabilities", attack: "capabilities", rootOnly: true, check: func(e *escapeEnv, r attackResult, err error) {
			if err != nil {
				e.t.Fatal(err)
			}
			held := heldCapabilities(r.Data)
			if e.mode.off && len(held) == 0 {
				e.t.Errorf("control: a root plugin without sandbox holds no capability:\n%s", r.Data)
			}
			if !e.mode.off && len(held) > 0 {
				e.t.Errorf("the plugin holds capabilities: %v", held)
			}
		}},
		{name: "the machine's console through its device node", attack: "open-device", rootOnly: true,
			input: pathIs(func(e *escapeEnv) string { return consoleDevice(e.t) }),
			check: func(e *escapeEnv, r attackResult, err error) {
				if e.mode.off {
					e.worked(r, err)
					return
				}
				e.refused(r, err, "permission denied")
			}},
		{name: "a kernel setting in /proc/sys", attack: "write-back", rootOnly: true,
			input: pathIs(func(*escapeEnv) string { return "/proc/sys/kernel/pid_max" }), check: kernelSettingCheck},
		{name: "a kernel setting in /sys", attack: "write-back", rootOnly: true,
			input: pathIs(func(e *escapeEnv) string { return sysSetting(e.t) }), check: kernelSettingCheck},
		{name: "sethostname", attack: "sethostname", noControl: true, check: func(e *escapeEnv, r attackResult, err error) {
			e.refused(r, err, "operation not permitted")
		}},
		{name: "raw socket with the net grant", attack: "raw-socket", grants: []string{"net"}, rootOnly: true, check: func(e *escapeEnv, r attackResult, err error) {
			if e.mode.off {
				e.worked(r, err)
				return
			}
			e.refused(r, err, "operation not permitted")
		}},
	}
}

// capped is the memory cap of the class 8 cases.
var capped = airlock.Limits{MaxMemoryBytes: 64 << 20}

// memoryCheck expects memory outside the cap refused, and with the
// sandbox off, want bytes of it held.
func memoryCheck(want int) func(*escapeEnv, attackResult, error) {
	return func(e *escapeEnv, r attackResult, err error) {
		e.t.Helper()
		if e.mode.off {
			e.worked(r, err)
			if r.Count < want {
				e.t.Errorf("control: held %d bytes; want %d MiB", r.Count, want>>20)
			}
			return
		}
		e.refused(r, err, "operation not permitted")
	}
}

// hostShm makes a System V shared memory segment of the test's, holding a
// secret, and names it to the plugin.
func hostShm(e *escapeEnv) map[string]any {
	id, err := unix.SysvShmGet(unix.IPC_PRIVATE, 4096, unix.IPC_CREAT|0o600)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { unix.SysvShmCtl(id, unix.IPC_RMID, nil) })
	b, err := unix.SysvShmAttach(id, 0, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	copy(b, "HOST SECRET")
	if err := unix.SysvShmDetach(b); err != nil {
		e.t.Fatal(err)
	}
	return map[string]any{"pid": id}
}

// unixCheck expects the socket reached when allowed (or with the sandbox
// off), and refused and never reached otherwise.
func unixCheck(allowed bool) func(*escapeEnv, attackResult, error) {
	return func(e *escapeEnv, r attackResult, err error) {
		e.t.Helper()
		if allowed || e.mode.off {
			e.worked(r, err)
			select {
			case <-e.reached:
			case <-time.After(5 * time.Second):
				e.t.Error("the listener was not reached")
			}
			return
		}
		e.refused(r, err, "operation not permitted")
		select {
		case got := <-e.reached:
			e.t.Errorf("the listener was reached: %q", got)
		default:
		}
	}
}

// heldCapabilities lists the capability sets in /proc/PID/status lines
// that are not empty. The bounding set only limits what exec may grant;
// it counts for a root host, whose plugin must not regain root's
// capabilities, and not for an ordinary user, who cannot empty it.
func heldCapabilities(status string) []string {
	var held []string
	for _, line := range strings.Split(status, "\n") {
		name, value, ok := strings.Cut(line, ":")
		if !ok || name == "CapBnd" && os.Geteuid() != 0 {
			continue
		}
		if strings.Trim(strings.TrimSpace(value), "0") != "" {
			held = append(held, name+"="+strings.TrimSpace(value))
		}
	}
	return held
}

// A root host can run a plugin as another user; any other host is told
// it cannot.
func TestRunAs(t *testing.T) {
	dir := testPlugin(t)
	h, _ := newHost(t, airlock.Options{})
	conf := airlock.PluginConfig{Path: dir, RunAs: "nobody"}
	if os.Geteuid() != 0 {
		_, err := h.Load(ctxT(t, 10*time.Second), conf)
		if !errors.Is(err, airlock.ErrInvalidConfig) || !strings.Contains(err.Error(), "root") {
			t.Fatalf("run_as on a host not running as root: %v; want an error saying it needs root", err)
		}
		return
	}
	// The plugin's files must be readable by that user.
	for d := dir; d != "/"; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm()&0o005 != 0o005 {
			if err := os.Chmod(d, st.Mode()&(os.ModePerm|os.ModeSticky)|0o005); err != nil {
				t.Fatal(err)
			}
		}
	}
	load(t, h, conf)
	r, err := airlock.CallFunc[attackResult](ctxT(t, 10*time.Second), h, "testplugin", "escape", map[string]any{"attack": "capabilities"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Count != 65534 {
		t.Errorf("the plugin runs as uid %d; want nobody's, 65534", r.Count)
	}
	if held := heldCapabilities(r.Data); len(held) > 0 {
		t.Errorf("the plugin holds capabilities: %v", held)
	}
}

func niceOf(t *testing.T, pid int) int {
	t.Helper()
	prio, err := unix.Getpriority(unix.PRIO_PROCESS, pid)
	if err != nil {
		t.Fatal(err)
	}
	return 20 - prio // the raw call returns 20 - nice
}

func ioprioOf(pid int) uintptr {
	const whoProcess = 1
	v, _, _ := unix.Syscall(unix.SYS_IOPRIO_GET, whoProcess, uintptr(pid), 0)
	return v
}

// victimGone waits briefly for a killed victim to be reaped by the test's
// own Wait, which runs at cleanup; a signalled process is a zombie until
// then, so this looks at its state.
func victimGone(e *escapeEnv) bool {
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if !alive(e.victim) {
			return true
		}
		if !e.mode.off {
			return false // nothing was sent: no need to wait
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

// Class 3: every descendant of a plugin ends with it, even one that left
// its process group with setsid. With the namespace layer the plugin is
// its PID namespace's init, and the kernel kills what is left in the
// namespace when it ends; without it, setsid is refused, so the group
// kill reaches every descendant.
func TestDescendantsEndWithPlugin(t *testing.T) {
	plugin := testPlugin(t)
	for _, mode := range sandboxModes[:2] {
		t.Run(mode.name, func(t *testing.T) {
			h, _ := newHost(t, airlock.Options{})
			load(t, h, airlock.PluginConfig{Path: plugin, Grants: []string{"spawn"}, Namespaces: &mode.namespaces})
			ctx := ctxT(t, 20*time.Second)
			tag := uniqueTag(t)
			r, err := airlock.CallFunc[attackResult](ctx, h, "testplugin", "escape", map[string]any{"attack": "setsid-child", "tag": tag})
			if err != nil {
				t.Fatal(err)
			}
			if !mode.namespaces {
				if !strings.Contains(r.Error, "operation not permitted") || childAlive(0, tag) {
					t.Fatalf("setsid without a PID namespace: %+v; want it refused", r)
				}
				return
			}
			if r.Error != "" || !childAlive(0, tag) {
				t.Fatalf("the setsid child did not start: %+v", r)
			}
			if err := h.Unload(ctx, "testplugin"); err != nil {
				t.Fatal(err)
			}
			waitFor(t, func() bool { return !childAlive(0, tag) }, "the setsid child killed with the plugin")
		})
	}
}

// The control for the above: with the sandbox off, a setsid child
// survives the plugin, which is the escape the namespace layer closes.
func TestDescendantsEscapeWithoutSandbox(t *testing.T) {
	h, _ := newHost(t, airlock.Options{})
	load(t, h, airlock.PluginConfig{Path: testPlugin(t), Grants: []string{"spawn"}, Sandbox: "off"})
	ctx := ctxT(t, 20*time.Second)
	tag := uniqueTag(t)
	r, err := airlock.CallFunc[attackResult](ctx, h, "testplugin", "escape", map[string]any{"attack": "setsid-child", "tag": tag})
	if err != nil || r.Error != "" {
		t.Fatalf("%+v, %v", r, err)
	}
	defer killTagged(tag)
	if err := h.Unload(ctx, "testplugin"); err != nil {
		t.Fatal(err)
	}
	if !childAlive(0, tag) {
		t.Fatal("control: the setsid child died with the plugin even without the sandbox")
	}
}

// TestDescendantsEndWithHost kills a host (a copy of this test binary
// running TestHelperHost) with SIGKILL while its plugin has a setsid
// child: the plugin dies by its parent-death signal, and the child with
// the plugin's PID namespace.
func TestDescendantsEndWithHost(t *testing.T) {
	tag := uniqueTag(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHost$", "-test.v")
	cmd.Env = append(os.Environ(), "AIRLOCK_HELPER_HOST_PLUGIN="+testPlugin(t), "AIRLOCK_HELPER_HOST_TAG="+tag)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer killTagged(tag)
	buf := make([]byte, 4096)
	var seen strings.Builder
	for !strings.Contains(seen.String(), "helper host ready") {
		n, err := out.Read(buf)
		if err != nil {
			cmd.Process.Kill()
			t.Fatalf("helper host ended before it was ready: %v\n%s", err, seen.String())
		}
		seen.Write(buf[:n])
	}
	if !childAlive(0, tag) {
		t.Fatal("the setsid child is not running")
	}
	cmd.Process.Kill()
	cmd.Wait()
	waitFor(t, func() bool { return !childAlive(0, tag) }, "the setsid child killed after the host died")
}

// TestHelperHost is the host TestDescendantsEndWithHost kills; it does
// nothing in a normal run.
func TestHelperHost(t *testing.T) {
	dir := os.Getenv("AIRLOCK_HELPER_HOST_PLUGIN")
	if dir == "" {
		return
	}
	h, err := airlock.New(airlock.Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t, 20*time.Second)
	if _, err := h.Load(ctx, airlock.PluginConfig{Path: dir, Grants: []string{"spawn"}}); err != nil {
		t.Fatal(err)
	}
	r, err := airlock.CallFunc[attackResult](ctx, h, "testplugin", "escape", map[string]any{"attack": "setsid-child", "tag": os.Getenv("AIRLOCK_HELPER_HOST_TAG")})
	if err != nil || r.Error != "" {
		t.Fatalf("%+v, %v", r, err)
	}
	fmt.Println("helper host ready")
	select {} // until killed
}

// killTagged kills what a failed test may have left running.
func killTagged(tag string) {
	for _, pid := range taggedPIDs(tag) {
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

// A signed package run as another user: its fresh run directory is given
// to that user, whose RunDir the operator made traversable.
func TestRunAsPackage(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("run_as needs a host running as root; TestRunAs checks that others are refused")
	}
	acme := newPublisher(t, "acme")
	pkg := packAndSign(t, testPlugin(t), acme)
	runDir := filepath.Join(t.TempDir(), "run")
	if err := os.MkdirAll(runDir, 0o711); err != nil {
		t.Fatal(err)
	}
	for d := filepath.Dir(runDir); d != "/"; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm()&0o001 == 0 { // traversable, nothing more
			if err := os.Chmod(d, st.Mode()&(os.ModePerm|os.ModeSticky)|0o001); err != nil {
				t.Fatal(err)
			}
		}
	}
	h, _ := newHostWith(t, airlock.Config{Trust: airlock.Trust{Keys: []string{acme.pub}}}, airlock.Options{RunDir: runDir})
	load(t, h, airlock.PluginConfig{Package: pkg, RunAs: "nobody"})
	r, err := airlock.CallFunc[attackResult](ctxT(t, 10*time.Second), h, "testplugin", "escape", map[string]any{"attack": "capabilities"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Count != 65534 {
		t.Errorf("the packaged plugin runs as uid %d; want nobody's, 65534", r.Count)
	}
}

// threadBombCheck: where the plugin's tasks can be bounded, the bomb stops
// below the bound with EAGAIN; elsewhere (the control, and a host that is
// not root without a user namespace, whose report says the bound is
// missing) all 400 threads start.
func threadBombCheck(e *escapeEnv, r attackResult, err error) {
	e.t.Helper()
	if runtime.GOARCH != "amd64" {
		e.t.Skip("the thread bomb's clone is written for amd64")
	}
	if !tasksBounded(e.mode) {
		e.worked(r, err)
		if r.Count != 400 {
			e.t.Errorf("unbounded: %d threads started, want 400", r.Count)
		}
		return
	}
	// The bomb's threads hold the plugin's tasks: if its own Go runtime
	// needs a thread meanwhile, it cannot make one either, and the plugin
	// dies of it ("newosproc"). That is the bound holding too: one error,
	// naming the plugin; the host is untouched.
	if errors.Is(err, airlock.ErrPluginCrashed) && strings.Contains(err.Error(), "newosproc") {
		return
	}
	e.refused(r, err, "resource temporarily unavailable")
	if r.Count <= 0 || r.Count >= 64 {
		e.t.Errorf("%d threads started under max_tasks = 64", r.Count)
	}
}

// tasksBounded reports whether a plugin's tasks are bounded in mode: by a
// pids cgroup for a root host, by RLIMIT_NPROC in the plugin's own user
// namespace otherwise (Linux 5.14 or later).
func tasksBounded(mode sandboxMode) bool {
	if mode.off {
		return false
	}
	if os.Geteuid() == 0 {
		return true
	}
	return mode.namespaces && kernelAtLeast(5, 14)
}

// kernelAtLeast reports whether the running kernel is major.minor or
// later.
func kernelAtLeast(major, minor int) bool {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return false
	}
	var ma, mi int
	fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &ma, &mi)
	return ma > major || ma == major && mi >= minor
}

// inotifyCheck: in its own user namespace (a host that is not root) the
// plugin gets 16 instances; elsewhere inotify is refused. Either way the
// host can still make one while the plugin holds what it got.
func inotifyCheck(e *escapeEnv, r attackResult, err error) {
	e.t.Helper()
	if os.Geteuid() != 0 && e.mode.namespaces {
		if err != nil || r.Count != 16 || !strings.Contains(r.Error, "too many open files") {
			e.t.Errorf("attack got %+v, %v; want 16 instances, then too many open files", r, err)
		}
	} else {
		e.refused(r, err, "operation not permitted")
		if r.Count != 0 {
			e.t.Errorf("the plugin made %d inotify instances", r.Count)
		}
	}
	fd, ierr := unix.InotifyInit1(unix.IN_CLOEXEC)
	if ierr != nil {
		e.t.Errorf("the host cannot make an inotify instance while the plugin runs: %v", ierr)
		return
	}
	unix.Close(fd)
}

// mqName names a POSIX message queue for the attack, removed when the
// test ends.
func mqName(e *escapeEnv) map[string]any {
	name := fmt.Sprintf("airlock-escape-%d-%d", os.Getpid(), time.Now().UnixNano())
	e.t.Cleanup(func() { mqUnlink(name) })
	e.mq = name
	return map[string]any{"path": name}
}

// mqCheck: with an IPC namespace a queue would be the plugin's own (and
// Landlock refuses to make one anyway); without one, seccomp refuses
// mq_open. Only the control leaves the queue behind.
func mqCheck(e *escapeEnv, r attackResult, err error) {
	e.t.Helper()
	switch {
	case e.mode.off:
		e.worked(r, err)
	case e.mode.namespaces:
		if err != nil {
			e.t.Errorf("call failed: %v", err)
		}
	default:
		e.refused(r, err, "operation not permitted")
	}
	if left := mqUnlink(e.mq) == nil; left != e.mode.off {
		e.t.Errorf("a queue left in the host's namespace: %v, want %v", left, e.mode.off)
	}
}

// mqUnlink removes a POSIX message queue of the test's namespace.
func mqUnlink(name string) error {
	p, err := unix.BytePtrFromString(name)
	if err != nil {
		return err
	}
	if _, _, e := unix.Syscall(unix.SYS_MQ_UNLINK, uintptr(unsafe.Pointer(p)), 0, 0); e != 0 {
		return e
	}
	return nil
}

// kernelSettingCheck: a root plugin holds no capability, but the
// kernel's settings are root's files, and many are guarded by nothing
// else (pid_max set to 300 would keep the host from starting a process);
// the attack writes one back to its own value.
func kernelSettingCheck(e *escapeEnv, r attackResult, err error) {
	e.t.Helper()
	if e.mode.off {
		e.worked(r, err)
		return
	}
	e.refused(r, err, "read-only file system", "permission denied")
}

// sysSetting names a setting in /sys that root may write and that reads
// as it is written.
func sysSetting(t *testing.T) string {
	return firstExisting(t, "a /sys setting", "/sys/kernel/mm/ksm/pages_to_scan", "/sys/module/printk/parameters/time")
}

// consoleDevice names a device node only root may open, and which a root
// plugin must not: the machine's first virtual console, where it would
// read what is typed at the console (a device cgroup may keep root from
// the disks, as on the VMs CI runs on, but not from the consoles).
func consoleDevice(t *testing.T) string {
	return firstExisting(t, "a console device", "/dev/tty1", "/dev/console")
}

// firstExisting returns the first of paths that exists, or skips the
// test: the machine has no what for the attack to use.
func firstExisting(t *testing.T, what string, paths ...string) string {
	t.Helper()
	for _, path := range paths {
		if fileExists(path) {
			return path
		}
	}
	t.Skipf("no %s here (%s)", what, strings.Join(paths, ", "))
	return ""
}
