package wasm

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/airlock-go/airlock/internal/regfile"
)

// The key that authenticates the compilation cache's entries: 32 random
// bytes in keyDirName/keyFileName inside the cache directory.
const (
	keyDirName  = "airlock-key"
	keyFileName = "cache-hmac-sha256.key"
	keySize     = 32
)

// cacheKey returns the cache's key, creating it if there is none. The
// key's directory must be the host user's, mode 0700, and the key file
// the host user's, mode 0600, 32 bytes, not a link: checked on every use.
// A key that fails the check is replaced by a new one, which invalidates
// every entry (threat: a key that others could read or replace would let
// them forge entries). A directory that fails it is repaired if it is
// the host user's, and then its key is replaced too.
func cacheKey(dir string) ([]byte, error) {
	keyDir := filepath.Join(dir, keyDirName)
	fresh, err := ensureKeyDir(keyDir)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(keyDir, keyFileName)
	if !fresh {
		if key, err := readKey(path); err == nil {
			return key, nil
		}
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("wasm compilation cache key: %w", err)
	}
	return newKey(path)
}

// ensureKeyDir creates the key's directory, or checks it; fresh says its
// key cannot be trusted (the directory is new, or was not private).
func ensureKeyDir(keyDir string) (fresh bool, err error) {
	if err := os.Mkdir(keyDir, 0o700); err == nil {
		return true, nil
	} else if !errors.Is(err, fs.ErrExist) {
		return false, fmt.Errorf("wasm compilation cache key: %w", err)
	}
	fi, err := os.Lstat(keyDir)
	if err != nil {
		return false, fmt.Errorf("wasm compilation cache key: %w", err)
	}
	switch {
	case !fi.IsDir():
		// A link or a file in its place: replace it.
		if err := os.Remove(keyDir); err != nil {
			return false, fmt.Errorf("wasm compilation cache key: %s is not a directory: %w", keyDir, err)
		}
		return ensureKeyDir(keyDir)
	case !ownedByHost(fi):
		return false, fmt.Errorf("wasm compilation cache key: %s: %v", keyDir, private(fi))
	case private(fi) != nil:
		if err := os.Chmod(keyDir, 0o700); err != nil {
			return false, fmt.Errorf("wasm compilation cache key: %w", err)
		}
		return true, nil
	}
	return false, nil
}

// readKey reads the key at path if it passes the checks.
func readKey(path string) ([]byte, error) {
	return readChecked(path, func(fi os.FileInfo) error {
		if fi.Size() != keySize {
			return fmt.Errorf("%s is not a %d-byte file", path, keySize)
		}
		if err := private(fi); err != nil {
			return fmt.Errorf("%s: %v", path, err)
		}
		return nil
	})
}

// readChecked reads the file at path whole if it is a regular file, not
// a link (regfile.Open: threat, a link or pipe planted in the cache, a
// device or a file that never ends), that passes check once opened.
func readChecked(path string, check func(os.FileInfo) error) ([]byte, error) {
	f, err := regfile.Open(path, false)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if err := check(fi); err != nil {
		return nil, err
	}
	data := make([]byte, fi.Size())
	if _, err := io.ReadFull(f, data); err != nil {
		return nil, err
	}
	return data, nil
}

// newKey writes a new random key at path (mode 0600), written whole
// under a temporary name and linked into place, so that a concurrent
// host sharing the cache reads either no key or a whole one; if another
// got there first, its key is used.
func newKey(path string) ([]byte, error) {
	key := make([]byte, keySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("wasm compilation cache key: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "key-*.tmp")
	if err != nil {
		return nil, fmt.Errorf("wasm compilation cache key: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(key)
	if err == nil {
		err = tmp.Chmod(0o600)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Link(tmp.Name(), path)
		if err != nil && !errors.Is(err, fs.ErrExist) {
			// No hard links here: a host racing this one may then
			// replace this key with its own, which only makes the
			// entries sealed with this one compile again.
			err = os.Rename(tmp.Name(), path)
		}
	}
	if errors.Is(err, fs.ErrExist) {
		return readKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("wasm compilation cache key: %w", err)
	}
	if got, err := readKey(path); err != nil || !bytes.Equal(got, key) {
		return nil, fmt.Errorf("wasm compilation cache key: %s changed as it was written", path)
	}
	return key, nil
}
