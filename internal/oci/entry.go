package oci

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/airlock-go/airlock/internal/regfile"
)

// readEntry reads a cache entry and checks it as a fetch is checked: the
// manifest against the pinned digest, the files against the manifest.
// A missing entry is fs.ErrNotExist.
func readEntry(dir string, pinned digest.Digest) (Files, error) {
	if fi, err := os.Lstat(dir); err == nil && !fi.IsDir() {
		return Files{}, fmt.Errorf("%w: cache entry %s is not a directory (%v)", ErrDigestMismatch, dir, fi.Mode().Type())
	}
	man, err := readFileCapped(filepath.Join(dir, manifestFile), maxManifest)
	if err != nil {
		return Files{}, err
	}
	if d := digest.FromBytes(man); d != pinned {
		return Files{}, fmt.Errorf("%w: cached manifest has digest %s, want %s", ErrDigestMismatch, d, pinned)
	}
	a, err := parseManifest(man)
	if err != nil {
		return Files{}, err
	}
	f := Files{Package: filepath.Join(dir, packageFile), Signature: filepath.Join(dir, signatureFile), Digest: pinned}
	if f.Data, err = checkFile(f.Package, "cached package", a.pkg); err != nil {
		return Files{}, err
	}
	if a.sig != nil {
		if f.Sig, err = checkFile(f.Signature, "cached signature", *a.sig); err != nil {
			return Files{}, err
		}
	}
	return f, nil
}

// checkFile reads a cached file and returns its bytes if they are the
// blob desc describes.
func checkFile(path, what string, desc ocispec.Descriptor) ([]byte, error) {
	data, err := readFileCapped(path, desc.Size)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s missing", ErrDigestMismatch, what)
	}
	if err != nil {
		return nil, err
	}
	return data, checkBlob(what, data, desc)
}

// readFileCapped reads a cache file: a regular file, not a link (threat:
// a pipe planted in the cache would block the host for ever; a link
// would lead the check to a file someone else may change).
func readFileCapped(path string, max int64) ([]byte, error) {
	f, err := regfile.Open(path, false)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readCapped(f, max)
}

// writeEntry writes a fetched package into a new private directory and
// renames it into place, so that an entry is whole or absent.
func writeEntry(dir string, p *Package) (Files, error) {
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "."+filepath.Base(dir)+".tmp-")
	if err != nil {
		return Files{}, fmt.Errorf("oci cache: %w", err)
	}
	defer os.RemoveAll(tmp) // after a successful rename, nothing is left there
	files := map[string][]byte{manifestFile: p.Manifest, packageFile: p.Data}
	if p.Signature != nil {
		files[signatureFile] = p.Signature
	}
	for name, data := range files {
		if err := writeNew(filepath.Join(tmp, name), data); err != nil {
			return Files{}, fmt.Errorf("oci cache: %w", err)
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		// Another host process may have cached it first: use theirs if
		// it checks out.
		if f, rerr := readEntry(dir, p.Digest); rerr == nil {
			return f, nil
		}
		return Files{}, fmt.Errorf("oci cache: %w", err)
	}
	return readEntry(dir, p.Digest)
}

func writeNew(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
