//go:build unix

package wasm

import (
	"fmt"
	"os"
	"syscall"
)

// private reports why fi, a file or directory of the compilation cache,
// is not the host user's alone, or nil: it must be owned by the host's
// user and give no access to others (mode 0600 or 0700).
func private(fi os.FileInfo) error {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Getuid() {
		return fmt.Errorf("owned by uid %d, not by the host's user (uid %d)", st.Uid, os.Getuid())
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("mode %v gives others access", fi.Mode().Perm())
	}
	return nil
}

// ownedByHost reports whether fi is owned by the host's user.
func ownedByHost(fi os.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return !ok || int(st.Uid) == os.Getuid()
}

// fileID identifies a file's contents as they were when it was last
// checked: its inode, size, modification and change times. A non-root
// user cannot change a file without changing its change time, so a file
// with the same ID has the same contents.
func fileID(fi os.FileInfo) string {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return ""
	}
	changed, ok := ctime(st)
	if !ok {
		return ""
	}
	return fmt.Sprintf("%d:%d:%d:%d:%d", st.Dev, st.Ino, fi.Size(), fi.ModTime().UnixNano(), changed)
}
