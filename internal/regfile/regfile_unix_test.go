//go:build unix

package regfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	os.WriteFile(file, []byte("data"), 0o600)
	link := filepath.Join(dir, "l")
	os.Symlink(file, link)
	pipe := filepath.Join(dir, "p")
	if err := syscall.Mkfifo(pipe, 0o600); err != nil {
		t.Skip(err)
	}
	cases := []struct {
		name, path string
		follow     bool
		want       error // nil: opens
	}{
		{"regular file", file, false, nil},
		{"link followed", link, true, nil},
		{"link not followed", link, false, ErrNotRegular},
		{"pipe: refused, not waited on", pipe, true, ErrNotRegular},
		{"directory", dir, true, ErrNotRegular},
		{"device", "/dev/null", true, ErrNotRegular},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := Open(c.path, c.follow)
			if err == nil {
				f.Close()
			}
			if !errors.Is(err, c.want) {
				t.Errorf("Open(%s, %v) = %v, want %v", c.path, c.follow, err, c.want)
			}
		})
	}
	if _, err := ReadCapped(file, 3, true); err == nil || !strings.Contains(err.Error(), "larger than 3 bytes") {
		t.Errorf("ReadCapped over the cap: %v", err)
	}
}

func TestCheckTrusted(t *testing.T) {
	file := filepath.Join(t.TempDir(), "k")
	os.WriteFile(file, []byte("key"), 0o644)
	for _, c := range []struct {
		mode os.FileMode
		ok   bool
	}{{0o644, true}, {0o600, true}, {0o664, false}, {0o646, false}} {
		os.Chmod(file, c.mode)
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		err = CheckTrusted(f)
		f.Close()
		if (err == nil) != c.ok {
			t.Errorf("mode %v: err = %v, want ok=%v", c.mode, err, c.ok)
		}
	}
}
