package wasm

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A module no host has started for the maximum age leaves the cache (its
// machine code and its rewrite) when a Starter opens it; a module started
// since stays, and so does everything when a prune ran within the day or
// the maximum age is negative.
func TestPruneRemovesUnusedModules(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	a, b := answerModule(t, "42"), answerModule(t, "41")
	entryA, entryB := compileInto(t, dir, a), compileInto(t, dir, b)
	rewriteA, rewriteB := rewritePath(dir, mustRead(t, a)), rewritePath(dir, mustRead(t, b))
	long := time.Now().Add(-40 * 24 * time.Hour)
	for _, p := range []string{moduleDirOf(entryA), rewriteA} {
		if err := os.Chtimes(p, long, long); err != nil {
			t.Fatal(err)
		}
	}
	stamp := filepath.Join(dir, pruneStamp)
	cases := []struct {
		name   string
		maxAge time.Duration
		stamp  time.Time // the last prune
		gone   bool
	}{
		{"never pruned", -1, long, false},
		{"pruned within the day", 0, time.Now().Add(-time.Hour), false},
		{"kept for longer", 60 * 24 * time.Hour, long, false},
		{"default age", 0, long, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := os.Chtimes(stamp, c.stamp, c.stamp); err != nil {
				t.Fatal(err)
			}
			if _, err := NewStarter(Options{CacheDir: dir, CacheMaxAge: c.maxAge}); err != nil {
				t.Fatal(err)
			}
			for _, p := range []string{moduleDirOf(entryA), rewriteA} {
				if _, err := os.Lstat(p); (err != nil) != c.gone {
					t.Errorf("%s: gone %v, want %v", p, err != nil, c.gone)
				}
			}
			for _, p := range []string{entryB, rewriteB} {
				if _, err := os.Lstat(p); err != nil {
					t.Errorf("a module in use was pruned: %v", err)
				}
			}
		})
	}
	if got := runAnswer(t, dir, a); got != "42" {
		t.Errorf("after the prune: %s", got)
	}
}

// Starting a module marks its directory and rewrite used, so that a prune
// keeps them.
func TestStartMarksModuleUsed(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	a := answerModule(t, "42")
	entry := compileInto(t, dir, a)
	rewrite := rewritePath(dir, mustRead(t, a))
	long := time.Now().Add(-40 * 24 * time.Hour)
	for _, p := range []string{moduleDirOf(entry), rewrite} {
		os.Chtimes(p, long, long)
	}
	runAnswer(t, dir, a)
	for _, p := range []string{moduleDirOf(entry), rewrite} {
		fi, err := os.Lstat(p)
		if err != nil || time.Since(fi.ModTime()) > time.Hour {
			t.Errorf("%s was not marked used (%v)", p, err)
		}
	}
}

// A module directory pruned by another host while this one holds the
// module's cache open is made again at the next compile, which then
// succeeds and writes its entry.
func TestCompileRestoresAPrunedModuleDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	a := answerModule(t, "42")
	s, err := NewStarter(Options{CacheDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(t.Context())
	code, err := s.instrumented(mustRead(t, a))
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.acquire(code)
	if err != nil {
		t.Fatal(err)
	}
	defer s.release(t.Context(), m)
	if err := os.RemoveAll(m.dir); err != nil {
		t.Fatal(err)
	}
	if err := s.Compile(t.Context(), mustRead(t, a)); err != nil {
		t.Fatalf("compile after the prune: %v", err)
	}
	if len(cacheEntries(t, m.dir)) != 1 {
		t.Errorf("no entry was written in the restored directory")
	}
}

// A prune follows no link planted in the cache: the old files of a
// directory a link points to stay, and the links are removed.
func TestPruneFollowsNoLink(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	if _, err := NewStarter(Options{CacheDir: dir}); err != nil {
		t.Fatal(err)
	}
	elsewhere := t.TempDir()
	victim := filepath.Join(elsewhere, "old.txt")
	os.WriteFile(victim, []byte("keep me"), 0o600)
	long := time.Now().Add(-40 * 24 * time.Hour)
	os.Chtimes(victim, long, long)
	links := []string{filepath.Join(dir, rewriteDirName()), filepath.Join(dir, modulePrefix+"link")}
	for _, l := range links {
		if err := os.Symlink(elsewhere, l); err != nil {
			t.Skipf("no symbolic links here: %v", err)
		}
	}
	stampTarget := filepath.Join(elsewhere, "stamp")
	os.WriteFile(stampTarget, nil, 0o600)
	os.Chtimes(stampTarget, long, long)
	os.Remove(filepath.Join(dir, pruneStamp))
	os.Symlink(stampTarget, filepath.Join(dir, pruneStamp))
	if err := prune(dir, 0, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(victim); err != nil {
		t.Errorf("a file behind a link was pruned: %v", err)
	}
	if fi, err := os.Stat(stampTarget); err != nil || time.Since(fi.ModTime()) < time.Hour {
		t.Errorf("the file behind the stamp's link was changed (%v)", err)
	}
	for _, l := range append(links, filepath.Join(dir, pruneStamp)) {
		if fi, err := os.Lstat(l); err == nil && fi.Mode()&os.ModeSymlink != 0 {
			t.Errorf("the link %s is still there", l)
		}
	}
}
