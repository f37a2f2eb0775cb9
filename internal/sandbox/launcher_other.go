//go:build !linux && !darwin

package sandbox

import (
	"errors"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"
)

// Launch is a command wrapped for confinement; on this platform it adds
// nothing.
type Launch struct{ p Policy }

// Wrap leaves cmd as it is: this platform has no launcher yet.
func Wrap(cmd *exec.Cmd, p Policy) (*Launch, error) { return &Launch{p: p}, nil }

// Start starts cmd as it is.
func (l *Launch) Start(cmd *exec.Cmd) (*exec.Cmd, error) { return cmd, cmd.Start() }

// Abort does nothing here.
func (l *Launch) Abort() {}

// Close does nothing here.
func (l *Launch) Close() {}

// Started reports that nothing beyond the process tier's own measures is
// enforced; with Policy.Require that is an error.
func (l *Launch) Started(time.Duration) (Report, error) {
	rep := Report{Missing: []string{"file system rules", "network denial", "process creation limits", "resource limits"}}
	if l.p.Require {
		return rep, errRequired
	}
	return rep, nil
}

// DefaultReadOnly lists the system paths a plugin may read.
func DefaultReadOnly() []string { return nil }

// DefaultReadWrite lists the paths every plugin may write.
func DefaultReadWrite() []string { return nil }

// InterpreterDirs returns what a plugin needs to read to run interp.
func InterpreterDirs(interp string) []string { return []string{filepath.Dir(interp)} }

// Available reports whether this platform confines process plugins.
func Available() bool { return false }

// errRequired is returned where confinement is required but the platform
// cannot provide it.
var errRequired = errors.New("sandbox: full confinement is required but this platform has no process sandbox")

// Probe reports what a plugin gets on this platform: nothing beyond the
// process tier's own measures.
func Probe(p Policy, timeout time.Duration) (Report, error) {
	return (&Launch{p: Policy{}}).Started(timeout)
}

// MachineFacts reports that this platform has no launcher (Windows uses
// job objects, set by the process tier).
func MachineFacts() Facts { return Facts{OS: runtime.GOOS} }
