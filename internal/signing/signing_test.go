package signing

import (
	"bytes"
	_ "github.com/airlock-go/airlock/internal/testutil" // wine fix-ups for the Windows test build

	"aead.dev/minisign"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func keys(t *testing.T, name, password string) (pubPath, keyPath, id string) {
	t.Helper()
	pub, key, id, err := GenerateKey(t.TempDir(), name, password)
	if err != nil {
		t.Fatal(err)
	}
	return pub, key, id
}

func TestSignVerify(t *testing.T) {
	pubPath, keyPath, id := keys(t, "acme", "")
	otherPub, otherKey, otherID := keys(t, "other", "")
	pub, err := LoadPublicKey(pubPath)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := LoadPublicKey(otherPub)
	key, err := LoadPrivateKey(keyPath, "")
	if err != nil {
		t.Fatal(err)
	}
	okey, err := LoadPrivateKey(otherKey, "")
	if err != nil {
		t.Fatal(err)
	}
	pkg := []byte("package bytes v1")
	sig := Sign(key, pkg, "pay", "1.2.0")
	trusted := Policy{Trusted: []minisign.PublicKey{pub, other}}

	v, err := trusted.Verify(pkg, sig, "pay", "1.2.0", nil)
	if err != nil || v.KeyID != id || v.Digest != Digest(pkg) {
		t.Fatalf("verify = %+v, %v", v, err)
	}
	cases := []struct {
		name   string
		policy Policy
		pkg    []byte
		sig    []byte
		pname  string
		ver    string
		pin    []string
		want   error
	}{
		{"flipped byte", trusted, []byte("package bytes v2"), sig, "pay", "1.2.0", nil, ErrBadSignature},
		{"untrusted key", Policy{Trusted: []minisign.PublicKey{other}}, pkg, sig, "pay", "1.2.0", nil, ErrUntrustedKey},
		{"revoked key", Policy{Trusted: []minisign.PublicKey{pub}, RevokedKeys: []string{id}}, pkg, sig, "pay", "1.2.0", nil, ErrRevokedKey},
		{"revoked digest", Policy{Trusted: []minisign.PublicKey{pub}, RevokedDigests: []string{"sha256:" + Digest(pkg)}}, pkg, sig, "pay", "1.2.0", nil, ErrRevokedDigest},
		{"renamed", trusted, pkg, sig, "payroll", "1.2.0", nil, ErrMismatch},
		{"re-versioned", trusted, pkg, sig, "pay", "1.3.0", nil, ErrMismatch},
		{"unsigned", trusted, pkg, nil, "pay", "1.2.0", nil, ErrUnsigned},
		{"not pinned", trusted, pkg, sig, "pay", "1.2.0", []string{otherID}, ErrNotPinned},
		{"garbage signature", trusted, pkg, []byte("untrusted comment: x\nnot base64"), "pay", "1.2.0", nil, ErrBadSignature},
		{"signed by the other key for another package", trusted, pkg, Sign(okey, []byte("other"), "pay", "1.2.0"), "pay", "1.2.0", nil, ErrBadSignature},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := c.policy.Verify(c.pkg, c.sig, c.pname, c.ver, c.pin)
			if !errors.Is(err, c.want) {
				t.Errorf("err = %v, want %v", err, c.want)
			}
		})
	}
	// A pinned key that signed verifies.
	if _, err := trusted.Verify(pkg, sig, "pay", "1.2.0", []string{id}); err != nil {
		t.Errorf("pinned: %v", err)
	}
}

func TestTrustedCommentCannotBeEdited(t *testing.T) {
	_, keyPath, _ := keys(t, "acme", "")
	pubPath := strings.TrimSuffix(keyPath, ".key") + ".pub"
	pub, _ := LoadPublicKey(pubPath)
	key, _ := LoadPrivateKey(keyPath, "")
	pkg := []byte("v1")
	sig := Sign(key, pkg, "pay", "1.0.0")
	// Rewrite the trusted comment to claim a newer version.
	forged := bytes.Replace(sig, []byte("version=1.0.0"), []byte("version=9.9.9"), 1)
	if _, err := (Policy{Trusted: []minisign.PublicKey{pub}}).Verify(pkg, forged, "pay", "9.9.9", nil); !errors.Is(err, ErrBadSignature) {
		t.Errorf("forged trusted comment: err = %v", err)
	}
}

// An encrypted key (scrypt, slow by design: one derivation here) is
// written encrypted and refused without its password.
func TestEncryptedKey(t *testing.T) {
	_, keyPath, _ := keys(t, "enc", "s3cret")
	data, _ := os.ReadFile(keyPath)
	if !minisign.IsEncrypted(data) {
		t.Fatal("a key made with a password was written unencrypted")
	}
	if _, err := LoadPrivateKey(keyPath, ""); err == nil || !strings.Contains(err.Error(), "AIRLOCK_KEY_PASSWORD") {
		t.Errorf("loading without the password: %v", err)
	}
}

func TestKeygenRefusesToOverwrite(t *testing.T) {
	dir := t.TempDir()
	if _, _, _, err := GenerateKey(dir, "k", ""); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(filepath.Join(dir, "k.key"))
	if runtime.GOOS != "windows" && st.Mode().Perm() != 0o600 { // Windows has no such modes
		t.Errorf("secret key mode %v", st.Mode().Perm())
	}
	if _, _, _, err := GenerateKey(dir, "k", ""); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("second keygen: %v", err)
	}
}
