// Package warmwasm compiles the Go-built wasm modules that the tests load
// into the default compilation cache (os.UserCacheDir()/airlock/
// wasm-cache), built exactly as testutil.GoWasm builds them. Under the
// race detector wazero takes about a minute for each of these modules,
// without it a few seconds: CI runs this package's test without -race
// before the others (.ci/run), and the tests built with -race then find
// the modules compiled. It must be a test: wazero stamps its entries with
// its version as the binary sees it, which test binaries see as "dev".
package warmwasm

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/airlock-go/airlock/internal/wasm"
)

// modules are the Go packages the tests build with testutil.GoWasm and
// load with the default cache.
var modules = []string{
	"examples/plugins/hello-wasm-go",
	"internal/wasm/testdata/goguest",
	"internal/wasm/testdata/gosleep",
	"testdata/plugins/timerguest",
}

// Each module builds, is accepted by the instrumenter and compiles into
// the default cache, where a second compile finds it.
func TestModulesCompileIntoTheCache(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the Windows tests under wine load prebuilt modules with their own cache")
	}
	ctx := context.Background()
	s, err := wasm.NewStarter(wasm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	root, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	for _, pkg := range modules {
		t.Run(filepath.Base(pkg), func(t *testing.T) {
			out := filepath.Join(t.TempDir(), filepath.Base(pkg)+".wasm")
			// testutil.GoWasm's command: the same bytes, so the same
			// cache entry.
			cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", out, "./"+pkg)
			cmd.Dir = root
			cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("build %s: %v\n%s", pkg, err, b)
			}
			code, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Compile(ctx, code); err != nil {
				t.Fatalf("compile %s: %v", pkg, err)
			}
			before := cacheFiles(t, s.CacheDir())
			if err := s.Compile(ctx, code); err != nil {
				t.Fatalf("compile %s again: %v", pkg, err)
			}
			// Other packages' tests may add entries meanwhile: only a
			// rewrite says the module was not found.
			after := cacheFiles(t, s.CacheDir())
			for path, mtime := range before {
				if m, ok := after[path]; ok && !m.Equal(mtime) {
					t.Errorf("the second compile of %s wrote %s again: it did not find it", pkg, path)
				}
			}
		})
	}
}

// cacheFiles returns the files under dir with their modification times.
func cacheFiles(t *testing.T, dir string) map[string]time.Time {
	t.Helper()
	files := map[string]time.Time{}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err == nil {
			files[path] = fi.ModTime()
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}
