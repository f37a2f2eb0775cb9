// Package regfile opens files the host reads as data (packages,
// signatures, cache entries) only if they are regular files.
package regfile

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// ErrNotRegular: the path is a pipe, a device, a socket or a directory
// (or, when links are not followed, a symbolic link).
var ErrNotRegular = errors.New("not a regular file")

// Open opens path for reading if it is a regular file. Threat: a pipe
// or device planted where the host reads a package or a signature: open
// would block on a pipe until a writer comes, hanging the host whatever
// its deadline, and a device would be read without end. The file is
// opened without blocking and checked once open, so it cannot be
// swapped between the check and the read. With follow false, a symbolic
// link is refused too (threat: a link planted in a private cache that
// leads to a file others can change).
func Open(path string, follow bool) (*os.File, error) {
	flags := os.O_RDONLY | nonBlock
	if !follow {
		if err := refuseLink(path); err != nil {
			return nil, err
		}
		flags |= noFollow
	}
	f, err := os.OpenFile(path, flags, 0)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s: %w (%v)", path, ErrNotRegular, fi.Mode().Type())
	}
	return f, nil
}

// ReadCapped reads a regular file (Open) of at most max bytes.
func ReadCapped(path string, max int64, follow bool) ([]byte, error) {
	f, err := Open(path, follow)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, max)
	}
	return data, nil
}

// refuseLink refuses a symbolic link at path (where O_NOFOLLOW does not
// exist, this check is the only one).
func refuseLink(path string) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return err
	}
	if fi.Mode()&os.ModeSymlink != 0 {
		return fmt.Errorf("%s: %w (a symbolic link)", path, ErrNotRegular)
	}
	return nil
}
