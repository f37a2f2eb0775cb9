package signing

import (
	"bytes"
	"errors"
	"testing"

	"aead.dev/minisign"
)

// Signatures tampered with, or made by the trusted key over a trusted
// comment that is not exactly Airlock's, are refused (regression cases:
// these held when the red-team run tried them).
func TestSignatureTricks(t *testing.T) {
	pubPath, keyPath, _ := keys(t, "acme", "")
	pub, _ := LoadPublicKey(pubPath)
	key, _ := LoadPrivateKey(keyPath, "")
	pkg := []byte("package bytes")
	d := Digest(pkg)
	sig := Sign(key, pkg, "pay", "1.0.0")
	lines := bytes.SplitAfter(sig, []byte("\n"))
	p := Policy{Trusted: []minisign.PublicKey{pub}}
	withComment := func(c string) []byte { return minisign.SignWithComments(key, pkg, c, "x") }
	cases := []struct {
		name string
		sig  []byte
		want error
	}{
		{"truncated", bytes.Join(lines[:2], nil), ErrBadSignature},
		{"empty", []byte{}, ErrUnsigned},
		{"garbage after the signature", append(bytes.Clone(sig), []byte("AAAA\n")...), ErrBadSignature},
		{"another tool's comment", withComment("timestamp:1 file:pay.tar.gz"), ErrMismatch},
		{"an extra field", withComment("airlock-package name=pay version=1.0.0 sha256=" + d + " admin=1"), ErrMismatch},
		{"a field twice, version left out", withComment("airlock-package name=pay name=pay sha256=" + d), ErrMismatch},
		{"the digest under another key", withComment("airlock-package name=pay version=1.0.0 digest=" + d), ErrMismatch},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := p.Verify(pkg, c.sig, "pay", "1.0.0", nil); !errors.Is(err, c.want) {
				t.Errorf("err = %v, want %v", err, c.want)
			}
		})
	}
}
