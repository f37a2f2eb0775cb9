package bundle

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// rawArchive builds a tar.gz whose headers may declare sizes their data
// does not have: body is written as it is, whatever hdr.Size says, and the
// archive is left unterminated after a header that declares more.
func rawArchive(t *testing.T, entries ...any) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for i := 0; i < len(entries); i += 2 {
		hdr := *entries[i].(*tar.Header)
		body := entries[i+1].(string)
		if hdr.Mode == 0 {
			hdr.Mode = 0o644
		}
		if hdr.Format == tar.FormatUnknown {
			hdr.Format = tar.FormatPAX
		}
		if err := tw.WriteHeader(&hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	tw.Flush() // no Close: the last entry may declare more than it has
	gz.Close()
	return buf.Bytes()
}

func sized(name string, size int64) *tar.Header {
	return &tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size}
}

// Hostile archives are refused from their headers, quickly, with an error
// naming the entry and the limit (the attack run's 1.2 KB package with a
// 900 KiB path took 109 s and 313 MB to unpack).
func TestHostileArchivesRefusedQuickly(t *testing.T) {
	m, e := sized("plugin.toml", int64(len(manifestText))), sized("run.sh", 1)
	deep := strings.Repeat("d/", 40) + "f"
	cases := []struct {
		name   string
		data   func(t *testing.T) []byte
		limits Limits
		say    string
	}{
		{"900 KiB path", func(t *testing.T) []byte {
			return rawArchive(t, m, manifestText, e, "x", sized(strings.Repeat("a/", 450<<10)+"x", 1), "y")
		}, Limits{}, "path of 921601 bytes, over the limit of 1024"},
		{"long component", func(t *testing.T) []byte {
			return rawArchive(t, m, manifestText, e, "x", sized("assets/"+strings.Repeat("n", 300), 1), "y")
		}, Limits{}, "a path component of 300 bytes, over the limit of 255"},
		{"deep path", func(t *testing.T) []byte {
			return rawArchive(t, m, manifestText, e, "x", sized(deep, 1), "y")
		}, Limits{}, "41 levels deep, over the limit of 32"},
		{"deep directory entry", func(t *testing.T) []byte {
			return rawArchive(t, m, manifestText, e, "x", &tar.Header{Typeflag: tar.TypeDir, Name: deep + "/"}, "")
		}, Limits{}, "levels deep"},
		{"many directory entries", func(t *testing.T) []byte {
			entries := []any{m, manifestText, e, "x"}
			for i := range 2100 {
				entries = append(entries, &tar.Header{Typeflag: tar.TypeDir, Name: fmt.Sprintf("d%d/", i)}, "")
			}
			return rawArchive(t, entries...)
		}, Limits{}, "more than 2000 entries"},
		{"many files", func(t *testing.T) []byte {
			entries := []any{m, manifestText, e, "x"}
			for i := range 1100 {
				entries = append(entries, sized(fmt.Sprintf("f%d", i), 0), "")
			}
			return rawArchive(t, entries...)
		}, Limits{}, "more than 1000 files"},
		{"declared 1 TiB", func(t *testing.T) []byte {
			return rawArchive(t, m, manifestText, e, "x", sized("huge", 1<<40), "")
		}, Limits{}, "1099511627776 bytes, over the limit of 67108864"},
		{"declared sizes adding up", func(t *testing.T) []byte {
			return rawArchive(t, m, manifestText, e, "x", sized("a", 600<<10), strings.Repeat("\x00", 600<<10), sized("b", 600<<10), "")
		}, Limits{MaxTotal: 1 << 20}, "declares 614400 bytes: the package expands to more than 1048576 bytes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := c.data(t)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			start := time.Now()
			_, err := Open(data, c.limits)
			took := time.Since(start)
			runtime.ReadMemStats(&after)
			var pe *Error
			if !errors.As(err, &pe) || !strings.Contains(err.Error(), c.say) {
				t.Fatalf("err = %v, want a package error saying %q", err, c.say)
			}
			if len(err.Error()) > 1500 {
				t.Errorf("the error is %d bytes long", len(err.Error()))
			}
			// Generous bounds: the point is seconds and hundreds of MB
			// against milliseconds and a few MB.
			if took > 2*time.Second {
				t.Errorf("refused after %v", took)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 32<<20 {
				t.Errorf("allocated %d MiB to refuse it", alloc>>20)
			}
		})
	}
}

// Opening gives up when its context ends, with an error that says so.
func TestOpenHonoursContext(t *testing.T) {
	data, err := Pack(plugin(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = OpenContext(ctx, data, Limits{})
	if err == nil || !strings.Contains(err.Error(), "not read in the time allowed") {
		t.Errorf("err = %v, want a refusal for the ended context", err)
	}
}

// Unpacking also checks paths (a Bundle may be built by hand), gives up
// when its context ends, and leaves nothing behind either way.
func TestUnpackRefusesAndCleansUp(t *testing.T) {
	data, err := Pack(plugin(t))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Open(data, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	parent := filepath.Join(t.TempDir(), "run")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := b.Unpack(ctx, parent); !errors.Is(err, context.Canceled) {
		t.Errorf("ended context: err = %v", err)
	}
	b.Files[strings.Repeat("d/", 40)+"f"] = []byte("x")
	if _, _, err := b.Unpack(context.Background(), parent); err == nil || !strings.Contains(err.Error(), "levels deep") {
		t.Errorf("deep path: err = %v", err)
	}
	if left, _ := os.ReadDir(parent); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
}

// Every directory above the run directory must be the host user's or
// root's, and not writable by others unless sticky.
func TestUnpackChecksDirectoryChain(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows has ACLs, not modes")
	}
	data, err := Pack(plugin(t))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Open(data, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	top := t.TempDir()
	middle := filepath.Join(top, "shared")
	parent := filepath.Join(middle, "run")
	if err := os.MkdirAll(parent, 0o700); err != nil {
		t.Fatal(err)
	}
	unpack := func() error {
		_, cleanup, err := b.Unpack(context.Background(), parent)
		if err == nil {
			cleanup()
		}
		return err
	}
	if err := unpack(); err != nil {
		t.Fatalf("private chain: %v", err)
	}
	os.Chmod(middle, 0o777)
	if err := unpack(); err == nil || !strings.Contains(err.Error(), middle+" is writable by others") {
		t.Errorf("world-writable directory above the run directory: err = %v", err)
	}
	os.Chmod(middle, 0o777|os.ModeSticky)
	if err := unpack(); err != nil {
		t.Errorf("sticky world-writable directory (like /tmp): %v", err)
	}
	os.Chmod(middle, 0o755)
	if os.Geteuid() == 0 {
		if err := os.Chown(middle, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		if err := unpack(); err == nil || !strings.Contains(err.Error(), "owned by uid 65534") {
			t.Errorf("directory of another user above the run directory: err = %v", err)
		}
	}
}
