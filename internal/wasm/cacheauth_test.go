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
	if err := auth.sweep(moduleDirOf(entryA)); err != nil || !auth.valid(entryA) {
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
	if err := auth.sweep(moduleDirOf(entry)); err != nil {
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
	if err := auth.sweep(moduleDirOf(entry)); err != nil {
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

// moduleDirOf returns the module cache directory holding entry
// (CacheDir/mod-HASH/wazero-VERSION/ENTRY).
func moduleDirOf(entry string) string { return filepath.Dir(filepath.Dir(entry)) }

// Starting a module checks its own entries only: another module's entry,
// even one that could not be read, is left for that module's own start,
// so that a host's start does not grow with the cache. The layout before
// module directories is removed.
func TestCacheChecksOnlyTheModuleItRuns(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	a, b := answerModule(t, "42"), answerModule(t, "41")
	entryA, entryB := compileInto(t, dir, a), compileInto(t, dir, b)
	if moduleDirOf(entryA) == moduleDirOf(entryB) {
		t.Fatalf("two modules share the cache directory %s", moduleDirOf(entryA))
	}
	// Unsealed: the check of b would remove it, a check of a must not
	// look at it.
	if err := os.Remove(entryB + macSuffix); err != nil {
		t.Fatal(err)
	}
	legacy := filepath.Join(dir, wazeroPrefix+"v1.0.0-amd64-linux")
	if err := os.MkdirAll(legacy, 0o700); err != nil {
		t.Fatal(err)
	}
	if got := runAnswer(t, dir, a); got != "42" {
		t.Fatalf("a answered %s", got)
	}
	if _, err := os.Stat(entryB); err != nil {
		t.Errorf("starting a checked b's entry: %v", err)
	}
	if _, err := os.Stat(legacy); err == nil {
		t.Errorf("the old layout's %s is still there", legacy)
	}
	if got := runAnswer(t, dir, b); got != "41" {
		t.Fatalf("b answered %s", got)
	}
	if auth := newCacheAuth(dir); auth.sweep(moduleDirOf(entryB)) != nil || !auth.valid(entryB) {
		t.Errorf("b's unsealed entry was not replaced by a sealed one")
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

// A host that finds an entry valid records it (ENTRY.seen), and the next
// host to start the module trusts the record instead of hashing the entry
// again; an entry changed in place since, even to the same size and
// modification time, is hashed again and, its MAC failing, removed.
func TestCheckedEntriesAreRecorded(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no change times here: every entry is hashed at every start")
	}
	dir := filepath.Join(t.TempDir(), "cache")
	entry := compileInto(t, dir, answerModule(t, "42"))
	auth := newCacheAuth(dir)
	if err := auth.sweep(moduleDirOf(entry)); err != nil {
		t.Fatal(err)
	}
	if auth.hashed != 0 || len(cacheEntries(t, dir)) != 1 {
		t.Fatalf("a new host hashed %d entries and kept %v: the record was not used", auth.hashed, cacheEntries(t, dir))
	}
	fi, err := os.Stat(entry)
	if err != nil {
		t.Fatal(err)
	}
	code := mustRead(t, entry)
	code[len(code)/2] ^= 0xff
	f, err := os.OpenFile(entry, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt(code[len(code)/2:len(code)/2+1], int64(len(code)/2))
	f.Close()
	os.Chtimes(entry, fi.ModTime(), fi.ModTime())
	auth = newCacheAuth(dir)
	if err := auth.sweep(moduleDirOf(entry)); err != nil {
		t.Fatal(err)
	}
	if got := cacheEntries(t, dir); len(got) != 0 {
		t.Errorf("an entry changed in place after it was recorded was kept (hashed %d)", auth.hashed)
	}
}

// A key file replaced by a link is not read through the link (threat: a
// key elsewhere, which others may know or change, authenticating the
// cache's entries): a new key replaces the link.
func TestCacheKeyIsNotALink(t *testing.T) {
	dir := t.TempDir()
	if _, err := cacheKey(dir); err != nil {
		t.Fatal(err)
	}
	planted := filepath.Join(t.TempDir(), "known.key")
	known := bytes.Repeat([]byte{7}, keySize)
	os.WriteFile(planted, known, 0o600)
	path := filepath.Join(dir, keyDirName, keyFileName)
	os.Remove(path)
	if err := os.Symlink(planted, path); err != nil {
		t.Skipf("no symbolic links here: %v", err)
	}
	key, err := cacheKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(key, known) {
		t.Fatal("the key was read through a planted link")
	}
	if fi, err := os.Lstat(path); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("the link was not replaced by a key file (%v)", err)
	}
}
