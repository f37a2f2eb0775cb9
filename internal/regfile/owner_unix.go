//go:build unix

package regfile

import (
	"fmt"
	"os"
	"syscall"
)

// CheckTrusted refuses an open file that a user other than the host's
// own, or root, could have changed: owned by another user, or writable by
// group or others. Threat: a trusted key (a trust root) that anyone on the
// machine can replace with their own.
func CheckTrusted(f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok && sys.Uid != 0 && int(sys.Uid) != os.Geteuid() {
		return fmt.Errorf("%s is owned by uid %d, neither the host's user (uid %d) nor root", f.Name(), sys.Uid, os.Geteuid())
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("%s is writable by others (mode %v): anyone who can write it can replace the key", f.Name(), fi.Mode().Perm())
	}
	return nil
}
