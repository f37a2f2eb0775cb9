package wasm

import (
	"io/fs"
	"sync/atomic"

	"github.com/tetratelabs/wazero/experimental/sys"
)

// openFiles counts the files a plugin's instances hold open, all
// together, against max_open_files.
//
// Threat: a guest opening its own files (or a granted directory's) in a
// loop and never closing them. Each open is a descriptor of the host's
// process (or, for a package's files, an entry in wazero's table of open
// files, in the host's memory); with no bound, one plugin exhausts the
// host's descriptors and every open, accept and pipe of the host fails.
// An open past the bound fails with EAGAIN in the guest; closing a file,
// or the instance (wazero closes what it holds), gives its place back.
type openFiles struct {
	n     atomic.Int64
	limit int64
}

// take takes a place for one open file, if one is left.
func (o *openFiles) take() bool {
	if o.n.Add(1) > o.limit {
		o.n.Add(-1)
		return false
	}
	return true
}

// give gives a place back.
func (o *openFiles) give() { o.n.Add(-1) }

// countedFS is a file system whose opens count against files.
type countedFS struct {
	sys.FS
	files *openFiles
}

// OpenFile implements sys.FS.
func (c countedFS) OpenFile(path string, flag sys.Oflag, perm fs.FileMode) (sys.File, sys.Errno) {
	if !c.files.take() {
		return nil, sys.EAGAIN // wazero's errnos have no EMFILE
	}
	f, errno := c.FS.OpenFile(path, flag, perm)
	if errno != 0 {
		c.files.give()
		return nil, errno
	}
	return &countedFile{File: f, files: c.files}, 0
}

// countedFile gives its place back when it is first closed.
type countedFile struct {
	sys.File
	files  *openFiles
	closed atomic.Bool
}

// Close implements sys.File.
func (f *countedFile) Close() sys.Errno {
	if !f.closed.Swap(true) {
		defer f.files.give()
	}
	return f.File.Close()
}
