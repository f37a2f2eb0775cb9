package wasm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tetratelabs/wazero"
)

// With an on-disk cache, each module's compiled code lives in a directory
// of its own, CacheDir/mod-HASH (HASH names the instrumented module's
// bytes), where a wazero compilation cache of its own keeps it. A host
// that starts a module checks and seals that directory only: what it
// costs does not grow with the number or size of the other modules in
// the cache, which every host start used to hash in full.

// modulePrefix starts the name of a module's cache directory.
const modulePrefix = "mod-"

// moduleCache is the compilation cache of one module, shared by the
// plugins a Starter runs from it.
type moduleCache struct {
	name  string // the directory's name under the cache; "" without a disk cache
	dir   string
	cache wazero.CompilationCache
	users int // plugins holding it; guarded by Starter.mu
	// versionDirs are the subdirectories wazero made in dir when the
	// cache was opened, where it writes its entries.
	versionDirs []string
}

// moduleDirName names the cache directory of the module code: the first
// 160 bits of its SHA-256 (wazero keys the entries inside by the whole
// module anyway).
func moduleDirName(code []byte) string {
	sum := sha256.Sum256(code)
	return modulePrefix + hex.EncodeToString(sum[:20])
}

// acquire returns the compilation cache for code, opening it if no plugin
// holds it yet. Each acquire is matched by a release.
func (s *Starter) acquire(code []byte) (*moduleCache, error) {
	if s.auth == nil {
		return &moduleCache{cache: s.memory}, nil
	}
	name := moduleDirName(code)
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := s.modules[name]; m != nil {
		m.users++
		return m, nil
	}
	dir := filepath.Join(s.dir, name)
	// Threat: a module directory that is a link, or that others can
	// write, through which planted code would be read.
	if err := ensurePrivateDir(dir); err != nil {
		return nil, fmt.Errorf("wasm compilation cache: %w", err)
	}
	c, err := wazero.NewCompilationCacheWithDir(dir)
	if err != nil {
		return nil, fmt.Errorf("wasm compilation cache %s: %w", dir, err)
	}
	versionDirs, err := filepath.Glob(filepath.Join(dir, wazeroPrefix+"*"))
	if err != nil {
		c.Close(context.Background())
		return nil, fmt.Errorf("wasm compilation cache %s: %w", dir, err)
	}
	m := &moduleCache{name: name, dir: dir, cache: c, users: 1, versionDirs: versionDirs}
	s.modules[name] = m
	return m, nil
}

// restore marks the module's directory used (prune.go), and makes it
// again, with wazero's subdirectories, if another host pruned it while
// this one held it open: wazero would fail to write its entries there.
func (m *moduleCache) restore() error {
	fi, err := os.Lstat(m.dir)
	if err == nil && fi.IsDir() {
		markUsed(m.dir, time.Now())
		return nil
	}
	for _, dir := range append([]string{m.dir}, m.versionDirs...) {
		if err := ensurePrivateDir(dir); err != nil {
			return err
		}
	}
	return nil
}

// release gives back a cache from acquire; the last plugin to release a
// module's cache closes it, which frees the compiled code it kept in
// memory.
func (s *Starter) release(ctx context.Context, m *moduleCache) {
	if m.name == "" {
		return
	}
	s.mu.Lock()
	m.users--
	last := m.users == 0
	if last {
		delete(s.modules, m.name)
	}
	s.mu.Unlock()
	if last {
		m.cache.Close(ctx)
	}
}

// ensurePrivateDir makes dir a directory of the host user's that others
// cannot write, removing whatever else is there.
func ensurePrivateDir(dir string) error {
	fi, err := os.Lstat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return os.Mkdir(dir, 0o700)
	case err != nil:
		return err
	case fi.IsDir() && private(fi) == nil:
		return nil
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	return os.Mkdir(dir, 0o700)
}

// removeLegacyLayout removes the entries of the layout before module
// directories (CacheDir/wazero-VERSION/ENTRY), which nothing reads now.
func removeLegacyLayout(dir string) error {
	list, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("wasm compilation cache: %w", err)
	}
	for _, d := range list {
		if strings.HasPrefix(d.Name(), wazeroPrefix) {
			if err := os.RemoveAll(filepath.Join(dir, d.Name())); err != nil {
				return fmt.Errorf("wasm compilation cache: %w", err)
			}
		}
	}
	return nil
}
