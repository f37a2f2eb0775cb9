package bundle

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	_ "github.com/airlock-go/airlock/internal/testutil" // wine fix-ups for the Windows test build
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

const manifestText = `name = "demo"
version = "1.0.0"
tier = "process"
protocol = 1
entry = "run.sh"
`

// plugin writes a small plugin directory.
func plugin(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "plugin.toml"), []byte(manifestText), 0o644)
	os.WriteFile(filepath.Join(dir, "run.sh"), []byte("#!/bin/sh\necho hi\n"), 0o755)
	os.MkdirAll(filepath.Join(dir, "assets", "img"), 0o755)
	os.WriteFile(filepath.Join(dir, "assets", "img", "logo.txt"), []byte("logo"), 0o644)
	os.MkdirAll(filepath.Join(dir, ".git"), 0o755)
	os.WriteFile(filepath.Join(dir, ".git", "HEAD"), []byte("ref"), 0o644)
	return dir
}

func TestPackIsReproducibleAndOpens(t *testing.T) {
	dir := plugin(t)
	a, err := Pack(dir)
	if err != nil {
		t.Fatal(err)
	}
	// Touch the files: new times must not change the bytes.
	os.Chtimes(filepath.Join(dir, "run.sh"), someTime, someTime)
	b, err := Pack(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatal("packing the same directory twice gave different bytes")
	}
	bun, err := Open(a, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if bun.Manifest.Name != "demo" || string(bun.Files["assets/img/logo.txt"]) != "logo" || bun.Modes["run.sh"] != 0o755 {
		t.Errorf("bundle = %+v", bun)
	}
	if _, ok := bun.Files[".git/HEAD"]; ok {
		t.Error("pack included .git")
	}
	if len(bun.Digest) != 64 {
		t.Errorf("digest %q", bun.Digest)
	}
}

func TestFlippedByteRefusedOrDetected(t *testing.T) {
	data, err := Pack(plugin(t))
	if err != nil {
		t.Fatal(err)
	}
	orig, _ := Open(data, Limits{})
	for i := 0; i < len(data); i += max(1, len(data)/97) {
		bad := bytes.Clone(data)
		bad[i] ^= 0x40
		b, err := Open(bad, Limits{})
		if err == nil && b.Digest == orig.Digest {
			t.Fatalf("byte %d flipped: same digest", i)
		}
		// Either the archive is refused, or its digest differs, which the
		// signature check refuses (see the signing tests).
	}
}

// archive builds a tar.gz from headers and contents.
func archive(t *testing.T, entries ...any) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for i := 0; i < len(entries); i += 2 {
		hdr := *entries[i].(*tar.Header)
		body, _ := entries[i+1].(string)
		if hdr.Typeflag == tar.TypeReg {
			hdr.Size = int64(len(body))
		}
		if hdr.Mode == 0 {
			hdr.Mode = 0o644
		}
		if err := tw.WriteHeader(&hdr); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(body))
	}
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

func reg(name string) *tar.Header { return &tar.Header{Typeflag: tar.TypeReg, Name: name} }

func TestMaliciousArchives(t *testing.T) {
	man := reg("plugin.toml")
	entry := reg("run.sh")
	cases := []struct {
		name   string
		data   func(t *testing.T) []byte
		limits Limits
		entry  string
		say    string
	}{
		{"absolute path", func(t *testing.T) []byte {
			return archive(t, man, manifestText, entry, "x", reg("/etc/cron.d/evil"), "x")
		}, Limits{}, "/etc/cron.d/evil", "absolute paths"},
		{"dot dot", func(t *testing.T) []byte {
			return archive(t, man, manifestText, entry, "x", reg("assets/../../evil"), "x")
		}, Limits{}, "assets/../../evil", `".." is not allowed`},
		{"symlink", func(t *testing.T) []byte {
			return archive(t, man, manifestText, &tar.Header{Typeflag: tar.TypeSymlink, Name: "run.sh", Linkname: "/bin/sh"}, "")
		}, Limits{}, "run.sh", "links are not allowed"},
		{"hard link", func(t *testing.T) []byte {
			return archive(t, man, manifestText, entry, "x", &tar.Header{Typeflag: tar.TypeLink, Name: "h", Linkname: "/etc/passwd"}, "")
		}, Limits{}, "h", "links are not allowed"},
		{"device", func(t *testing.T) []byte {
			return archive(t, man, manifestText, entry, "x", &tar.Header{Typeflag: tar.TypeChar, Name: "null", Devmajor: 1, Devminor: 3}, "")
		}, Limits{}, "null", "devices"},
		{"duplicate", func(t *testing.T) []byte {
			return archive(t, man, manifestText, entry, "x", reg("run.sh"), "y")
		}, Limits{}, "run.sh", "duplicate"},
		{"case duplicate", func(t *testing.T) []byte {
			return archive(t, man, manifestText, entry, "x", reg("RUN.sh"), "y")
		}, Limits{}, "RUN.sh", "duplicate"},
		{"entry over the size cap", func(t *testing.T) []byte {
			return archive(t, man, manifestText, entry, strings.Repeat("x", 2000))
		}, Limits{MaxFileBytes: 1000}, "run.sh", "over the limit"},
		{"decompression bomb", func(t *testing.T) []byte {
			return archive(t, man, manifestText, entry, "x", reg("a"), strings.Repeat("\x00", 600), reg("b"), strings.Repeat("\x00", 600))
		}, Limits{MaxTotal: 1000}, "b", "expands to more than 1000 bytes"},
		{"too many files", func(t *testing.T) []byte {
			return archive(t, man, manifestText, entry, "x", reg("a"), "1", reg("b"), "2")
		}, Limits{MaxFiles: 3}, "b", "more than 3 files"},
		{"no manifest", func(t *testing.T) []byte {
			return archive(t, entry, "x")
		}, Limits{}, "", "no plugin.toml"},
		{"entry missing", func(t *testing.T) []byte {
			return archive(t, man, manifestText)
		}, Limits{}, "run.sh", "entry for"},
		{"wrong tier", func(t *testing.T) []byte {
			return archive(t, man, strings.Replace(strings.Replace(manifestText, "process", "wasm", 1), "run.sh", "m.wasm", 1), reg("m.wasm"), "#!/bin/sh")
		}, Limits{}, "m.wasm", "not a WebAssembly module"},
		{"not an archive", func(t *testing.T) []byte { return []byte("hello, I am not a tar file at all, no no no") }, Limits{}, "", "not a valid tar archive"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Open(c.data(t), c.limits)
			var pe *Error
			if !errors.As(err, &pe) || !strings.Contains(err.Error(), c.say) || pe.Entry != c.entry {
				t.Errorf("err = %v (entry %q), want entry %q and %q", err, entryOf(pe), c.entry, c.say)
			}
		})
	}
}

func entryOf(e *Error) string {
	if e == nil {
		return ""
	}
	return e.Entry
}

func TestUnpackWritesVerifiedBytes(t *testing.T) {
	data, err := Pack(plugin(t))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Open(data, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	parent := filepath.Join(t.TempDir(), "run")
	dir, cleanup, err := b.Unpack(context.Background(), parent)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(dir)
	unixModes := runtime.GOOS != "windows" // Windows has ACLs, not modes
	if unixModes && st.Mode().Perm() != 0o700 {
		t.Errorf("unpacked directory mode %v, want 0700", st.Mode().Perm())
	}
	got, _ := os.ReadFile(filepath.Join(dir, "assets/img/logo.txt"))
	if string(got) != "logo" {
		t.Errorf("unpacked file = %q", got)
	}
	if st, _ := os.Stat(filepath.Join(dir, "run.sh")); unixModes && st.Mode().Perm()&0o100 == 0 {
		t.Error("entry not executable")
	}
	cleanup()
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Error("cleanup left the directory")
	}
	if !unixModes {
		return
	}
	os.Chmod(parent, 0o777)
	if _, _, err := b.Unpack(context.Background(), parent); err == nil || !strings.Contains(err.Error(), "writable by others") {
		t.Errorf("world-writable parent: err = %v", err)
	}
}

func FuzzOpen(f *testing.F) {
	dir := f.TempDir()
	os.WriteFile(filepath.Join(dir, "plugin.toml"), []byte(manifestText), 0o644)
	os.WriteFile(filepath.Join(dir, "run.sh"), []byte("#!/bin/sh\n"), 0o755)
	good, err := Pack(dir)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte{0x1f, 0x8b})
	f.Add([]byte("plugin.toml"))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := Open(data, Limits{MaxTotal: 1 << 20})
		if err == nil && b.Manifest == nil {
			t.Fatal("opened without a manifest")
		}
	})
}

var someTime = mustTime("2001-02-03T04:05:06Z")
