package wasm

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// cacheAuth authenticates the entries of wazero's on-disk compilation
// cache with an HMAC-SHA256 each, kept beside the entry as ENTRY.mac.
//
// Threat: machine code planted in the cache, which the host would map
// executable and run in its own process. wazero checks an entry only with
// a CRC, which anyone can recompute, so whoever could once write into the
// cache directory (while it was shared or not yet private, from a backup
// or image it was restored from, through a plugin granted write access
// to it, or by copying one module's valid entry over another's) chose
// code that every later host run would execute. Now an entry runs only if
// it carries a MAC under a key that only the host user can read
// (cacheKey), over the entry's name and bytes: an entry without one, or
// with a wrong one, is removed before wazero can read the cache, and
// wazero then compiles the module again. The name is in the MAC, so a
// valid entry moved or copied over another is refused too.
//
// The window between the check (sweep, before each compile) and wazero's
// read is closed by the directory: it is the host user's and not writable
// by others (privdir.Ensure checks it for every Starter, and this checks
// each subdirectory and entry), and no plugin can write it (process
// plugins are confined to their grants, wasm plugins see only their
// mounts), so only the host user or root could change an entry in
// between, and either could read the key anyway. The same holds for the
// window between wazero writing a new entry and seal adding its MAC.
type cacheAuth struct {
	dir string
	// checked holds the entries whose MAC was found valid, by path, with
	// the fileID and MAC they had then, so that an unchanged entry is
	// not hashed again at every compile.
	checked map[string]checkedEntry
	key     []byte
	hashed  int // entries hashed whole, for the tests
}

type checkedEntry struct {
	id  string
	mac []byte
}

const (
	macSuffix    = ".mac"
	seenSuffix   = ".seen"
	wazeroPrefix = "wazero-" // wazero's per-version subdirectories
	macDomain    = "airlock wasm compilation cache entry v1\x00"
	seenDomain   = "airlock wasm compilation cache entry checked v1\x00"
)

func newCacheAuth(dir string) *cacheAuth {
	return &cacheAuth{dir: dir, checked: map[string]checkedEntry{}}
}

// sweep removes every entry of the module cache directory moduleDir
// (modcache.go) that has no valid MAC, and anything else in wazero's
// subdirectories there that wazero could read and that is not the host
// user's regular file. Called before each compile of the module.
func (a *cacheAuth) sweep(moduleDir string) error {
	key, err := cacheKey(a.dir)
	if err != nil {
		return err
	}
	if !hmac.Equal(key, a.key) {
		a.key, a.checked = key, map[string]checkedEntry{}
	}
	return a.eachVersionDir(moduleDir, a.sweepDir)
}

// seal adds a MAC to each entry of moduleDir without one: the entries
// wazero wrote since the sweep. Called after each compile.
func (a *cacheAuth) seal(moduleDir string) error {
	return a.eachVersionDir(moduleDir, func(dir string) error {
		names, err := entries(dir)
		if err != nil {
			return err
		}
		for _, name := range names {
			path := filepath.Join(dir, name)
			if _, err := os.Lstat(path + macSuffix); err == nil || !errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err := a.sealEntry(path); err != nil {
				return fmt.Errorf("wasm compilation cache: seal %s: %w", path, err)
			}
		}
		return nil
	})
}

// eachVersionDir calls fn with each of wazero's subdirectories of
// moduleDir, after removing any that is not the host user's private
// directory (wazero creates them again).
func (a *cacheAuth) eachVersionDir(moduleDir string, fn func(dir string) error) error {
	list, err := os.ReadDir(moduleDir)
	if err != nil {
		return fmt.Errorf("wasm compilation cache: %w", err)
	}
	for _, d := range list {
		if !strings.HasPrefix(d.Name(), wazeroPrefix) {
			continue
		}
		path := filepath.Join(moduleDir, d.Name())
		fi, err := os.Lstat(path)
		if err != nil {
			return fmt.Errorf("wasm compilation cache: %w", err)
		}
		if !fi.IsDir() || private(fi) != nil {
			if err := os.RemoveAll(path); err != nil {
				return fmt.Errorf("wasm compilation cache: remove %s: %w", path, err)
			}
			// wazero made it when the module's cache was opened, and
			// writes its entries there.
			if err := os.Mkdir(path, 0o700); err != nil {
				return fmt.Errorf("wasm compilation cache: %w", err)
			}
			continue
		}
		if err := fn(path); err != nil {
			return err
		}
	}
	return nil
}

// sweepDir removes the entries of dir without a valid MAC, and MACs
// without an entry.
func (a *cacheAuth) sweepDir(dir string) error {
	names, err := entries(dir)
	if err != nil {
		return err
	}
	for _, name := range names {
		path := filepath.Join(dir, name)
		if a.valid(path) {
			continue
		}
		delete(a.checked, path)
		for _, p := range []string{path, path + macSuffix, path + seenSuffix} {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("wasm compilation cache: remove unauthenticated entry: %w", err)
			}
		}
	}
	return nil
}

// valid reports whether the entry at path is the host user's regular file
// and carries a valid MAC.
func (a *cacheAuth) valid(path string) bool {
	fi, err := os.Lstat(path)
	if err != nil || !fi.Mode().IsRegular() || !ownedByHost(fi) {
		return false
	}
	want, err := readMAC(path + macSuffix)
	if err != nil {
		return false
	}
	id := fileID(fi)
	if c, ok := a.checked[path]; ok && id != "" && c.id == id && bytes.Equal(c.mac, want) {
		return true
	}
	if id != "" && a.seen(path, id, want) {
		a.checked[path] = checkedEntry{id: id, mac: want}
		return true
	}
	got, gotID, err := a.mac(path)
	if err != nil || !hmac.Equal(got, want) {
		return false
	}
	a.checked[path] = checkedEntry{id: gotID, mac: want}
	a.markSeen(path, gotID, want)
	return true
}

// A host that found an entry's MAC valid records that beside it, in
// ENTRY.seen: a MAC over the entry's name, its fileID then and its MAC,
// so that the next host to start the module need not hash the entry
// again (24 MB for a Go-built module: about 20 ms). The fileID holds the
// entry's change time, which only root can set, so an entry changed or
// replaced since has another ID, and is hashed again. The record is
// under the cache's key: whoever cannot read the key cannot make one.

// seen reports whether ENTRY.seen records that the entry at path, with
// fileID id and MAC mac, was checked.
func (a *cacheAuth) seen(path, id string, mac []byte) bool {
	got, err := readMAC(path + seenSuffix)
	if err != nil {
		return false
	}
	want, err := a.seenMAC(path, id, mac)
	return err == nil && hmac.Equal(got, want)
}

// markSeen writes ENTRY.seen for the entry at path, checked with fileID
// id and MAC mac. Errors are dropped: the record only saves time.
func (a *cacheAuth) markSeen(path, id string, mac []byte) {
	if id == "" {
		return
	}
	sum, err := a.seenMAC(path, id, mac)
	if err == nil {
		writeMAC(path+seenSuffix, sum)
	}
}

func (a *cacheAuth) seenMAC(path, id string, mac []byte) ([]byte, error) {
	rel, err := filepath.Rel(a.dir, path)
	if err != nil {
		return nil, err
	}
	h := a.hash()
	io.WriteString(h, seenDomain+filepath.ToSlash(rel)+"\x00"+id+"\x00")
	h.Write(mac)
	return h.Sum(nil), nil
}

// sealEntry writes the MAC of the entry at path beside it, under a
// temporary name renamed into place.
func (a *cacheAuth) sealEntry(path string) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() || !ownedByHost(fi) {
		return os.Remove(path)
	}
	sum, id, err := a.mac(path)
	if err != nil {
		return err
	}
	if err := writeMAC(path+macSuffix, sum); err != nil {
		return err
	}
	a.checked[path] = checkedEntry{id: id, mac: sum}
	a.markSeen(path, id, sum)
	return nil
}

// writeMAC writes sum at path, under a temporary name renamed into place.
func writeMAC(path string, sum []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.mactmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(sum)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	return err
}

// mac computes the MAC of the entry at path, over its name relative to
// the cache directory and its bytes, and returns it with the fileID of
// what it read.
func (a *cacheAuth) mac(path string) ([]byte, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, "", err
	}
	rel, err := filepath.Rel(a.dir, path)
	if err != nil {
		return nil, "", err
	}
	a.hashed++
	h := a.hash()
	io.WriteString(h, macDomain+filepath.ToSlash(rel)+"\x00")
	if _, err := io.Copy(h, f); err != nil {
		return nil, "", err
	}
	return h.Sum(nil), fileID(fi), nil
}

func (a *cacheAuth) hash() hash.Hash { return hmac.New(sha256.New, a.key) }

// readMAC reads a MAC file: the host user's regular file of 32 bytes.
func readMAC(path string) ([]byte, error) {
	return readChecked(path, func(fi os.FileInfo) error {
		if fi.Size() != sha256.Size || !ownedByHost(fi) {
			return fmt.Errorf("%s is not a MAC", path)
		}
		return nil
	})
}

// entries lists the names in dir that wazero would read as entries: the
// hex of a 32-byte key. Its temporary files (NAME.*.tmp) and the MACs are
// not entries; wazero never reads them.
func entries(dir string) ([]string, error) {
	list, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("wasm compilation cache: %w", err)
	}
	var names []string
	for _, d := range list {
		if isEntryName(d.Name()) {
			names = append(names, d.Name())
		}
	}
	return names, nil
}

func isEntryName(name string) bool {
	if len(name) != 2*sha256.Size {
		return false
	}
	for _, c := range name {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
