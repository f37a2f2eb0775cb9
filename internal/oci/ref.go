// Package oci stores signed plugin packages as OCI artifacts in a
// registry and fetches them back, pinned by digest, into a private cache
// (docs/DISTRIBUTION.md). It moves bytes and checks digests; whether a
// package may run is decided by the host's trust policy, which checks the
// fetched package and signature exactly as it checks local files.
package oci

import (
	"errors"
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"
	"oras.land/oras-go/v2/registry"
)

// Scheme starts a package reference in host.toml: oci://HOST/REPO:TAG@sha256:HEX.
const Scheme = "oci://"

// Errors, for errors.Is.
var (
	// ErrUnpinned: a reference the host would load names no digest.
	ErrUnpinned = errors.New("oci reference is not pinned by digest")
	// ErrBadReference: a reference that cannot be parsed.
	ErrBadReference = errors.New("invalid oci reference")
	// ErrDigestMismatch: bytes from the registry (or the cache) are not
	// the ones their digest names.
	ErrDigestMismatch = errors.New("digest mismatch")
	// ErrNotPackage: the artifact is not an Airlock plugin package.
	ErrNotPackage = errors.New("not an Airlock plugin package")
	// ErrUnavailable: the artifact could not be fetched from its registry
	// and is not in the cache.
	ErrUnavailable = errors.New("oci artifact unavailable")
)

// Reference names an artifact: a repository in a registry, a tag and a
// digest, either of which may be empty.
type Reference struct {
	Registry   string // host[:port]
	Repository string
	Tag        string        // informational when Digest is set
	Digest     digest.Digest // sha256:HEX
}

// IsReference reports whether a package setting names an OCI artifact
// rather than a file.
func IsReference(s string) bool { return strings.HasPrefix(s, Scheme) }

// Parse parses HOST/REPO[:TAG][@sha256:HEX], with or without oci://.
func Parse(s string) (Reference, error) {
	rest := strings.TrimPrefix(s, Scheme)
	var r Reference
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		d, err := digest.Parse(rest[at+1:])
		if err != nil || d.Algorithm() != digest.SHA256 {
			return r, fmt.Errorf("%w %q: the digest must be sha256:<64 hex digits>", ErrBadReference, s)
		}
		r.Digest, rest = d, rest[:at]
	}
	ref, err := registry.ParseReference(rest)
	if err != nil {
		return Reference{}, fmt.Errorf("%w %q: %v", ErrBadReference, s, err)
	}
	r.Registry, r.Repository, r.Tag = ref.Registry, ref.Repository, ref.Reference
	return r, nil
}

// ParsePinned parses a reference the host may load: it must name a
// digest. Threat: a tag is a name the registry's owner (or whoever takes
// over the registry) can point at other bytes at any time; only a digest
// pins what the operator reviewed.
func ParsePinned(s string) (Reference, error) {
	r, err := Parse(s)
	if err != nil {
		return r, err
	}
	if r.Digest == "" {
		return r, fmt.Errorf("%w: %q: add @sha256:... (airlock push prints the pinned reference)", ErrUnpinned, s)
	}
	return r, nil
}

// String returns the reference with oci:// and every part it has.
func (r Reference) String() string {
	s := Scheme + r.Registry + "/" + r.Repository
	if r.Tag != "" {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + r.Digest.String()
	}
	return s
}

// repo returns HOST/REPO, as the client library takes it.
func (r Reference) repo() string { return r.Registry + "/" + r.Repository }
