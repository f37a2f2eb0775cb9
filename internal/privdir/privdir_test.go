//go:build unix

package privdir

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Ensure makes a missing directory private and refuses one that others
// can write to or that another user owns, whatever leads to it.
func TestEnsure(t *testing.T) {
	cases := []struct {
		name string
		// setup makes the directory Ensure is given, under base.
		setup   func(t *testing.T, base string) string
		wantErr string // empty: accepted
	}{
		{"missing: made, with its parents, mode 0700", func(t *testing.T, base string) string {
			return filepath.Join(base, "a", "b", "cache")
		}, ""},
		{"existing 0700", func(t *testing.T, base string) string { return mkdir(t, base, "d", 0o700) }, ""},
		{"existing 0755: others may read, not write", func(t *testing.T, base string) string { return mkdir(t, base, "d", 0o755) }, ""},
		{"writable by all", func(t *testing.T, base string) string { return mkdir(t, base, "d", 0o777) },
			"is writable by others (mode -rwxrwxrwx)"},
		{"writable by the group", func(t *testing.T, base string) string { return mkdir(t, base, "d", 0o770) },
			"is writable by others (mode -rwxrwx---)"},
		{"sticky and writable by all, like /tmp: still refused", func(t *testing.T, base string) string {
			return mkdir(t, base, "d", 0o777|os.ModeSticky)
		}, "is writable by others"},
		{"a symlink to a private directory: checked as its target", func(t *testing.T, base string) string {
			return symlink(t, mkdir(t, base, "d", 0o700), filepath.Join(base, "link"))
		}, ""},
		{"a symlink to a directory all may write: refused", func(t *testing.T, base string) string {
			return symlink(t, mkdir(t, base, "d", 0o777), filepath.Join(base, "link"))
		}, "is writable by others"},
		{"a dangling symlink: not followed into a new directory", func(t *testing.T, base string) string {
			return symlink(t, filepath.Join(base, "nowhere"), filepath.Join(base, "link"))
		}, "file exists"},
		{"a file, not a directory", func(t *testing.T, base string) string {
			f := filepath.Join(base, "f")
			if err := os.WriteFile(f, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			return filepath.Join(f, "cache")
		}, "not a directory"},
		{"owned by another user", func(t *testing.T, base string) string {
			if os.Getuid() != 0 {
				t.Skip("giving a directory to another user needs root")
			}
			d := mkdir(t, base, "d", 0o700)
			if err := os.Chown(d, 4242, 4242); err != nil {
				t.Fatal(err)
			}
			return d
		}, "owned by uid 4242, not by the host's user (uid 0)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := c.setup(t, t.TempDir())
			err := Ensure(dir)
			if c.wantErr == "" {
				if err != nil {
					t.Fatalf("Ensure: %v", err)
				}
				st, err := os.Stat(dir)
				if err != nil || !st.IsDir() {
					t.Fatalf("after Ensure: %v, %v", st, err)
				}
				return
			}
			// The error names the directory, or the part of its path
			// that could not be made.
			if err == nil || !strings.Contains(err.Error(), c.wantErr) || !strings.Contains(err.Error(), filepath.Dir(dir)) {
				t.Errorf("Ensure = %v, want an error naming %s and saying %q", err, dir, c.wantErr)
			}
		})
	}
}

// A directory Ensure makes is the user's only.
func TestEnsureMode(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new")
	if err := Ensure(dir); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		t.Errorf("made with mode %v, want no access for others", st.Mode().Perm())
	}
}

// mkdir makes base/name with exactly mode (chmod, past the umask).
func mkdir(t *testing.T, base, name string, mode os.FileMode) string {
	t.Helper()
	d := filepath.Join(base, name)
	if err := os.Mkdir(d, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(d, mode); err != nil {
		t.Fatal(err)
	}
	return d
}

func symlink(t *testing.T, target, link string) string {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	return link
}
