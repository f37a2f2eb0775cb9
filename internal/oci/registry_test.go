package oci_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/airlock-go/airlock/internal/oci"
	"github.com/airlock-go/airlock/internal/oci/ocitest"
)

// logs collects log records.
type logs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func newCache(t *testing.T) (*oci.Cache, *logs) {
	l := &logs{}
	return &oci.Cache{Dir: filepath.Join(t.TempDir(), "oci"), Log: slog.New(slog.NewTextHandler(l, nil)), TagTimeout: 2 * time.Second}, l
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func push(t *testing.T, reg *ocitest.Registry, repoTag string, pkg, sig []byte) oci.Reference {
	t.Helper()
	ref, err := oci.Parse(reg.Addr + "/" + repoTag)
	if err != nil {
		t.Fatal(err)
	}
	pinned, err := (&oci.Client{}).Push(ctxT(t), ref, pkg, sig, "hello", "0.1.0")
	if err != nil {
		t.Fatal(err)
	}
	return pinned
}

func TestPushFetchCache(t *testing.T) {
	reg := ocitest.Start(t)
	pkg, sig := []byte("the package bytes"), []byte("the signature")
	ref := push(t, reg, "plugins/hello:0.1.0", pkg, sig)
	if again := push(t, reg, "plugins/hello:0.1.0", pkg, sig); again.Digest != ref.Digest {
		t.Errorf("pushing the same files twice gave %s then %s: the manifest is not reproducible", ref.Digest, again.Digest)
	}

	p, err := (&oci.Client{}).Fetch(ctxT(t), ref)
	if err != nil || !bytes.Equal(p.Data, pkg) || !bytes.Equal(p.Signature, sig) || p.Digest != ref.Digest {
		t.Fatalf("Fetch = %+v, %v", p, err)
	}

	c, l := newCache(t)
	f, err := c.Get(ctxT(t), ref.String())
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string][]byte{f.Package: pkg, f.Signature: sig} {
		if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s = %q, %v; want %q", path, got, err, want)
		}
	}
	st, err := os.Stat(c.Dir)
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("cache dir mode = %v, %v; want 0700", st.Mode().Perm(), err)
	}
	if strings.Contains(l.String(), "WARN") {
		t.Errorf("unexpected warnings: %s", l)
	}
}

func TestUnpinnedRefused(t *testing.T) {
	c, _ := newCache(t)
	_, err := c.Get(ctxT(t), "oci://127.0.0.1:1/plugins/hello:0.1.0")
	if !errors.Is(err, oci.ErrUnpinned) {
		t.Errorf("err = %v, want ErrUnpinned", err)
	}
}

// Threat: a registry (or its storage, or a mirror) that serves other
// bytes than were pushed. The digest check refuses them and nothing is
// cached.
func TestTamperedBlobRefused(t *testing.T) {
	for _, which := range []string{"package", "signature"} {
		t.Run(which, func(t *testing.T) {
			reg := ocitest.Start(t)
			pkg, sig := []byte("the package bytes"), []byte("the signature")
			ref := push(t, reg, "plugins/hello:0.1.0", pkg, sig)
			target := pkg
			if which == "signature" {
				target = sig
			}
			blob := reg.BlobPath(digestOf(target))
			data, err := os.ReadFile(blob)
			if err != nil {
				t.Fatal(err)
			}
			data[0] ^= 1 // the same size, another digest
			if err := os.WriteFile(blob, data, 0o644); err != nil {
				t.Fatal(err)
			}
			c, _ := newCache(t)
			_, err = c.Get(ctxT(t), ref.String())
			if !errors.Is(err, oci.ErrDigestMismatch) || !strings.Contains(err.Error(), which) {
				t.Fatalf("err = %v, want ErrDigestMismatch naming the %s", err, which)
			}
			if entries, _ := os.ReadDir(filepath.Join(c.Dir, "sha256")); len(entries) != 0 {
				t.Errorf("the tampered artifact was cached: %v", entries)
			}
		})
	}
}

func TestMovedTag(t *testing.T) {
	reg := ocitest.Start(t)
	v1 := push(t, reg, "plugins/hello:stable", []byte("version 1"), []byte("sig 1"))
	v2 := push(t, reg, "plugins/hello:stable", []byte("version 2"), []byte("sig 2"))
	for _, cached := range []bool{false, true} {
		c, l := newCache(t)
		if cached {
			if _, err := c.Get(ctxT(t), v1.String()); err != nil {
				t.Fatal(err)
			}
		}
		f, err := c.Get(ctxT(t), v1.String())
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(f.Package); string(got) != "version 1" {
			t.Errorf("cached=%v: got %q, want the pinned version 1", cached, got)
		}
		if !strings.Contains(l.String(), "the tag moved") || !strings.Contains(l.String(), v2.Digest.String()) {
			t.Errorf("cached=%v: no warning naming the tag's new digest %s: %s", cached, v2.Digest, l)
		}
	}
}

func TestUnreachableRegistry(t *testing.T) {
	reg := ocitest.Start(t)
	ref := push(t, reg, "plugins/hello:0.1.0", []byte("the package"), []byte("sig"))
	warm, l := newCache(t)
	if _, err := warm.Get(ctxT(t), ref.String()); err != nil {
		t.Fatal(err)
	}
	reg.Stop()

	f, err := warm.Get(ctxT(t), ref.String())
	if err != nil {
		t.Fatalf("the cached copy did not serve: %v", err)
	}
	if got, _ := os.ReadFile(f.Package); string(got) != "the package" {
		t.Errorf("cached package = %q", got)
	}
	if !strings.Contains(l.String(), "registry unreachable, serving the cached verified copy") {
		t.Errorf("no warning: %s", l)
	}

	cold, _ := newCache(t)
	_, err = cold.Get(ctxT(t), ref.String())
	if !errors.Is(err, oci.ErrUnavailable) || !strings.Contains(err.Error(), "registry "+reg.Addr) {
		t.Errorf("err = %v, want ErrUnavailable naming registry %s", err, reg.Addr)
	}
}

// Threat: a cache entry changed on disk. It is not used: it is fetched
// again from the registry.
func TestDamagedCacheEntryFetchedAgain(t *testing.T) {
	reg := ocitest.Start(t)
	ref := push(t, reg, "plugins/hello:0.1.0", []byte("the package"), []byte("sig"))
	c, l := newCache(t)
	f, err := c.Get(ctxT(t), ref.String())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.Package, []byte("the pockage"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err = c.Get(ctxT(t), ref.String())
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(f.Package); string(got) != "the package" {
		t.Errorf("package = %q after refetch", got)
	}
	if !strings.Contains(l.String(), "damaged entry") {
		t.Errorf("no warning: %s", l)
	}
}

func digestOf(data []byte) string { return digest.FromBytes(data).String() }

// Threat: another local user planting or swapping cache entries through
// a cache directory they can write. Such a directory is refused.
func TestCacheDirWritableByOthersRefused(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows has ACLs, not modes")
	}
	c, _ := newCache(t)
	if err := os.MkdirAll(c.Dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(c.Dir, 0o777); err != nil {
		t.Fatal(err)
	}
	_, err := c.Get(ctxT(t), "oci://127.0.0.1:1/plugins/hello:1@sha256:"+strings.Repeat("a", 64))
	if err == nil || !strings.Contains(err.Error(), "writable by others") {
		t.Errorf("err = %v, want the cache directory refused as writable by others", err)
	}
}

// The pinned digest deleted from the registry after the tag moved on: the
// error says where the tag points now.
func TestDeletedDigestNamesMovedTag(t *testing.T) {
	reg := ocitest.Start(t)
	v1 := push(t, reg, "plugins/hello:stable", []byte("version 1"), []byte("sig 1"))
	v2 := push(t, reg, "plugins/hello:stable", []byte("version 2"), []byte("sig 2"))
	repo, err := remote.NewRepository(reg.Addr + "/plugins/hello")
	if err != nil {
		t.Fatal(err)
	}
	repo.PlainHTTP = true
	desc, err := repo.Resolve(ctxT(t), v1.Digest.String())
	if err != nil {
		t.Fatal(err)
	}
	if err := repo.Delete(ctxT(t), desc); err != nil {
		t.Fatal(err)
	}
	c, _ := newCache(t)
	_, err = c.Get(ctxT(t), v1.String())
	if !errors.Is(err, oci.ErrUnavailable) || !strings.Contains(err.Error(), `the tag "stable" moved: it now points to `+v2.Digest.String()) {
		t.Errorf("err = %v, want ErrUnavailable saying the tag moved to %s", err, v2.Digest)
	}
}

// Several loads of one digest at once, on a cold cache (plugins loading
// in parallel, or two host processes): each gets a whole entry.
func TestConcurrentGet(t *testing.T) {
	reg := ocitest.Start(t)
	ref := push(t, reg, "plugins/hello:0.1.0", []byte("the package"), []byte("sig"))
	c, _ := newCache(t)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			f, err := c.Get(ctxT(t), ref.String())
			if err == nil {
				if got, _ := os.ReadFile(f.Package); string(got) != "the package" {
					err = errors.New("package = " + string(got))
				}
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(c.Dir, "sha256")); len(entries) != 1 {
		t.Errorf("cache holds %d entries, want 1 (no temporary directories left)", len(entries))
	}
}
