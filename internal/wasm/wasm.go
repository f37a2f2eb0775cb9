// Package wasm is the wasm tier: plugins compiled to WebAssembly, run
// inside the host's process under wazero (pure Go, no cgo), with no
// ambient authority. docs/ABI.md describes the contract between host and
// guest.
package wasm

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/airlock-go/airlock/internal/privdir"
	"github.com/airlock-go/airlock/internal/tier"
	"github.com/airlock-go/airlock/internal/wasm/instrument"
)

// Options configure a Starter.
type Options struct {
	// CacheDir holds compiled machine code across runs, so that a warm
	// start does not compile again. Empty means os.UserCacheDir()/airlock/
	// wasm-cache; "-" disables the disk cache.
	//
	// # Notes
	//
	// Cached machine code is code the host executes: the directory must be
	// writable by the host's user only. Start refuses a directory that
	// others can write. Each entry is authenticated with an HMAC-SHA256
	// keyed by airlock-key/cache-hmac-sha256.key inside the directory
	// (created 0600 in a 0700 directory, replaced if others could read
	// it): an entry without a valid MAC is removed before it can be
	// loaded, and the module compiled again. The instrumented form of
	// each module is kept there too, under the same kind of MAC
	// (rewritecache.go).
	CacheDir string
	// CacheMaxAge is how long the on-disk cache keeps a module no host
	// has started (its machine code and its rewrite): 0 means
	// DefaultCacheMaxAge, a negative value forever (prune.go).
	CacheMaxAge time.Duration
}

// Starter starts wasm plugins. It shares compiled code among the plugins
// it starts, in memory and on disk.
type Starter struct {
	dir    string                  // the on-disk cache; "" without one
	memory wazero.CompilationCache // without an on-disk cache: every module's

	// mu orders compiles, so that each one's sweep, compile and seal of
	// the on-disk cache do not interleave with another's, and guards
	// modules.
	mu      sync.Mutex
	auth    *cacheAuth              // nil without an on-disk cache
	modules map[string]*moduleCache // open module caches, by directory name (modcache.go)
}

// NewStarter returns a Starter using opts.
func NewStarter(opts Options) (*Starter, error) {
	s := &Starter{modules: map[string]*moduleCache{}}
	dir := opts.CacheDir
	if dir == "-" {
		s.memory = wazero.NewCompilationCache()
		return s, nil
	}
	if dir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			base = os.TempDir()
		}
		dir = filepath.Join(base, "airlock", "wasm-cache")
	}
	// Threat: planted machine code in the cache, which the host would
	// execute.
	if err := privdir.Ensure(dir); err != nil {
		return nil, fmt.Errorf("wasm compilation cache: %w", err)
	}
	if err := removeLegacyLayout(dir); err != nil {
		return nil, err
	}
	if err := removeOldRewrites(dir); err != nil {
		return nil, err
	}
	if err := prune(dir, opts.CacheMaxAge, time.Now()); err != nil {
		return nil, err
	}
	// Threat: the same, by whoever could write into the directory once;
	// see cacheAuth. Each module's entries are checked when it compiles.
	s.auth = newCacheAuth(dir)
	s.dir = dir
	return s, nil
}

// Close releases the compilation caches.
func (s *Starter) Close(ctx context.Context) error {
	if s.memory != nil {
		return s.memory.Close(ctx)
	}
	s.mu.Lock()
	open := s.modules
	s.modules = map[string]*moduleCache{}
	s.mu.Unlock()
	for _, m := range open {
		m.cache.Close(ctx)
	}
	return nil
}

// CacheDir returns the on-disk cache directory, or "" if there is none.
func (s *Starter) CacheDir() string { return s.dir }

// Start compiles (or finds compiled) the plugin's module, checks it against
// the contract before any of its code runs, instantiates it and runs the
// handshake.
func (s *Starter) Start(ctx context.Context, spec tier.Spec) (tier.Instance, error) {
	spec.Limits = spec.Limits.WithDefaults()
	code := spec.Code
	if code == nil {
		run := spec.Manifest.RunHere()
		path := filepath.Join(spec.Dir, filepath.FromSlash(run.Entry))
		var err error
		code, err = readModule(path, spec)
		if err != nil {
			return nil, err
		}
	}
	// Threat: a guest that never returns. The module is instrumented to
	// call into the host at regular intervals (interrupt.go), so wazero's
	// costlier WithCloseOnContextDone is not needed. It is rewritten
	// before wazero decodes it, which also refuses the modules whose
	// declared counts would make wazero's decoder allocate gigabytes.
	code, err := s.instrumented(code)
	switch {
	case errors.Is(err, instrument.ErrUnsupported):
		return nil, fmt.Errorf("%w: %s uses WebAssembly the wasm tier does not run (docs/ABI.md): %w", tier.ErrStart, spec.Manifest.RunHere().Entry, err)
	case err != nil:
		return nil, fmt.Errorf("%w: %s is not a valid WebAssembly module: %w", tier.ErrStart, spec.Manifest.RunHere().Entry, err)
	}
	cache, err := s.acquire(code)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", tier.ErrStart, err)
	}
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().
		WithCompilationCache(cache.cache).
		WithMemoryLimitPages(pages(spec.Limits.MaxMemory)))
	p, err := newPlugin(ctx, s, cache, rt, code, spec)
	if err != nil {
		rt.Close(ctx)
		s.release(ctx, cache)
		return nil, err
	}
	return p, nil
}

// Compile instruments code and compiles it into the cache, running none
// of it, so that a later Start of the same module finds it compiled (a
// deploy step, or CI before tests built with the race detector, whose
// compiles take ten times longer).
func (s *Starter) Compile(ctx context.Context, code []byte) error {
	code, err := s.instrumented(code)
	if err != nil {
		return err
	}
	m, err := s.acquire(code)
	if err != nil {
		return err
	}
	defer s.release(ctx, m)
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCompilationCache(m.cache))
	defer rt.Close(ctx)
	compiled, err := s.compile(ctx, rt, m, code)
	if err != nil {
		return err
	}
	return compiled.Close(ctx)
}

// compile compiles code in rt, whose compilation cache is m. With an
// on-disk cache, the module's entries are authenticated before wazero can
// read them, and the entries it writes are sealed after (cacheAuth).
func (s *Starter) compile(ctx context.Context, rt wazero.Runtime, m *moduleCache, code []byte) (wazero.CompiledModule, error) {
	if s.auth == nil {
		compiled, err := rt.CompileModule(ctx, code)
		if err != nil {
			return nil, invalidModule{err}
		}
		return compiled, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := m.restore(); err != nil {
		return nil, fmt.Errorf("wasm compilation cache: %w", err)
	}
	if err := s.auth.sweep(m.dir); err != nil {
		return nil, err
	}
	compiled, err := rt.CompileModule(ctx, code)
	if err != nil {
		return nil, invalidModule{err}
	}
	if err := s.auth.seal(m.dir); err != nil {
		compiled.Close(ctx)
		return nil, err
	}
	return compiled, nil
}

// invalidModule is wazero's refusal to compile a module.
type invalidModule struct{ err error }

func (e invalidModule) Error() string { return e.err.Error() }

func readModule(path string, spec tier.Spec) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		hint := ""
		if errors.Is(err, os.ErrNotExist) && spec.Manifest.Build != nil {
			hint = " (build it first: airlock build " + spec.Dir + ")"
		}
		return nil, fmt.Errorf("%w: module %s: %v%s", tier.ErrStart, spec.Manifest.RunHere().Entry, err, hint)
	}
	defer f.Close()
	const maxModule = 256 << 20
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", tier.ErrStart, err)
	}
	if st.Size() > maxModule {
		return nil, fmt.Errorf("%w: module %s is larger than %d bytes", tier.ErrStart, path, maxModule)
	}
	code := make([]byte, st.Size())
	if _, err := f.ReadAt(code, 0); err != nil {
		return nil, fmt.Errorf("%w: read %s: %v", tier.ErrStart, path, err)
	}
	return code, nil
}

// pages converts a byte limit to 64 KiB wasm pages (at least 1, at most
// the 4 GiB a 32-bit memory can address).
func pages(bytes int64) uint32 {
	p := bytes / 65536
	switch {
	case p < 1:
		return 1
	case p > 65536:
		return 65536
	}
	return uint32(p)
}

var randSource = rand.Reader
