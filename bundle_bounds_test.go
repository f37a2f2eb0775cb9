package airlock_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airlock-go/airlock"
)

// hostilePackage writes a package of plugin.toml, an entry and the given
// extra entries (whose data is as long as their names say nothing about).
func hostilePackage(t *testing.T, extra ...*tar.Header) string {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	manifest := "name = \"hostile\"\nversion = \"1.0.0\"\ntier = \"process\"\nprotocol = 1\nentry = \"run\"\n"
	write := func(hdr *tar.Header, body string) {
		hdr.Mode, hdr.Format = 0o644, tar.FormatPAX
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(body))
	}
	write(&tar.Header{Typeflag: tar.TypeReg, Name: "plugin.toml", Size: int64(len(manifest))}, manifest)
	write(&tar.Header{Typeflag: tar.TypeReg, Name: "run", Size: 1}, "x")
	for _, hdr := range extra {
		write(hdr, "")
	}
	tw.Flush()
	gz.Close()
	pkg := filepath.Join(t.TempDir(), "hostile.tar.gz")
	if err := os.WriteFile(pkg, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return pkg
}

// Packages built to cost the host time and memory are refused at load,
// quickly, with an error that names the package and what is wrong (the
// attack run's 1.2 KB package with a 900 KiB path took 109 s and 313 MB).
func TestHostilePackagesRefusedAtLoad(t *testing.T) {
	dirs := make([]*tar.Header, 2100)
	for i := range dirs {
		dirs[i] = &tar.Header{Typeflag: tar.TypeDir, Name: fmt.Sprintf("d%d/", i)}
	}
	cases := []struct {
		name  string
		extra []*tar.Header
		say   string
	}{
		{"900 KiB path", []*tar.Header{{Typeflag: tar.TypeReg, Name: strings.Repeat("a/", 450<<10) + "x"}}, "over the limit of 1024"},
		{"deep path", []*tar.Header{{Typeflag: tar.TypeReg, Name: strings.Repeat("d/", 100) + "x"}}, "101 levels deep"},
		{"many entries", dirs, "more than 2000 entries"},
		{"declared 1 TiB", []*tar.Header{{Typeflag: tar.TypeReg, Name: "huge", Size: 1 << 40}}, "over the limit of 67108864"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pkg := hostilePackage(t, c.extra...)
			h, _ := newHost(t, airlock.Options{RunDir: filepath.Join(t.TempDir(), "run")})
			start := time.Now()
			_, err := h.Load(ctxT(t, 30*time.Second), airlock.PluginConfig{Package: pkg, AllowUnsigned: true})
			if !errors.Is(err, airlock.ErrNotTrusted) || !strings.Contains(err.Error(), c.say) || !strings.Contains(err.Error(), pkg) {
				t.Errorf("err = %.300v, want ErrNotTrusted naming the package and saying %q", err, c.say)
			}
			if took := time.Since(start); took > 3*time.Second {
				t.Errorf("refused after %v", took)
			}
		})
	}
}
