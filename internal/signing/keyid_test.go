package signing

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"aead.dev/minisign"
)

// withKeyID returns pub with its key ID replaced by id. A minisign key ID
// is chosen by whoever makes the key, not derived from it: anyone can
// make a key that claims another publisher's ID.
func withKeyID(t *testing.T, pub minisign.PublicKey, id uint64) minisign.PublicKey {
	t.Helper()
	text, err := pub.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(text)), "\n")
	raw, err := base64.StdEncoding.DecodeString(lines[len(lines)-1])
	if err != nil {
		t.Fatal(err)
	}
	binary.LittleEndian.PutUint64(raw[2:10], id)
	var out minisign.PublicKey
	if err := out.UnmarshalText([]byte(base64.StdEncoding.EncodeToString(raw))); err != nil {
		t.Fatal(err)
	}
	return out
}

// sigWithKeyID returns sig claiming key ID id (the ID is not signed).
func sigWithKeyID(t *testing.T, sig []byte, id uint64) []byte {
	t.Helper()
	var s minisign.Signature
	if err := s.UnmarshalText(sig); err != nil {
		t.Fatal(err)
	}
	s.KeyID = id
	out, err := s.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Threat: key-ID confusion. A second trusted publisher (mallory) makes a
// key claiming acme's key ID; with both keys trusted, a plugin pinned to
// acme (publishers = [acme's ID]) must not accept mallory's signature, and
// acme's own signatures must not silently depend on the order of
// trust.keys. Two different trusted keys with one ID are refused.
func TestTrustedKeysSharingAnIDRefused(t *testing.T) {
	acmePubPath, acmeKeyPath, acmeID := keys(t, "acme", "")
	malPubPath, malKeyPath, _ := keys(t, "mallory", "")
	acmePub, _ := LoadPublicKey(acmePubPath)
	acmeKey, _ := LoadPrivateKey(acmeKeyPath, "")
	malPub, _ := LoadPublicKey(malPubPath)
	malKey, _ := LoadPrivateKey(malKeyPath, "")
	clash := withKeyID(t, malPub, acmePub.ID())

	pkg := []byte("package bytes")
	malSig := sigWithKeyID(t, Sign(malKey, pkg, "pay", "1.0.0"), acmePub.ID())
	acmeSig := Sign(acmeKey, pkg, "pay", "1.0.0")
	pin := []string{acmeID}
	for _, order := range [][]minisign.PublicKey{{acmePub, clash}, {clash, acmePub}} {
		p := Policy{Trusted: order}
		if v, err := p.Verify(pkg, malSig, "pay", "1.0.0", pin); !errors.Is(err, ErrAmbiguousKey) {
			t.Errorf("mallory's signature under acme's ID, pinned to acme: verified=%+v err=%v, want ErrAmbiguousKey", v, err)
		}
		if _, err := p.Verify(pkg, acmeSig, "pay", "1.0.0", pin); !errors.Is(err, ErrAmbiguousKey) {
			t.Errorf("acme's signature with a clashing key trusted: err=%v, want ErrAmbiguousKey", err)
		}
	}
	// The same key listed twice is not a clash.
	if _, err := (Policy{Trusted: []minisign.PublicKey{acmePub, acmePub}}).Verify(pkg, acmeSig, "pay", "1.0.0", pin); err != nil {
		t.Errorf("a key listed twice: %v", err)
	}
	// A key claiming a trusted ID but not itself trusted verifies nothing.
	if _, err := (Policy{Trusted: []minisign.PublicKey{acmePub}}).Verify(pkg, malSig, "pay", "1.0.0", pin); !errors.Is(err, ErrBadSignature) {
		t.Errorf("untrusted key claiming a trusted ID: err=%v, want ErrBadSignature", err)
	}
}
