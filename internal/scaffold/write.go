package scaffold

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// New renders the plugin (Render) and writes it into dir, which must not
// exist or be empty. It returns the files written. On failure it removes
// what it wrote.
func New(dir string, o Options) ([]File, error) {
	files, err := Render(o)
	if err != nil {
		return nil, err
	}
	if err := checkEmpty(dir); err != nil {
		return nil, err
	}
	if err := write(dir, files); err != nil {
		return nil, err
	}
	return files, nil
}

// checkEmpty refuses a directory that holds anything.
//
// Threat: overwriting someone's files, or mixing ours with theirs into a
// plugin directory whose files a package would then carry.
func checkEmpty(dir string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("new plugin directory: %w", err)
	case len(entries) > 0:
		return fmt.Errorf("%w: %s holds %d entries (%s first); choose another directory", ErrNotEmpty, dir, len(entries), entries[0].Name())
	}
	return nil
}

// write writes files beneath dir, creating it, and creating each file
// afresh (O_EXCL: nothing that appeared meanwhile is overwritten).
func write(dir string, files []File) (err error) {
	created := []string{}
	defer func() {
		if err != nil {
			for i := len(created) - 1; i >= 0; i-- {
				os.Remove(created[i])
			}
		}
	}()
	var mkdir func(d string) error
	mkdir = func(d string) error {
		if _, err := os.Stat(d); err == nil {
			return nil
		}
		if err := mkdir(filepath.Dir(d)); err != nil {
			return err
		}
		if err := os.Mkdir(d, 0o755); err != nil {
			return err
		}
		created = append(created, d)
		return nil
	}
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f.Path))
		if err := mkdir(filepath.Dir(p)); err != nil {
			return fmt.Errorf("new plugin directory: %w", err)
		}
		if err := writeFile(p, f.Data); err != nil {
			return fmt.Errorf("new plugin directory: %w", err)
		}
		created = append(created, p)
	}
	return nil
}

func writeFile(p string, data []byte) error {
	out, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, err = out.Write(data)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}
