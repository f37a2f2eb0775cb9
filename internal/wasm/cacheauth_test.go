package wasm

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/airlock-go/airlock/internal/testutil"
	"github.com/airlock-go/airlock/internal/tier"
)

const answerManifest = `
name = "answer"
version = "1.0.0"
tier = "wasm"
protocol = 1
entry = "answer.wasm"
functions = ["answer"]
`

func answerModule(t *testing.T, n string) string {
	needPrebuilt(t, "answer"+n+".wasm")
	return testutil.CWasm(t, "answer"+n, []string{"-DANSWER=" + n}, "internal/wasm/testdata/answer/answer.c")
}

// cacheEntries lists the compilation cache's entries under dir.
func cacheEntries(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && isEntryName(d.Name()) {
			out = append(out, path)
		}
		return nil
	})
	return out
}

// runAnswer starts module with a new Starter on the cache dir, as a new
// host process would, and returns its answer.
func runAnswer(t *testing.T, dir, module string) string {
	t.Helper()
	s, err := NewStarter(Options{CacheDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	inst, _, err := start(t, s, answerManifest, module, nil, tier.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Stop(context.Background())
	out, err := call(inst, "answer", nil, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// compileInto runs module once on the cache dir and returns the entry it
// added.
func compileInto(t *testing.T, dir, module string) string {
	t.Helper()
	before := cacheEntries(t, dir)
	runAnswer(t, dir, module)
	for _, e := range cacheEntries(t, dir) {
		if !slices.Contains(before, e) {
			return e
		}
	}
	t.Fatal("compiling wrote no cache entry")
	return ""
}

// Machine code planted in the cache never runs: here another module's
// valid entry (right header, right CRC) copied over this module's entry,
// which wazero alone would load and run. The planted entry is removed
// before wazero reads the cache, the module is compiled again, the guest
// gives its own answer, and the entry is replaced and sealed.
func TestTamperedCacheEntryNeverRuns(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	a, b := answerModule(t, "42"), answerModule(t, "41")
	entryA, entryB := compileInto(t, dir, a), compileInto(t, dir, b)
	if got := runAnswer(t, dir, a); got != "42" {
		t.Fatalf("before tampering: %s", got)
	}
	planted, err := os.ReadFile(entryB)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(entryA, planted, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := runAnswer(t, dir, a); got != "42" {
		t.Fatalf("the guest answered %s: the planted machine code ran", got)
	}
	now, err := os.ReadFile(entryA)
	if err != nil || bytes.Equal(now, planted) {
		t.Errorf("the planted entry is still there (err %v)", err)
	}
	auth := newCacheAuth(dir)
	if err := auth.sweep(); err != nil || !auth.valid(entryA) {
		t.Errorf("the replacing entry is not sealed (err %v)", err)
	}
}

// An entry without a MAC, or that is a link, is removed before wazero
// reads the cache; so is every entry when the key is replaced because
// others could read it.
func TestCacheSweep(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	a := answerModule(t, "42")
	entry := compileInto(t, dir, a)
	auth := newCacheAuth(dir)
	unsealed := filepath.Join(filepath.Dir(entry), string(bytes.Repeat([]byte("ab"), 32)))
	os.WriteFile(unsealed, []byte("WAZEVO planted"), 0o600)
	link := filepath.Join(filepath.Dir(entry), string(bytes.Repeat([]byte("cd"), 32)))
	if os.Symlink(entry, link) == nil {
		os.WriteFile(link+macSuffix, mustRead(t, entry+macSuffix), 0o600)
	}
	if err := auth.sweep(); err != nil {
		t.Fatal(err)
	}
	if got := cacheEntries(t, dir); !slices.Equal(got, []string{entry}) {
		t.Errorf("after the sweep: %v, want only %s", got, entry)
	}
	if runtime.GOOS == "windows" {
		return
	}
	key := filepath.Join(dir, keyDirName, keyFileName)
	old := mustRead(t, key)
	os.Chmod(key, 0o644)
	if err := auth.sweep(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(key); err != nil || fi.Mode().Perm() != 0o600 || bytes.Equal(mustRead(t, key), old) {
		t.Errorf("a key others could read was kept (%v, %v)", fi.Mode(), err)
	}
	if got := cacheEntries(t, dir); len(got) != 0 {
		t.Errorf("entries sealed with the old key survived: %v", got)
	}
	if got := runAnswer(t, dir, a); got != "42" {
		t.Errorf("after the new key: %s", got)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
