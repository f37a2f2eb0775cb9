//go:build unix

package bundle

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// checkChain checks every directory from the root down to dir, both along
// the path as written and along the path its symbolic links lead to: each
// must be owned by the host's user or by root, and none may be writable by
// group or others unless it has the sticky bit (as /tmp has), which stops
// them from renaming or removing what they do not own. Threat: another
// local user swapping a run directory, or a directory above it, between
// the host's checks and the plugin's start.
func checkChain(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return err
	}
	for _, p := range []string{abs, real} {
		for {
			if err := checkChainDir(p); err != nil {
				return err
			}
			up := filepath.Dir(p)
			if up == p {
				break
			}
			p = up
		}
	}
	return nil
}

func checkChainDir(p string) error {
	st, err := os.Lstat(p)
	if err != nil {
		return err
	}
	if st.Mode()&os.ModeSymlink != 0 {
		return nil // the directory holding it is checked, and where it leads
	}
	if !st.IsDir() {
		return fmt.Errorf("%s is not a directory", p)
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok && sys.Uid != 0 && int(sys.Uid) != os.Geteuid() {
		return fmt.Errorf("%s is owned by uid %d, neither the host's user (uid %d) nor root", p, sys.Uid, os.Geteuid())
	}
	if st.Mode().Perm()&0o022 != 0 && st.Mode()&os.ModeSticky == 0 {
		return fmt.Errorf("%s is writable by others (mode %v) without the sticky bit: another user could replace what is below it", p, st.Mode().Perm())
	}
	return nil
}
