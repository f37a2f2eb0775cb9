package wasm

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/experimental/sysfs"
)

// AssetsPath is where a guest reads its own plugin's files, read-only
// and without a grant: the package's files, or the plugin's directory.
const AssetsPath = "/plugin"

// mountGrants mounts each fs.read grant read-only and each fs.write grant
// read-write, at its own path, through grantFS, and the plugin's own
// files read-only at AssetsPath: assets (a package's files) when set, else
// dir (the plugin's directory), through grantFS too. A plugin's own files
// are no secret from it; a write grant is still needed to change anything.
// Every open of every mount counts against files (openFiles).
func mountGrants(read, write []string, assets fs.FS, dir string, files *openFiles) wazero.FSConfig {
	cfg := wazero.NewFSConfig()
	mount := func(f sys.FS, dir string) {
		cfg = cfg.(sysfs.FSConfig).WithSysFSMount(countedFS{f, files}, dir)
	}
	for _, dir := range read {
		mount(&sysfs.ReadFS{FS: newGrantFS(dir)}, dir)
	}
	for _, dir := range write {
		mount(newGrantFS(dir), dir)
	}
	// Last, so that the grants' preopened descriptors keep their numbers
	// (3, 4, ... in grant order).
	switch {
	case assets != nil:
		mount(&sysfs.AdaptFS{FS: assets}, AssetsPath)
	case dir != "":
		mount(&sysfs.ReadFS{FS: newGrantFS(dir)}, AssetsPath)
	}
	return cfg
}

// grantFS is a granted directory as the guest sees it: wazero's, with
// three refusals.
//
// Threat: a guest blocking a host goroutine past its deadline in
// path_open or fd_read on a named pipe or a device inside a granted
// directory (opening a FIFO waits for a writer, reading a terminal for a
// line), where neither the deadline nor poll_oneoff can reach it. Only
// regular files and directories open: a file is opened non-blocking
// (which never waits), checked, and only then made blocking again if the
// guest asked for that.
//
// Threat: a guest leaving its grant through a symbolic link. wazero
// checks the paths a guest names, but not the target of a link the
// guest makes (path_symlink("../../.ssh/id_ed25519", "l")), which the
// host's open then follows: a guest granted one directory could read
// and write every file of the host's user. A guest may not make links,
// and a file opens only if its path, links resolved, stays inside the
// grant.
type grantFS struct {
	sys.FS
	root string // the granted directory, links resolved
}

func newGrantFS(dir string) grantFS {
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		root = filepath.Clean(dir)
	}
	return grantFS{FS: sysfs.DirFS(dir), root: root}
}

// Symlink implements sys.FS: refused.
func (g grantFS) Symlink(string, string) sys.Errno { return sys.EPERM }

// OpenFile implements sys.FS.
func (g grantFS) OpenFile(path string, flag sys.Oflag, perm fs.FileMode) (sys.File, sys.Errno) {
	if !g.inside(path) {
		return nil, sys.EACCES
	}
	if st, errno := g.FS.Stat(path); errno == 0 && !plain(st.Mode) {
		return nil, sys.EACCES
	}
	f, errno := g.FS.OpenFile(path, flag|sys.O_NONBLOCK, perm)
	if errno != 0 {
		return nil, errno
	}
	st, errno := f.Stat()
	switch {
	case errno != 0:
	case !plain(st.Mode):
		errno = sys.EACCES
	case flag&sys.O_NONBLOCK == 0:
		if pf, ok := f.(sys.PollableFile); ok {
			errno = pf.SetNonblock(false)
		}
	}
	if errno != 0 {
		f.Close()
		return nil, errno
	}
	return f, 0
}

// inside reports whether path, relative to the grant and with its links
// resolved, stays inside it. A path that does not exist yet is judged by
// its directory; a link that leads nowhere is refused (an open with
// O_CREAT would create its target).
func (g grantFS) inside(path string) bool {
	full := filepath.Join(g.root, filepath.FromSlash(path))
	real, err := filepath.EvalSymlinks(full)
	if errors.Is(err, fs.ErrNotExist) {
		if fi, lerr := os.Lstat(full); lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
			return false
		}
		dir, derr := filepath.EvalSymlinks(filepath.Dir(full))
		real, err = filepath.Join(dir, filepath.Base(full)), derr
	}
	if err != nil {
		return !errors.Is(err, fs.ErrNotExist) // the open reports its own error
	}
	return real == g.root || strings.HasPrefix(real, g.root+string(filepath.Separator))
}

// plain reports whether m is a regular file's or a directory's mode.
func plain(m fs.FileMode) bool { return m.IsRegular() || m.IsDir() }
