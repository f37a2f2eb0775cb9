package wasm

import (
	"io"
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
	// maxBytes is the size past which no file is written
	// (max_file_bytes; countedFile.fit).
	maxBytes int64
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

// countedFile gives its place back when it is first closed, and writes
// no byte past files.maxBytes.
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

// Threat: a guest granted a directory to write filling the host's disk
// with one file. Like RLIMIT_FSIZE for a process plugin, max_file_bytes
// bounds the size a write or a truncation may take a file to: a write
// that would pass it writes what fits (a short write), and one that
// starts at the bound fails with EIO (wazero's errnos have no EFBIG).
// Two instances writing one file at once may pass it by a write each.

// Write implements sys.File.
func (f *countedFile) Write(buf []byte) (int, sys.Errno) {
	at, errno := f.writeOffset()
	if errno != 0 {
		return f.File.Write(buf) // not a file that grows (the OS answers)
	}
	buf, errno = f.fit(at, buf)
	if errno != 0 {
		return 0, errno
	}
	return f.File.Write(buf)
}

// Pwrite implements sys.File.
func (f *countedFile) Pwrite(buf []byte, off int64) (int, sys.Errno) {
	buf, errno := f.fit(off, buf)
	if errno != 0 {
		return 0, errno
	}
	return f.File.Pwrite(buf, off)
}

// Truncate implements sys.File.
func (f *countedFile) Truncate(size int64) sys.Errno {
	if size > f.files.maxBytes {
		return sys.EIO
	}
	return f.File.Truncate(size)
}

// writeOffset is where a Write lands: the end of the file in append
// mode, else the file's offset.
func (f *countedFile) writeOffset() (int64, sys.Errno) {
	if f.IsAppend() {
		st, errno := f.Stat()
		return st.Size, errno
	}
	return f.Seek(0, io.SeekCurrent)
}

// fit returns what of buf, written at off, stays within maxBytes; EIO if
// nothing does.
func (f *countedFile) fit(off int64, buf []byte) ([]byte, sys.Errno) {
	room := f.files.maxBytes - off
	switch {
	case int64(len(buf)) <= room || len(buf) == 0:
		return buf, 0
	case room <= 0:
		return nil, sys.EIO
	}
	return buf[:room], 0
}
