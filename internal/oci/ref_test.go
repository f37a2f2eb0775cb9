package oci

import (
	_ "crypto/sha512" // digest.SHA512
	"errors"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

const hexA = "a3f1c0ffee00000000000000000000000000000000000000000000000000beef"

func TestParse(t *testing.T) {
	cases := []struct {
		in     string
		pinned bool
		want   Reference
		err    error
	}{
		{"oci://reg.example:5000/team/hello:1.0@sha256:" + hexA, true, Reference{"reg.example:5000", "team/hello", "1.0", "sha256:" + hexA}, nil},
		{"reg.example/hello@sha256:" + hexA, true, Reference{"reg.example", "hello", "", "sha256:" + hexA}, nil},
		{"oci://reg.example/hello:1.0", true, Reference{}, ErrUnpinned},
		{"oci://reg.example/hello:1.0", false, Reference{"reg.example", "hello", "1.0", ""}, nil},
		{"oci://reg.example/hello@sha512:" + hexA, true, Reference{}, ErrBadReference},
		{"oci://reg.example/hello@sha256:abc", true, Reference{}, ErrBadReference},
		{"oci://hello:1.0@sha256:" + hexA, true, Reference{}, ErrBadReference},
		{"oci://reg.example/Hello:1.0@sha256:" + hexA, true, Reference{}, ErrBadReference},
	}
	for _, c := range cases {
		parse := Parse
		if c.pinned {
			parse = ParsePinned
		}
		got, err := parse(c.in)
		if !errors.Is(err, c.err) || (c.err == nil && got != c.want) {
			t.Errorf("Parse(%q) = %+v, %v; want %+v, %v", c.in, got, err, c.want, c.err)
		}
		if c.err == ErrUnpinned && !strings.Contains(err.Error(), c.in) {
			t.Errorf("Parse(%q): the error %q does not name the reference", c.in, err)
		}
	}
}

func TestReferenceString(t *testing.T) {
	in := "oci://reg.example:5000/team/hello:1.0@sha256:" + hexA
	r, err := Parse(in)
	if err != nil || r.String() != in {
		t.Errorf("String() = %q, %v; want %q", r.String(), err, in)
	}
}

func TestPlainHTTPOnlyForLoopback(t *testing.T) {
	cases := map[string]bool{
		"localhost:5000":      true,
		"127.0.0.1:5000":      true,
		"127.1.2.3":           true,
		"[::1]:5000":          true,
		"reg.example:5000":    false,
		"10.0.0.1:5000":       false,
		"localhost.evil:5000": false,
		"[::2]:5000":          false,
	}
	for host, want := range cases {
		if got := isLoopback(host); got != want {
			t.Errorf("isLoopback(%q) = %v, want %v", host, got, want)
		}
		repo, err := (&Client{}).repository(Reference{Registry: host, Repository: "r"})
		if err != nil || repo.PlainHTTP != want {
			t.Errorf("%s: PlainHTTP = %v, %v; want %v", host, repo.PlainHTTP, err, want)
		}
		repo, _ = (&Client{PlainHTTP: true}).repository(Reference{Registry: host, Repository: "r"})
		if !repo.PlainHTTP {
			t.Errorf("%s: PlainHTTP not set by the explicit option", host)
		}
	}
}

func TestParseManifest(t *testing.T) {
	good := `{"schemaVersion":2,"artifactType":"` + ArtifactType + `","layers":[` +
		`{"mediaType":"` + PackageType + `","digest":"sha256:` + hexA + `","size":3},` +
		`{"mediaType":"` + SignatureType + `","digest":"sha256:` + hexA + `","size":3}]}`
	cases := []struct {
		name, manifest, say string
	}{
		{"good", good, ""},
		{"another artifact type", strings.Replace(good, ArtifactType, "application/vnd.oci.image.config.v1+json", 1), "artifact type"},
		{"no package", strings.Replace(good, PackageType, "x", 1), "0 package layers"},
		{"two packages", strings.Replace(good, SignatureType, PackageType, 1), "2 package layers"},
		{"huge package", strings.Replace(good, `"size":3}`, `"size":99999999999}`, 1), "over the limit"},
		{"huge signature", strings.Replace(good, `"size":3}]`, `"size":70000}]`, 1), "over the limit"},
		{"not json", "{", "manifest"},
		{"negative size", strings.Replace(good, `"size":3}`, `"size":-1}`, 1), "-1 bytes"},
		{"malformed layer digest", strings.Replace(good, "sha256:"+hexA, "sha256:xyz", 1), "layer digest"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := parseManifest([]byte(c.manifest))
			if c.say == "" && err != nil {
				t.Fatal(err)
			}
			if c.say != "" && (!errors.Is(err, ErrNotPackage) || !strings.Contains(err.Error(), c.say)) {
				t.Errorf("err = %v, want ErrNotPackage saying %q", err, c.say)
			}
		})
	}
}

// Threat: digest-algorithm confusion. A manifest may name a layer by a
// sha512 digest that its bytes do match; the host checks sha256 only, so
// such a layer is refused rather than checked with an algorithm the pin
// never covered.
func TestCheckBlobOnlySHA256(t *testing.T) {
	data := []byte("the package")
	desc := ocispec.Descriptor{MediaType: PackageType, Digest: digest.SHA512.FromBytes(data), Size: int64(len(data))}
	if err := checkBlob("package", data, desc); !errors.Is(err, ErrDigestMismatch) {
		t.Errorf("a sha512-named layer: err = %v, want ErrDigestMismatch", err)
	}
	desc.Digest = digest.FromBytes(data)
	if err := checkBlob("package", data, desc); err != nil {
		t.Errorf("the sha256-named layer: %v", err)
	}
}
