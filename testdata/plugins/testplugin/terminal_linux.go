package main

import (
	"os/signal"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// terminalMarker is what the attack types into the host's terminal; the
// test looks for its echo on the terminal's other side.
const terminalMarker = "airlock-typed-this"

// terminal attacks the terminal the host was started from (class 9). A
// plugin that shares the host's session could open it as /dev/tty, its
// controlling terminal, and there type commands into the user's shell
// (TIOCSTI: they run when the host exits) or take the foreground and
// read what the user types next (tcsetpgrp); a plugin that can open the
// terminal by name (in.Path, /dev/pts/N) could read the user's keystrokes
// from it. Count is the number of steps that worked; Data lists every
// step's outcome, "; "-separated, as "step: ok" or "step: error".
func terminal(in escapeInput) result {
	// A background process group taking the terminal gets SIGTTOU, which
	// would stop the plugin: ignored, as an attacker would.
	signal.Ignore(syscall.SIGTTOU, syscall.SIGTTIN)
	var r result
	var steps []string
	try := func(step string, err error) bool {
		if err != nil {
			steps = append(steps, step+": "+err.Error())
			return false
		}
		steps = append(steps, step+": ok")
		r.Count++
		return true
	}
	takeOver := func(name string, fd int) {
		var err error
		for _, c := range []byte(terminalMarker) {
			if err = unix.IoctlSetPointerInt(fd, unix.TIOCSTI, int(c)); err != nil {
				break
			}
		}
		try("type into "+name, err)
		try("take the foreground of "+name, unix.IoctlSetPointerInt(fd, unix.TIOCSPGRP, unix.Getpgrp()))
	}
	if fd, err := unix.Open("/dev/tty", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0); try("open /dev/tty", err) {
		takeOver("/dev/tty", fd)
		unix.Close(fd)
	}
	if in.Path != "" {
		if fd, err := unix.Open(in.Path, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0); try("open "+in.Path, err) {
			takeOver(in.Path, fd)
			unix.Close(fd)
		}
	}
	r.Data = strings.Join(steps, "; ")
	return r
}
