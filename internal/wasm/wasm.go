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

	"github.com/tetratelabs/wazero"

	"github.com/airlock-go/airlock/internal/privdir"
	"github.com/airlock-go/airlock/internal/tier"
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
	// others can write.
	CacheDir string
}

// Starter starts wasm plugins. It shares compiled code among the plugins
// it starts, in memory and on disk.
type Starter struct {
	cache wazero.CompilationCache
	dir   string
}

// NewStarter returns a Starter using opts.
func NewStarter(opts Options) (*Starter, error) {
	s := &Starter{}
	switch dir := opts.CacheDir; dir {
	case "-":
		s.cache = wazero.NewCompilationCache()
	default:
		if dir == "" {
			base, err := os.UserCacheDir()
			if err != nil {
				base = os.TempDir()
			}
			dir = filepath.Join(base, "airlock", "wasm-cache")
		}
		// Threat: planted machine code in the cache, which the host
		// would execute.
		if err := privdir.Ensure(dir); err != nil {
			return nil, fmt.Errorf("wasm compilation cache: %w", err)
		}
		c, err := wazero.NewCompilationCacheWithDir(dir)
		if err != nil {
			return nil, fmt.Errorf("wasm compilation cache %s: %w", dir, err)
		}
		s.cache, s.dir = c, dir
	}
	return s, nil
}

// Close releases the compilation cache.
func (s *Starter) Close(ctx context.Context) error { return s.cache.Close(ctx) }

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
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().
		WithCompilationCache(s.cache).
		WithCloseOnContextDone(true).
		WithMemoryLimitPages(pages(spec.Limits.MaxMemory)))
	p, err := newPlugin(ctx, rt, code, spec)
	if err != nil {
		rt.Close(ctx)
		return nil, err
	}
	return p, nil
}

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
