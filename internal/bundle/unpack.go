package bundle

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/airlock-go/airlock/internal/privdir"
)

// Unpack writes the package's files, from the verified bytes in memory,
// into a new private directory under parent and returns it with a function
// that removes it. Process plugins run from there (threat: a file swapped
// on disk between the check and the exec: the host never executes the
// package's path, and the directory is new, the host user's, mode 0700,
// with files created exclusively).
func (b *Bundle) Unpack(parent string) (dir string, cleanup func() error, err error) {
	if err := privdir.Ensure(parent); err != nil {
		return "", nil, fmt.Errorf("unpack: %w", err)
	}
	dir, err = os.MkdirTemp(parent, b.Manifest.Name+"-"+b.Manifest.Version+"-")
	if err != nil {
		return "", nil, err
	}
	cleanup = func() error { return os.RemoveAll(dir) }
	for name, data := range b.Files {
		target := filepath.Join(dir, filepath.FromSlash(name))
		if !strings.HasPrefix(target, dir+string(filepath.Separator)) {
			cleanup()
			return "", nil, refuse(name, "leaves the package directory")
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
			cleanup()
			return "", nil, err
		}
		f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, b.Modes[name]&0o700|0o400)
		if err != nil {
			cleanup()
			return "", nil, err
		}
		_, werr := f.Write(data)
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			cleanup()
			return "", nil, werr
		}
	}
	return dir, cleanup, nil
}
