package sandbox

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/elastic/go-seccomp-bpf/arch"
	"golang.org/x/sys/unix"
	"golang.org/x/time/rate"
)

// Bounds on what one plugin in explain mode can make the host do. Threat:
// a plugin flooding refused calls to fill the host's log or take its CPU.
// The loop answers one notification at a time and paces itself, so a
// flood only makes the plugin's own calls wait.
const (
	explainLinesPerSec = 5    // log lines a second, after a burst
	explainLineBurst   = 20   // log lines at once
	explainDistinct    = 256  // distinct explanations remembered; repeats are not logged
	explainCallsPerSec = 5000 // notifications answered a second, after a burst of as many
	explainMaxLine     = 2048 // bytes in one line (a path may be 4 KiB)
)

// explainer is the host's loop over one plugin's notifications.
type explainer struct {
	fd     int    // the filter's listener
	stopR  int    // readable (end of file) once stop closes stopW
	stopW  int    //
	policy Policy // the plugin's policy, to name rules and grants
	rules  pathRules
	names  map[int]string // system call numbers of the native ABI
	native uint32         // the native ABI's audit arch
	log    *slog.Logger
	plugin string
	lines  *rate.Limiter
	pace   *rate.Limiter
	seen   map[string]bool
	quiet  int  // explanations not logged: repeats, or over the rate
	noMem  bool // reading the plugin's memory failed once, and was said
	done   chan struct{}
	once   sync.Once
}

func newExplainer(fd int, p Policy, log *slog.Logger, plugin string) (*explainer, error) {
	info, err := arch.GetInfo("")
	if err != nil {
		return nil, err
	}
	var pipe [2]int
	if err := unix.Pipe2(pipe[:], unix.O_CLOEXEC); err != nil {
		return nil, fmt.Errorf("sandbox explain mode: %w", err)
	}
	return &explainer{
		fd: fd, stopR: pipe[0], stopW: pipe[1],
		policy: p, rules: newPathRules(p),
		names: info.SyscallNumbers, native: uint32(info.ID),
		log: log, plugin: plugin,
		lines: rate.NewLimiter(explainLinesPerSec, explainLineBurst),
		pace:  rate.NewLimiter(explainCallsPerSec, explainCallsPerSec),
		seen:  map[string]bool{},
		done:  make(chan struct{}),
	}, nil
}

// run answers notifications until the plugin and all its descendants
// have ended (the listener hangs up) or stop is called.
func (e *explainer) run() {
	defer close(e.done)
	defer unix.Close(e.stopR)
	defer unix.Close(e.fd)
	for {
		pfd := []unix.PollFd{{Fd: int32(e.fd), Events: unix.POLLIN}, {Fd: int32(e.stopR), Events: unix.POLLIN}}
		if _, err := unix.Poll(pfd, -1); err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return
		}
		switch {
		case pfd[1].Revents != 0:
			e.summary()
			return
		case pfd[0].Revents&unix.POLLIN != 0:
			e.handle()
		case pfd[0].Revents&(unix.POLLHUP|unix.POLLERR|unix.POLLNVAL) != 0:
			e.summary()
			return
		}
	}
}

// stop ends the loop and waits for it.
func (e *explainer) stop() {
	e.once.Do(func() { unix.Close(e.stopW) })
	<-e.done
}

// handle answers one notification.
func (e *explainer) handle() {
	time.Sleep(e.pace.Reserve().Delay())
	var n seccompNotif
	if errno := notifIoctl(e.fd, unix.SECCOMP_IOCTL_NOTIF_RECV, unsafe.Pointer(&n)); errno != 0 {
		return // ENOENT: the caller was killed meanwhile; EINTR: poll again
	}
	name := e.names[int(n.Data.Nr)]
	if n.Data.Arch != e.native || !slices.Contains(pathCalls, name) {
		// A refused call. Threat: answering it with CONTINUE would run
		// a call the policy refuses; it gets EPERM, as without explain
		// mode, and never anything else. The line is logged first, so
		// that it is in the log when the plugin sees the refusal.
		r := explainRefusal(name, n.Data.Args, e.policy)
		e.report(r.message(e.plugin), "call", r.call, "sandbox_rule", r.rule, "grant", r.grant)
		e.respond(n.ID, -int32(unix.EPERM), 0)
		return
	}
	// A path call: read what it names while it waits, then let Landlock
	// decide. The plugin may change its memory meanwhile: that only
	// changes its own log line, since Landlock enforces, not this.
	targets, err := e.readTargets(int(n.Pid), name, n.Data.Args)
	valid := notifIoctl(e.fd, unix.SECCOMP_IOCTL_NOTIF_ID_VALID, unsafe.Pointer(&n.ID)) == 0
	switch {
	case err != nil:
		e.cannotRead(err)
	case valid: // else the caller is gone: its PID may name another process now
		for _, t := range targets {
			if r, ok := e.rules.refusal(name, t); ok {
				e.report(r.message(e.plugin), "call", r.call, "grant", r.grant)
			}
		}
	}
	e.respond(n.ID, 0, unix.SECCOMP_USER_NOTIF_FLAG_CONTINUE)
}

func (e *explainer) respond(id uint64, errno int32, flags uint32) {
	resp := seccompNotifResp{ID: id, Error: errno, Flags: flags}
	_ = notifIoctl(e.fd, unix.SECCOMP_IOCTL_NOTIF_SEND, unsafe.Pointer(&resp)) // ENOENT: the caller is gone
}

// report logs one explanation, unless it was logged already or the rate
// is spent.
func (e *explainer) report(msg string, attrs ...any) {
	if len(msg) > explainMaxLine {
		msg = strings.ToValidUTF8(msg[:explainMaxLine], "") + "..."
		attrs = nil // they repeat the message's parts
	}
	if e.seen[msg] || len(e.seen) >= explainDistinct || !e.lines.Allow() {
		e.quiet++
		return
	}
	e.seen[msg] = true
	e.log.Warn(msg, attrs...)
}

func (e *explainer) cannotRead(err error) {
	if e.noMem {
		return
	}
	e.noMem = true
	e.log.Warn(fmt.Sprintf("plugin %q: sandbox explain mode cannot read the plugin's memory, so refused paths are not explained: %v", e.plugin, err))
}

func (e *explainer) summary() {
	if e.quiet > 0 {
		e.log.Info(fmt.Sprintf("plugin %q: sandbox explain mode: %d more refusals not logged (repeats, or over %d lines a second)", e.plugin, e.quiet, explainLinesPerSec))
	}
}
