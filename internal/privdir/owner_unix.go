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
