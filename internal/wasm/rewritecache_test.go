package wasm

import (
	"bytes"
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"

	"github.com/airlock-go/airlock/internal/wasm/instrument"
)

// A warm start reads the module's rewrite from the cache instead of
// rewriting it: a rewrite sealed under the cache's key is what runs, even
// one that is not the module's (which only the key's holder can make).
func TestRewriteIsCached(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	a, b := answerModule(t, "42"), answerModule(t, "41")
	if got := runAnswer(t, dir, a); got != "42" {
		t.Fatalf("first start: %s", got)
	}
	path := rewritePath(dir, mustRead(t, a))
	key, err := cacheKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	want, err := instrument.Module(mustRead(t, a))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := readRewrite(key, dir, path, 1<<30); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("the first start kept no valid rewrite at %s (%v)", path, err)
	}
	other, err := instrument.Module(mustRead(t, b))
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(path)
	storeRewrite(key, dir, path, other)
	if got := runAnswer(t, dir, a); got != "41" {
		t.Errorf("the start answered %s: it rewrote the module instead of using the cached rewrite", got)
	}
}

// A rewrite planted in the cache never runs (threat: a module without the
// fuel checks, or other code, served as a trusted module's rewrite):
// another module's validly sealed rewrite moved under this module's name,
// a file whose MAC was not made with the key, a link and a short file
// are each ignored, the module is rewritten again, and a valid rewrite
// replaces the planted file.
func TestPlantedRewriteNeverRuns(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	a, b := answerModule(t, "42"), answerModule(t, "41")
	runAnswer(t, dir, a)
	runAnswer(t, dir, b)
	pathA, pathB := rewritePath(dir, mustRead(t, a)), rewritePath(dir, mustRead(t, b))
	sealedB := mustRead(t, pathB)
	rewriteB := sealedB[sha256.Size:]
	forged := append(bytes.Repeat([]byte{0}, sha256.Size), rewriteB...)
	sum := sha256.Sum256(rewriteB)
	plants := []struct {
		name  string
		plant func() error
	}{
		{"another module's sealed rewrite", func() error { return os.WriteFile(pathA, sealedB, 0o600) }},
		{"a forged MAC", func() error { return os.WriteFile(pathA, forged, 0o600) }},
		{"the module's hash instead of a MAC", func() error {
			return os.WriteFile(pathA, append(sum[:], rewriteB...), 0o600)
		}},
		{"a link to another module's rewrite", func() error { return os.Symlink(pathB, pathA) }},
		{"a short file", func() error { return os.WriteFile(pathA, []byte("\x00asm"), 0o600) }},
		{"a file larger than any rewrite of the module", func() error {
			return os.WriteFile(pathA, make([]byte, rewriteGrowth*len(mustRead(t, a))+rewriteSlack+1), 0o600)
		}},
	}
	key, err := cacheKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range plants {
		t.Run(p.name, func(t *testing.T) {
			os.Remove(pathA)
			if err := p.plant(); err != nil {
				t.Skipf("cannot plant here: %v", err)
			}
			if got := runAnswer(t, dir, a); got != "42" {
				t.Fatalf("the guest answered %s: the planted rewrite ran", got)
			}
			fi, err := os.Lstat(pathA)
			if err != nil || !fi.Mode().IsRegular() {
				t.Fatalf("no rewrite replaced the planted one (%v)", err)
			}
			if _, err := readRewrite(key, dir, pathA, 1<<30); err != nil {
				t.Errorf("the replacing rewrite is not valid: %v", err)
			}
		})
	}
}

// Rewrites made by other versions of the rewriter are removed when a
// Starter opens the cache; the current version's are kept.
func TestOldRewritesAreRemoved(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	a := answerModule(t, "42")
	runAnswer(t, dir, a)
	old := filepath.Join(dir, rewritePrefix+"1")
	if err := os.MkdirAll(old, 0o700); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(old, "x.wasm"), []byte("old"), 0o600)
	if _, err := NewStarter(Options{CacheDir: dir}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(old); err == nil {
		t.Errorf("%s is still there", old)
	}
	if _, err := os.Lstat(rewritePath(dir, mustRead(t, a))); err != nil {
		t.Errorf("the current rewrite was removed: %v", err)
	}
}
