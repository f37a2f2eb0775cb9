package oci

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/airlock-go/airlock/internal/privdir"
)

// Cache keeps packages fetched from registries on disk, by the digest
// that pins them, so that a host starts without its registry.
//
// The cache holds bytes checked against their digests, not a verdict: the
// host checks the package's signature against its trust policy at every
// load, from the cache as from a local file, so a key revoked after a
// package was cached still refuses it.
type Cache struct {
	// Dir is the cache's directory (DefaultCacheDir() if empty). It must
	// be the host user's and not writable by others.
	Dir string
	// Client reaches the registries (nil: the zero Client).
	Client *Client
	// Log receives the warnings: a moved tag, an unreachable registry
	// whose cached copy serves, a damaged entry fetched again.
	Log *slog.Logger
	// TagTimeout bounds the check of a cached artifact's tag (default 5s),
	// so that a host whose registry is down starts all the same.
	TagTimeout time.Duration
}

// Files are a cached package and its signature. The signature file does
// not exist if the artifact has none.
type Files struct {
	Package, Signature string
	Digest             digest.Digest
	// Data and Sig are the package's and the signature's bytes as they
	// were checked against the manifest (Sig nil without a signature):
	// the host uses these, never reading the files again (threat: a file
	// changed between the digest check and a second read).
	Data, Sig []byte
}

// DefaultCacheDir is os.UserCacheDir()/airlock/oci.
func DefaultCacheDir() string {
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	return filepath.Join(base, "airlock", "oci")
}

const (
	manifestFile  = "manifest.json"
	packageFile   = "package.tar.gz"
	signatureFile = packageFile + ".minisig"
)

// Get returns the files of a pinned reference (oci://HOST/REPO:TAG@sha256:HEX):
// from the cache if they are there, else from the registry, checked and
// then cached. A reference without a digest is refused (ErrUnpinned).
//
// If the reference has a tag, the registry is asked where it points now:
// a tag that has moved to another digest is logged as a warning (the
// pinned digest is what loads), and so is a registry that cannot be
// reached while the cached copy serves.
func (c *Cache) Get(ctx context.Context, s string) (Files, error) {
	ref, err := ParsePinned(s)
	if err != nil {
		return Files{}, err
	}
	dir, err := c.entryDir(ref.Digest)
	if err != nil {
		return Files{}, err
	}
	f, err := readEntry(dir, ref.Digest)
	if err == nil {
		c.checkTag(ctx, ref, true)
		return f, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		// Threat: a cache entry changed on disk. It is fetched afresh
		// rather than trusted (its signature is checked in any case).
		c.log().Warn("oci cache: damaged entry, fetching it again", "package", ref.String(), "dir", dir, "err", err)
		if err := os.RemoveAll(dir); err != nil {
			return Files{}, err
		}
	}
	p, err := c.client().Fetch(ctx, ref)
	if err != nil {
		return Files{}, c.explain(ctx, ref, err)
	}
	c.checkTag(ctx, ref, false)
	return writeEntry(dir, p)
}

// entryDir is the directory of one digest's entry; it makes and checks
// the directories above it. Threat: another local user planting or
// swapping entries through a directory they can write.
func (c *Cache) entryDir(d digest.Digest) (string, error) {
	root := c.Dir
	if root == "" {
		root = DefaultCacheDir()
	}
	algo := filepath.Join(root, d.Algorithm().String())
	for _, dir := range []string{root, algo} {
		if err := privdir.Ensure(dir); err != nil {
			return "", fmt.Errorf("oci cache: %w", err)
		}
	}
	return filepath.Join(algo, d.Encoded()), nil
}

// checkTag warns if ref's tag no longer points to its digest, or, when
// the cached copy serves, if the registry cannot be reached.
func (c *Cache) checkTag(ctx context.Context, ref Reference, cached bool) {
	if ref.Tag == "" {
		return
	}
	timeout := c.TagTimeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	now, err := c.client().TagDigest(ctx, ref)
	switch {
	case err != nil && cached:
		c.log().Warn("oci: registry unreachable, serving the cached verified copy", "package", ref.String(), "registry", ref.Registry, "err", err)
	case err != nil:
		c.log().Warn("oci: the tag could not be resolved; the pinned digest is used", "package", ref.String(), "tag", ref.Tag, "err", err)
	case now != ref.Digest:
		c.log().Warn("oci: the tag moved; the pinned digest is used", "package", ref.String(), "tag", ref.Tag, "tag_now", now.String(), "pinned", ref.Digest.String())
	}
}

// explain adds to a failed fetch where the tag points now, if it moved:
// the pinned digest may have been deleted from the registry after a new
// release was tagged.
func (c *Cache) explain(ctx context.Context, ref Reference, err error) error {
	if ref.Tag == "" || !errors.Is(err, ErrUnavailable) {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if now, terr := c.client().TagDigest(ctx, ref); terr == nil && now != ref.Digest {
		return fmt.Errorf("%w (the tag %q moved: it now points to %s)", err, ref.Tag, now)
	}
	return err
}

func (c *Cache) client() *Client {
	if c.Client == nil {
		return &Client{}
	}
	return c.Client
}

func (c *Cache) log() *slog.Logger {
	if c.Log == nil {
		return slog.Default()
	}
	return c.Log
}
