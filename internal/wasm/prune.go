package wasm

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The on-disk cache keeps what a host compiles until no host has used it
// for MaxAge: each module's directory of machine code (24 MB for a
// Go-built module) and its rewrite. Without it the cache grows with every
// module and every version of it that any host ever ran. As with Go's
// build cache, a use marks the directory or rewrite file by its
// modification time (at most once an hour, so that a start writes
// nothing most of the time), and a Starter removes the unused ones when
// it opens the cache, at most once a day.
const (
	// DefaultCacheMaxAge is how long an unused module stays in the
	// on-disk cache by default.
	DefaultCacheMaxAge = 30 * 24 * time.Hour
	pruneEvery         = 24 * time.Hour
	markEvery          = time.Hour
	// pruneStamp names the file whose modification time is the last
	// prune.
	pruneStamp = "pruned"
)

// prune removes the module directories and rewrites of dir not used for
// maxAge, if no prune ran in the last day. A module a running host still
// holds, but has not compiled for maxAge, is compiled again at its next
// start (compile restores its directory).
func prune(dir string, maxAge time.Duration, now time.Time) error {
	if maxAge < 0 {
		return nil
	}
	if maxAge == 0 {
		maxAge = DefaultCacheMaxAge
	}
	stamp := filepath.Join(dir, pruneStamp)
	if fi, err := os.Lstat(stamp); err == nil && fi.Mode().IsRegular() && now.Sub(fi.ModTime()) < pruneEvery {
		return nil
	}
	if err := touch(stamp, now); err != nil {
		return fmt.Errorf("wasm compilation cache: %w", err)
	}
	cutoff := now.Add(-maxAge)
	if err := pruneDirs(dir, modulePrefix, cutoff); err != nil {
		return err
	}
	return pruneFiles(filepath.Join(dir, rewriteDirName()), cutoff)
}

// pruneDirs removes the directories in dir named with prefix and last
// marked before cutoff.
func pruneDirs(dir, prefix string, cutoff time.Time) error {
	list, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("wasm compilation cache: %w", err)
	}
	for _, d := range list {
		if !strings.HasPrefix(d.Name(), prefix) {
			continue
		}
		path := filepath.Join(dir, d.Name())
		// A link or a file in a module directory's place is removed
		// whatever its age (acquire would replace it anyway); RemoveAll
		// removes a link, not what it points to.
		if fi, err := os.Lstat(path); err == nil && (!fi.IsDir() || fi.ModTime().Before(cutoff)) {
			if err := os.RemoveAll(path); err != nil {
				return fmt.Errorf("wasm compilation cache: prune: %w", err)
			}
		}
	}
	return nil
}

// pruneFiles removes the files in dir last marked before cutoff.
func pruneFiles(dir string, cutoff time.Time) error {
	fi, err := os.Lstat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("wasm compilation cache: %w", err)
	}
	if !fi.IsDir() {
		// Threat: a link planted in the cache, through which a prune
		// would remove the old files of a directory elsewhere.
		if err := os.Remove(dir); err != nil {
			return fmt.Errorf("wasm compilation cache: %w", err)
		}
		return nil
	}
	list, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("wasm compilation cache: %w", err)
	}
	for _, d := range list {
		path := filepath.Join(dir, d.Name())
		if fi, err := os.Lstat(path); err == nil && !fi.IsDir() && fi.ModTime().Before(cutoff) {
			if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("wasm compilation cache: prune: %w", err)
			}
		}
	}
	return nil
}

// markUsed sets the modification time of path, a module directory or a
// rewrite, to now if it is older than markEvery, so that prune keeps it.
// Errors are dropped: the mark only keeps the entry longer.
func markUsed(path string, now time.Time) {
	if fi, err := os.Lstat(path); err == nil && now.Sub(fi.ModTime()) >= markEvery {
		os.Chtimes(path, now, now)
	}
}

// touch creates path if it is missing and sets its modification time.
func touch(path string, now time.Time) error {
	// Threat: a link planted in its place, through which the host
	// would create or change a file elsewhere.
	if fi, err := os.Lstat(path); err == nil && !fi.Mode().IsRegular() {
		if err := os.RemoveAll(path); err != nil {
			return err
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	f.Close()
	return os.Chtimes(path, now, now)
}
