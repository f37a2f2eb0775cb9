//go:build linux || darwin || freebsd || netbsd || openbsd

package plugin

import (
	"os"

	"golang.org/x/sys/unix"
)

// privateStdout duplicates descriptor 1 for the protocol, then points
// descriptor 1 and os.Stdout at standard error (threat: a stray print from
// the plugin or a library it uses corrupting the protocol stream).
func privateStdout() (*os.File, error) {
	fd, err := unix.Dup(1)
	if err != nil {
		return nil, err
	}
	unix.CloseOnExec(fd)
	if err := unix.Dup2(2, 1); err != nil {
		unix.Close(fd)
		return nil, err
	}
	os.Stdout = os.Stderr
	return os.NewFile(uintptr(fd), "airlock-protocol"), nil
}
