//go:build unix

package privdir

import (
	"fmt"
	"os"
	"syscall"
)

// checkOwner refuses a directory owned by another user.
func checkOwner(st os.FileInfo) error {
	if sys, ok := st.Sys().(*syscall.Stat_t); ok && int(sys.Uid) != os.Getuid() {
		return fmt.Errorf("owned by uid %d, not by the host's user (uid %d)", sys.Uid, os.Getuid())
	}
	return nil
}

// checkMode refuses a directory others can write to.
func checkMode(st os.FileInfo) error {
	if st.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("is writable by others (mode %v): use a directory only the host's user can write", st.Mode().Perm())
	}
	return nil
}
