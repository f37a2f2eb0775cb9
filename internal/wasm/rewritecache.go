package wasm

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/airlock-go/airlock/internal/wasm/instrument"
)

// With an on-disk cache, the instrumented form of each module is kept
// there too, so that a warm start does not rewrite the module again
// (instrument.Module took about half of a warm start of a 3.7 MB
// Go-built module). Each rewrite is one file,
// CacheDir/instrumented-vN/HASH.wasm, where N is instrument.Version and
// HASH the SHA-256 of the original module; the file holds an HMAC-SHA256
// and then the rewritten module.
//
// Threat: a planted rewrite, a module without the fuel checks (a guest
// that can never be stopped) or any other code, served as the rewrite
// of a module the host trusts. The MAC is keyed by the cache's key
// (cacheKey, readable by the host user only) over the file's name and
// the module's bytes: a file without a valid one is ignored and replaced,
// and the module rewritten again. The name is in the MAC, so the valid
// rewrite of one module copied over another's name is refused too.
// Unlike compiled entries, a rewrite is read once, checked and used from
// memory, so there is no window between the check and the use.
const (
	rewritePrefix = "instrumented-v"
	rewriteDomain = "airlock wasm instrumented module v1\x00"
	// A rewrite read back is at most rewriteGrowth times its original
	// plus rewriteSlack bytes, well above what the rewriter makes
	// (threat: a huge file planted in the cache, read whole into
	// memory before its MAC fails). A larger real rewrite would only
	// be made again at every start.
	rewriteGrowth = 8
	rewriteSlack  = 1 << 20
)

// instrumented returns code rewritten by instrument.Module, from the
// on-disk cache when a valid rewrite is there. A rewrite made here is
// stored for the next start; failing to store it is not an error, as
// the cache only saves time.
func (s *Starter) instrumented(code []byte) ([]byte, error) {
	if s.auth == nil {
		return instrument.Module(code)
	}
	path := rewritePath(s.dir, code)
	key, err := cacheKey(s.dir)
	if err != nil {
		return instrument.Module(code)
	}
	if out, err := readRewrite(key, s.dir, path, rewriteGrowth*int64(len(code))+rewriteSlack); err == nil {
		return out, nil
	}
	out, err := instrument.Module(code)
	if err != nil {
		return nil, err
	}
	storeRewrite(key, s.dir, path, out)
	return out, nil
}

// rewritePath is where the rewrite of code is kept under the cache dir.
func rewritePath(dir string, code []byte) string {
	sum := sha256.Sum256(code)
	return filepath.Join(dir, rewriteDirName(), hex.EncodeToString(sum[:])+".wasm")
}

// rewriteDirName names the directory of the current version's rewrites.
func rewriteDirName() string { return fmt.Sprintf("%s%d", rewritePrefix, instrument.Version) }

// removeOldRewrites removes the rewrites of other versions of the
// rewriter, which nothing reads now.
func removeOldRewrites(dir string) error {
	list, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("wasm compilation cache: %w", err)
	}
	for _, d := range list {
		if strings.HasPrefix(d.Name(), rewritePrefix) && d.Name() != rewriteDirName() {
			if err := os.RemoveAll(filepath.Join(dir, d.Name())); err != nil {
				return fmt.Errorf("wasm compilation cache: %w", err)
			}
		}
	}
	return nil
}

// readRewrite reads the rewrite at path and returns its module if the
// file is the host user's regular file of at most limit bytes and its
// MAC is valid.
func readRewrite(key []byte, cacheDir, path string, limit int64) ([]byte, error) {
	data, err := readChecked(path, func(fi os.FileInfo) error {
		if !ownedByHost(fi) || fi.Size() < sha256.Size || fi.Size() > limit {
			return fmt.Errorf("%s is not a rewrite", path)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	mac, module := data[:sha256.Size], data[sha256.Size:]
	want, err := rewriteMAC(key, cacheDir, path, module)
	if err != nil {
		return nil, err
	}
	if !hmac.Equal(mac, want) {
		return nil, fmt.Errorf("%s: MAC does not match", path)
	}
	markUsed(path, time.Now())
	return module, nil
}

// storeRewrite writes module with its MAC at path, under a temporary name
// renamed into place, so that a host sharing the cache reads a whole file
// or none. Errors are dropped: the next start rewrites the module again.
func storeRewrite(key []byte, cacheDir, path string, module []byte) {
	// Threat: the directory replaced by a link or opened to others,
	// through which the file would be written where others read it, or
	// swapped after it is written.
	if err := ensurePrivateDir(filepath.Dir(path)); err != nil {
		return
	}
	mac, err := rewriteMAC(key, cacheDir, path, module)
	if err != nil {
		return
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return
	}
	defer os.Remove(tmp.Name())
	_, err = io.Copy(tmp, io.MultiReader(bytes.NewReader(mac), bytes.NewReader(module)))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		os.Rename(tmp.Name(), path)
	}
}

// rewriteMAC is the MAC of a rewrite: over its name relative to the cache
// directory and the module's bytes.
func rewriteMAC(key []byte, cacheDir, path string, module []byte) ([]byte, error) {
	rel, err := filepath.Rel(cacheDir, path)
	if err != nil {
		return nil, err
	}
	h := hmac.New(sha256.New, key)
	io.WriteString(h, rewriteDomain+filepath.ToSlash(rel)+"\x00")
	h.Write(module)
	return h.Sum(nil), nil
}
