package oci

import (
	"bytes"
	"context"
	"fmt"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry/remote"
)

// Push stores a package and its signature in ref's repository, as one
// artifact tagged ref.Tag, and returns ref pinned by the manifest's
// digest. name and version (from the package's manifest) are recorded as
// annotations, for people browsing the registry; the host trusts only the
// signature.
func (c *Client) Push(ctx context.Context, ref Reference, pkg, sig []byte, name, version string) (Reference, error) {
	if ref.Digest != "" {
		return ref, fmt.Errorf("%w %s: push to a tag, not a digest", ErrBadReference, ref)
	}
	if ref.Tag == "" {
		ref.Tag = version
	}
	repo, err := c.repository(ref)
	if err != nil {
		return ref, err
	}
	base := name + "-" + version + ".tar.gz"
	pkgDesc := blobDesc(PackageType, pkg, base)
	sigDesc := blobDesc(SignatureType, sig, base+".minisig")
	blobs := []struct {
		desc ocispec.Descriptor
		data []byte
	}{{ocispec.DescriptorEmptyJSON, ocispec.DescriptorEmptyJSON.Data}, {pkgDesc, pkg}, {sigDesc, sig}}
	for _, b := range blobs {
		if err := pushBlob(ctx, repo, b.desc, b.data); err != nil {
			return ref, fmt.Errorf("push to %s: %w", ref.Registry, err)
		}
	}
	man, err := newManifest(pkgDesc, sigDesc, name, version)
	if err != nil {
		return ref, err
	}
	desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(man), Size: int64(len(man)), ArtifactType: ArtifactType}
	if err := repo.PushReference(ctx, desc, bytes.NewReader(man), ref.Tag); err != nil {
		return ref, fmt.Errorf("push to %s: %w", ref.Registry, err)
	}
	ref.Digest = desc.Digest
	return ref, nil
}

func blobDesc(mediaType string, data []byte, title string) ocispec.Descriptor {
	return ocispec.Descriptor{
		MediaType:   mediaType,
		Digest:      digest.FromBytes(data),
		Size:        int64(len(data)),
		Annotations: map[string]string{ocispec.AnnotationTitle: title},
	}
}

// pushBlob uploads a blob unless the registry has it already.
func pushBlob(ctx context.Context, repo *remote.Repository, desc ocispec.Descriptor, data []byte) error {
	ok, err := repo.Blobs().Exists(ctx, desc)
	if err != nil || ok {
		return err
	}
	return repo.Blobs().Push(ctx, desc, bytes.NewReader(data))
}
