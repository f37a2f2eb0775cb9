package bundle

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/airlock-go/airlock/internal/privdir"
)

// Unpack writes the package's files, from the verified bytes in memory,
// into a new private directory under parent and returns it with a function
// that removes it. Process plugins run from there (threat: a file swapped
// on disk between the check and the exec: the host never executes the
// package's path, and the directory is new, the host user's, mode 0700,
// with files created exclusively). Unpack checks parent and every
// directory above it: see checkChain. It gives up, removing what it wrote,
// when ctx ends.
func (b *Bundle) Unpack(ctx context.Context, parent string) (dir string, cleanup func() error, err error) {
	if err := privdir.Ensure(parent); err != nil {
		return "", nil, fmt.Errorf("unpack: %w", err)
	}
	if err := checkChain(parent); err != nil {
		return "", nil, fmt.Errorf("unpack: %w", err)
	}
	dir, err = os.MkdirTemp(parent, b.Manifest.Name+"-"+b.Manifest.Version+"-")
	if err != nil {
		return "", nil, err
	}
	cleanup = func() error { return os.RemoveAll(dir) }
	if err := b.writeFiles(ctx, dir); err != nil {
		_ = cleanup()
		return "", nil, err
	}
	return dir, cleanup, nil
}

// writeFiles writes every file under dir, checking each path again (a
// Bundle's maps are exported, so they may not come from Open).
func (b *Bundle) writeFiles(ctx context.Context, dir string) error {
	limits := Limits{}.withDefaults()
	made := map[string]bool{}
	for name, data := range b.Files {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("unpack: not done in the time allowed: %w", err)
		}
		if _, err := checkPath(name, limits); err != nil {
			return err
		}
		target := filepath.Join(dir, filepath.FromSlash(name))
		if !strings.HasPrefix(target, dir+string(filepath.Separator)) {
			return refuse(name, "leaves the package directory")
		}
		if err := mkdirs(ctx, dir, path.Dir(name), made); err != nil {
			return err
		}
		if err := writeNew(target, data, b.Modes[name]&0o700|0o400); err != nil {
			return err
		}
	}
	return nil
}

// mkdirs creates the directories of the slash-separated rel under dir one
// level at a time, checking ctx before each: however many levels a
// package holds, unpacking stops when the start timeout does.
func mkdirs(ctx context.Context, dir, rel string, made map[string]bool) error {
	if rel == "." {
		return nil
	}
	p := dir
	for _, part := range strings.Split(rel, "/") {
		p = filepath.Join(p, part)
		if made[p] {
			continue
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("unpack: not done in the time allowed: %w", err)
		}
		if err := os.Mkdir(p, 0o700); err != nil {
			return err
		}
		made[p] = true
	}
	return nil
}

// writeNew creates a file that must not exist yet and writes data to it.
func writeNew(target string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	_, werr := f.Write(data)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	return werr
}
