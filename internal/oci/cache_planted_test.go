//go:build unix

package oci

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

// plantEntry writes a cache entry for pkg and sig whose manifest is
// genuine, as a copied cache directory or a planted one would be, and
// returns the cache, the pinned reference and the entry's directory.
func plantEntry(t *testing.T, pkg, sig []byte) (*Cache, string, string) {
	t.Helper()
	man, err := newManifest(blobDesc(PackageType, pkg, "p"), blobDesc(SignatureType, sig, "s"), "hello", "0.1.0")
	if err != nil {
		t.Fatal(err)
	}
	d := digest.FromBytes(man)
	c := &Cache{Dir: filepath.Join(t.TempDir(), "oci"), Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	dir := filepath.Join(c.Dir, "sha256", d.Encoded())
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{manifestFile: man, packageFile: pkg, signatureFile: sig} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// No registry: what the cache serves is all there is.
	return c, "oci://127.0.0.1:1/plugins/hello@" + d.String(), dir
}

// Threat: files planted in the cache (or a cache directory copied from
// another host, which the docs say serves). A package that is a link to a
// file elsewhere would be checked through the link and read again later,
// so whoever can change the link's target changes what runs after its
// digest was checked; a pipe would block the host for ever. Neither is
// served: the entry is treated as damaged.
func TestPlantedCacheFilesNotServed(t *testing.T) {
	pkg, sig := []byte("the package"), []byte("the signature")
	for _, which := range []string{"link to the package", "pipe as the signature"} {
		t.Run(which, func(t *testing.T) {
			c, ref, dir := plantEntry(t, pkg, sig)
			switch which {
			case "link to the package":
				outside := filepath.Join(t.TempDir(), "elsewhere")
				os.WriteFile(outside, pkg, 0o666)
				os.Remove(filepath.Join(dir, packageFile))
				if err := os.Symlink(outside, filepath.Join(dir, packageFile)); err != nil {
					t.Fatal(err)
				}
			case "pipe as the signature":
				os.Remove(filepath.Join(dir, signatureFile))
				if err := syscall.Mkfifo(filepath.Join(dir, signatureFile), 0o600); err != nil {
					t.Skip("mkfifo:", err)
				}
			}
			done := make(chan error, 1)
			go func() {
				_, err := c.Get(context.Background(), ref)
				done <- err
			}()
			select {
			case err := <-done:
				if !errors.Is(err, ErrUnavailable) {
					t.Errorf("Get = %v; want the planted entry refused (and the unreachable registry tried)", err)
				}
			case <-time.After(5 * time.Second):
				t.Errorf("Get still blocked after 5s")
				if f, err := os.OpenFile(filepath.Join(dir, signatureFile), os.O_WRONLY, 0); err == nil {
					f.Close()
				}
				<-done
			}
		})
	}
}

// What the cache checked is what it hands on: the bytes, not a path to
// read again (threat: the file changed between the digest check and the
// host's read).
func TestCacheServesCheckedBytes(t *testing.T) {
	pkg, sig := []byte("the package"), []byte("the signature")
	c, ref, _ := plantEntry(t, pkg, sig)
	f, err := c.Get(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(f.Package, []byte("the pockage"), 0o600)
	if string(f.Data) != string(pkg) || string(f.Sig) != string(sig) {
		t.Errorf("Files = %q, %q; want the checked bytes", f.Data, f.Sig)
	}
	if !strings.HasSuffix(f.Package, packageFile) {
		t.Errorf("Package = %s", f.Package)
	}
}
