package oci

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry/remote"
)

// Fetch reads a package and its signature from the registry, by ref's
// digest if it has one, else by its tag. Every byte is checked against
// its digest: the manifest against ref's digest, the layers against the
// manifest (threat: a registry, a mirror or a network in between that
// serves other bytes than were pushed). Registry and network failures
// wrap ErrUnavailable, digest failures ErrDigestMismatch.
func (c *Client) Fetch(ctx context.Context, ref Reference) (*Package, error) {
	want := ref.Digest.String()
	if want == "" {
		want = ref.Tag
	}
	if want == "" {
		return nil, fmt.Errorf("%w %s: name a tag or a digest", ErrBadReference, ref)
	}
	repo, err := c.repository(ref)
	if err != nil {
		return nil, err
	}
	man, err := c.fetchManifest(ctx, repo, want)
	if err != nil {
		return nil, unavailable(ref, err)
	}
	p := &Package{Manifest: man, Digest: digest.FromBytes(man)}
	if ref.Digest != "" && p.Digest != ref.Digest {
		return nil, fmt.Errorf("%w: the registry's manifest for %s has digest %s", ErrDigestMismatch, ref, p.Digest)
	}
	a, err := parseManifest(man)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ref, err)
	}
	if p.Data, err = c.fetchBlob(ctx, repo, a.pkg, "package"); err != nil {
		return nil, blobError(ref, err)
	}
	if a.sig != nil {
		if p.Signature, err = c.fetchBlob(ctx, repo, *a.sig, "signature"); err != nil {
			return nil, blobError(ref, err)
		}
	}
	return p, nil
}

// TagDigest returns the digest ref's tag points to now.
func (c *Client) TagDigest(ctx context.Context, ref Reference) (digest.Digest, error) {
	repo, err := c.repository(ref)
	if err != nil {
		return "", err
	}
	desc, err := repo.Resolve(ctx, ref.Tag)
	if err != nil {
		return "", unavailable(ref, err)
	}
	return desc.Digest, nil
}

func (c *Client) fetchManifest(ctx context.Context, repo *remote.Repository, reference string) ([]byte, error) {
	ctx, g := c.guard(ctx, maxManifest)
	defer g.stop()
	desc, rc, err := repo.Manifests().FetchReference(ctx, reference)
	if err != nil {
		return nil, g.explain(err)
	}
	defer rc.Close()
	if desc.Size > maxManifest {
		return nil, fmt.Errorf("manifest of %d bytes, over the limit of %d", desc.Size, maxManifest)
	}
	data, err := readCapped(g.reader(rc), maxManifest)
	return data, g.explain(err)
}

// fetchBlob reads one layer, within the size the manifest gives it, and
// checks its digest.
func (c *Client) fetchBlob(ctx context.Context, repo *remote.Repository, desc ocispec.Descriptor, what string) ([]byte, error) {
	ctx, g := c.guard(ctx, desc.Size)
	defer g.stop()
	rc, err := repo.Blobs().Fetch(ctx, desc)
	if err != nil {
		return nil, g.explain(err)
	}
	defer rc.Close()
	data, err := readCapped(g.reader(rc), desc.Size)
	if err != nil {
		return nil, g.explain(err)
	}
	return data, checkBlob(what, data, desc)
}

// readCapped reads r to its end, refusing more than max bytes.
func readCapped(r io.Reader, max int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrDigestMismatch, max)
	}
	return data, nil
}

func unavailable(ref Reference, err error) error {
	return fmt.Errorf("%w: %s: registry %s: %w", ErrUnavailable, ref, ref.Registry, err)
}

func blobError(ref Reference, err error) error {
	if errors.Is(err, ErrDigestMismatch) {
		return fmt.Errorf("%s: %w", ref, err)
	}
	return unavailable(ref, err)
}
