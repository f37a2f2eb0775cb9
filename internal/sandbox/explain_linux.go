package sandbox

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"
	"unsafe"

	seccomp "github.com/elastic/go-seccomp-bpf"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Explain mode: why was my plugin refused?
//
// With Policy.Explain, the launcher loads the policy filter with one
// change: a call it refuses with EPERM is sent to the host instead
// (SECCOMP_RET_USER_NOTIF), and so is every call in pathCalls. The
// filter's listener reaches the host over a socketpair, the launcher's
// third extra file (SCM_RIGHTS), before the launcher executes the plugin.
// The host's loop (explainer below) answers each notification:
//
//   - a refused call: with EPERM, exactly what the normal policy returns,
//     and a log line naming the rule and the grant that would allow it;
//   - a call in pathCalls: it reads the path from the plugin's memory,
//     checks it against the plugin's Landlock rules, logs a refusal, and
//     lets the call go on (SECCOMP_USER_NOTIF_FLAG_CONTINUE) so that
//     Landlock decides. The plugin may change the path after the host read
//     it; that only makes its own log line wrong, since Landlock, not the
//     host, enforces.
//
// No call in pathCalls is refused by the policy filter (loadExplainFilter
// checks it), so CONTINUE never lets a refused call through.

// explainFD is where the launcher finds its end of the socketpair.
const explainFD = 5

// pathCalls are the calls on paths whose Landlock refusal the host
// explains: opening, executing, and making or removing names.
var pathCalls = []string{
	"open", "openat", "openat2", "creat", "execve", "execveat", "truncate",
	"mkdir", "mkdirat", "rmdir", "unlink", "unlinkat",
	"rename", "renameat", "renameat2", "link", "linkat", "symlink", "symlinkat",
}

// explainGroups turns the policy filter's groups into explain mode's: an
// EPERM becomes a notification; other actions (clone3's ENOSYS, which
// runtimes expect and fall back from) stay. With paths, the calls in
// pathCalls are notified too. Threat: a path call that the policy
// refuses would be let through by the host's CONTINUE, so none may be.
//
// The path calls come first. go-seccomp-bpf loads the system call number
// once: after a group's argument checks fail, the accumulator holds an
// argument, which later groups compare as if it were the number
// (socket(AF_INET, ...) matched open, number 2, when the path calls came
// last). First, they see the number; the groups after them run as they
// do without explain mode.
func explainGroups(groups []seccomp.SyscallGroup, paths bool) ([]seccomp.SyscallGroup, error) {
	out := make([]seccomp.SyscallGroup, 0, len(groups)+1)
	if paths {
		out = append(out, seccomp.SyscallGroup{Action: seccomp.ActionUserNotify, Names: existing(pathCalls)})
	}
	for _, g := range groups {
		for _, name := range groupNames(g) {
			if slices.Contains(pathCalls, name) {
				return nil, fmt.Errorf("%s is refused by the policy and would be let through as a path call", name)
			}
		}
		if g.Action == eperm {
			g.Action = seccomp.ActionUserNotify
		}
		out = append(out, g)
	}
	return out, nil
}

func groupNames(g seccomp.SyscallGroup) []string {
	names := slices.Clone(g.Names)
	for _, n := range g.NamesWithCondtions {
		names = append(names, n.Name)
	}
	return names
}

// landlockApplied reports whether the launcher applied Landlock's file
// system rules: without them there is no path refusal to explain.
func landlockApplied(rep *Report) bool {
	return slices.ContainsFunc(rep.Enforced, func(s string) bool { return strings.HasPrefix(s, "landlock-fs") })
}

// loadExplainFilter, in the launcher, loads the policy filter in explain
// mode with a listener and sends the listener to the host. It is loaded
// on the calling thread only (the one that executes the plugin: the
// kernel does not combine a listener with TSYNC before 5.7), after the
// ABI filter, which still kills foreign ABIs first.
func loadExplainFilter(groups []seccomp.SyscallGroup, paths bool) error {
	groups, err := explainGroups(groups, paths)
	if err != nil {
		return err
	}
	pol := seccomp.Policy{DefaultAction: seccomp.ActionAllow, Syscalls: groups}
	insts, err := pol.Assemble()
	if err != nil {
		return err
	}
	listener, err := loadWithListener(insts)
	if err != nil {
		return err
	}
	// Threat: a plugin holding its own listener would answer its refused
	// calls with CONTINUE. The launcher's copy is closed here, and its
	// end of the socketpair at exec (closeExtraOnExec).
	defer unix.Close(listener)
	if err := unix.Sendmsg(explainFD, []byte{1}, unix.UnixRights(listener), nil, 0); err != nil {
		return fmt.Errorf("send the listener to the host: %w", err)
	}
	return nil
}

func loadWithListener(insts []bpf.Instruction) (int, error) {
	raw, err := bpf.Assemble(insts)
	if err != nil {
		return -1, err
	}
	filter := make([]unix.SockFilter, len(raw))
	for i, ins := range raw {
		filter[i] = unix.SockFilter{Code: ins.Op, Jt: ins.Jt, Jf: ins.Jf, K: ins.K}
	}
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	fd, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_NEW_LISTENER, uintptr(unsafe.Pointer(&prog)))
	if errno != 0 {
		return -1, fmt.Errorf("load with a listener (user notification needs Linux 5.5): %w", errno)
	}
	return int(fd), nil
}

// explainLink is the host's side of explain mode for one launch.
type explainLink struct {
	sock   *os.File // the host's end of the socketpair
	log    *slog.Logger
	plugin string
	loop   *explainer
}

// ExplainTo names where explain mode's lines go, and the plugin they are
// about. Call it before Started; without it they go to slog's default
// logger.
func (l *Launch) ExplainTo(log *slog.Logger, plugin string) {
	l.ex.log, l.ex.plugin = log, plugin
}

// wrap makes the socketpair and returns the launcher's end.
func (x *explainLink) wrap() (*os.File, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socketpair: %w", err)
	}
	if err := unix.SetNonblock(fds[0], true); err != nil {
		unix.Close(fds[0])
		unix.Close(fds[1])
		return nil, err
	}
	x.sock = os.NewFile(uintptr(fds[0]), "airlock-explain")
	return os.NewFile(uintptr(fds[1]), "airlock-explain-launcher"), nil
}

// start receives the listener (or end of file, if the launcher failed
// before loading its filter: its status says why) and starts the loop.
func (x *explainLink) start(p Policy, timeout time.Duration) error {
	if x.sock == nil {
		return nil
	}
	defer func() { x.sock.Close(); x.sock = nil }()
	fd, err := receiveFD(x.sock, timeout)
	if err != nil || fd < 0 {
		return err
	}
	log := x.log
	if log == nil {
		log = slog.Default()
	}
	loop, err := newExplainer(fd, p, log, x.plugin)
	if err != nil {
		unix.Close(fd)
		return err
	}
	x.loop = loop
	go loop.run()
	return nil
}

// close stops the loop and closes what is left.
func (x *explainLink) close() {
	if x.sock != nil {
		x.sock.Close()
		x.sock = nil
	}
	if x.loop != nil {
		x.loop.stop()
		x.loop = nil
	}
}

// receiveFD reads one descriptor passed with SCM_RIGHTS; -1 at end of
// file.
func receiveFD(sock *os.File, timeout time.Duration) (int, error) {
	if err := sock.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return -1, err
	}
	rc, err := sock.SyscallConn()
	if err != nil {
		return -1, err
	}
	buf, oob := make([]byte, 1), make([]byte, unix.CmsgSpace(4))
	var n, oobn int
	var rerr error
	// Threat: another plugin inheriting this listener could answer its
	// refused calls with CONTINUE; it is received close-on-exec.
	err = rc.Read(func(fd uintptr) bool {
		n, oobn, _, _, rerr = unix.Recvmsg(int(fd), buf, oob, unix.MSG_CMSG_CLOEXEC)
		return !errors.Is(rerr, unix.EAGAIN)
	})
	if err == nil {
		err = rerr
	}
	if err != nil {
		return -1, fmt.Errorf("sandbox explain mode: receive the filter's listener: %w", err)
	}
	if n == 0 && oobn == 0 {
		return -1, nil
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return -1, fmt.Errorf("sandbox explain mode: no listener in the launcher's message")
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return -1, fmt.Errorf("sandbox explain mode: expected one listener, got %d descriptors", len(fds))
	}
	return fds[0], nil
}

// The kernel's structures for user notification (linux/seccomp.h).
type (
	seccompData struct {
		Nr   int32
		Arch uint32
		IP   uint64
		Args [6]uint64
	}
	seccompNotif struct {
		ID    uint64
		Pid   uint32
		Flags uint32
		Data  seccompData
	}
	seccompNotifResp struct {
		ID    uint64
		Val   int64
		Error int32
		Flags uint32
	}
)

func notifIoctl(fd int, req uint, arg unsafe.Pointer) syscall.Errno {
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(req), uintptr(arg))
	return e
}
