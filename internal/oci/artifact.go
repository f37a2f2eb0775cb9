package oci

import (
	"encoding/json"
	"fmt"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// The artifact's media types (docs/DISTRIBUTION.md).
const (
	// ArtifactType marks an OCI image manifest as an Airlock plugin.
	ArtifactType = "application/vnd.airlock.plugin.v1"
	// PackageType is the layer holding the package (airlock pack).
	PackageType = "application/vnd.airlock.plugin.package.v1.tar+gzip"
	// SignatureType is the layer holding its minisign signature.
	SignatureType = "application/vnd.airlock.plugin.signature.v1.minisig"
)

// Size caps for what is read from a registry or the cache, checked before
// reading (threat: a registry answering with endless data to exhaust the
// host's memory). The package cap is the host's cap for a package file.
const (
	maxManifest  = 4 << 20
	maxPackage   = 512 << 20
	maxSignature = 64 << 10
)

// Package is a plugin package and its signature (nil if unsigned), with
// the manifest that binds them.
type Package struct {
	Data, Signature []byte
	// Manifest is the artifact's manifest, as stored; Digest is its digest.
	Manifest []byte
	Digest   digest.Digest
}

// artifact is a parsed manifest: the descriptors of the two layers.
type artifact struct {
	pkg ocispec.Descriptor
	sig *ocispec.Descriptor
}

// newManifest makes the manifest for a package and its signature. It
// has no creation time, so pushing the same files twice gives the same
// digest.
func newManifest(pkg, sig ocispec.Descriptor, name, version string) ([]byte, error) {
	m := ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: ArtifactType,
		Config:       ocispec.DescriptorEmptyJSON,
		Layers:       []ocispec.Descriptor{pkg, sig},
		Annotations: map[string]string{
			ocispec.AnnotationTitle:   name,
			ocispec.AnnotationVersion: version,
		},
	}
	return json.Marshal(m)
}

// parseManifest checks that a manifest describes an Airlock package: one
// package layer within the size cap, and at most one signature layer.
func parseManifest(data []byte) (artifact, error) {
	var m ocispec.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return artifact{}, fmt.Errorf("%w: manifest: %v", ErrNotPackage, err)
	}
	if m.ArtifactType != ArtifactType {
		return artifact{}, fmt.Errorf("%w: artifact type %q, want %q", ErrNotPackage, m.ArtifactType, ArtifactType)
	}
	var a artifact
	var pkgs int
	for _, l := range m.Layers {
		switch l.MediaType {
		case PackageType:
			a.pkg, pkgs = l, pkgs+1
		case SignatureType:
			if a.sig != nil {
				return artifact{}, fmt.Errorf("%w: more than one signature layer", ErrNotPackage)
			}
			a.sig = &l
		}
	}
	if pkgs != 1 {
		return artifact{}, fmt.Errorf("%w: %d package layers, want 1", ErrNotPackage, pkgs)
	}
	if a.pkg.Size < 0 || a.pkg.Size > maxPackage {
		return artifact{}, fmt.Errorf("%w: the package layer is %d bytes, over the limit of %d", ErrNotPackage, a.pkg.Size, maxPackage)
	}
	if a.sig != nil && (a.sig.Size < 0 || a.sig.Size > maxSignature) {
		return artifact{}, fmt.Errorf("%w: the signature layer is %d bytes, over the limit of %d", ErrNotPackage, a.sig.Size, maxSignature)
	}
	for _, d := range []digest.Digest{a.pkg.Digest, a.sigDigest()} {
		if d != "" && d.Validate() != nil {
			return artifact{}, fmt.Errorf("%w: layer digest %q", ErrNotPackage, d)
		}
	}
	return a, nil
}

func (a artifact) sigDigest() digest.Digest {
	if a.sig == nil {
		return ""
	}
	return a.sig.Digest
}

// checkBlob reports whether data is the blob desc describes.
func checkBlob(what string, data []byte, desc ocispec.Descriptor) error {
	if int64(len(data)) != desc.Size || digest.FromBytes(data) != desc.Digest {
		return fmt.Errorf("%w: the %s is not %s (%d bytes): got %s (%d bytes)", ErrDigestMismatch, what, desc.Digest, desc.Size, digest.FromBytes(data), len(data))
	}
	return nil
}
