// Package signing signs plugin packages and verifies them against an
// operator's trust policy. Signatures are minisign signatures (ed25519),
// readable and checkable with the minisign tool itself; docs/PACKAGES.md
// says why.
package signing

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"aead.dev/minisign"

	"github.com/airlock-go/airlock/internal/regfile"
)

// Errors, for errors.Is.
var (
	ErrBadSignature  = errors.New("signature does not verify")
	ErrUntrustedKey  = errors.New("signed by a key that is not trusted")
	ErrRevokedKey    = errors.New("signed by a revoked key")
	ErrRevokedDigest = errors.New("package revoked")
	ErrMismatch      = errors.New("signature is for another package")
	ErrUnsigned      = errors.New("package is not signed")
	ErrNotPinned     = errors.New("signed by a key not pinned for this plugin")
	ErrAmbiguousKey  = errors.New("two different trusted keys have the same key ID")
)

// commentPrefix starts the trusted comment of every Airlock signature.
const commentPrefix = "airlock-package"

// Subject is what a signature binds: the whole package, by digest, and
// the plugin's name and version (threat: a signed older version passed off
// as a newer one, or one plugin's package as another's).
type Subject struct {
	Name    string
	Version string
	Digest  string // hex sha256 of the package's bytes
}

// Digest returns the hex sha256 of data.
func Digest(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

func (s Subject) comment() string {
	return fmt.Sprintf("%s name=%s version=%s sha256=%s", commentPrefix, s.Name, s.Version, s.Digest)
}

func parseComment(c string) (Subject, error) {
	fields := strings.Fields(c)
	if len(fields) != 4 || fields[0] != commentPrefix {
		return Subject{}, fmt.Errorf("%w: trusted comment %q is not an Airlock package signature", ErrMismatch, c)
	}
	var s Subject
	for _, f := range fields[1:] {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "name":
			s.Name = v
		case "version":
			s.Version = v
		case "sha256":
			s.Digest = v
		}
	}
	return s, nil
}

// KeyID formats a minisign key ID as operators see it (16 hex digits).
func KeyID(id uint64) string { return strings.ToUpper(strconv.FormatUint(id, 16)) }

// GenerateKey writes a new key pair: NAME.key (secret, mode 0600,
// encrypted with password unless it is empty) and NAME.pub, in dir. It
// refuses to overwrite either file.
func GenerateKey(dir, name, password string) (pubPath, keyPath string, id string, err error) {
	pub, priv, err := minisign.GenerateKey(rand.Reader)
	if err != nil {
		return "", "", "", err
	}
	var secret []byte
	if password != "" {
		secret, err = minisign.EncryptKey(password, priv)
	} else {
		secret, err = priv.MarshalText()
	}
	if err != nil {
		return "", "", "", err
	}
	pubText, err := pub.MarshalText()
	if err != nil {
		return "", "", "", err
	}
	keyPath = filepath.Join(dir, name+".key")
	pubPath = filepath.Join(dir, name+".pub")
	if err := writeNew(keyPath, secret, 0o600); err != nil {
		return "", "", "", err
	}
	pubFile := fmt.Sprintf("untrusted comment: airlock publisher key %s\n%s\n", KeyID(pub.ID()), pubText)
	if err := writeNew(pubPath, []byte(pubFile), 0o644); err != nil {
		os.Remove(keyPath)
		return "", "", "", err
	}
	return pubPath, keyPath, KeyID(pub.ID()), nil
}

func writeNew(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%s already exists: not overwriting a key", path)
		}
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// LoadPrivateKey reads a secret key file, decrypting it with password if
// it is encrypted.
func LoadPrivateKey(path, password string) (minisign.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return minisign.PrivateKey{}, err
	}
	if minisign.IsEncrypted(data) {
		if password == "" {
			return minisign.PrivateKey{}, fmt.Errorf("%s is encrypted: set its password (AIRLOCK_KEY_PASSWORD)", path)
		}
		return minisign.DecryptKey(password, data)
	}
	var key minisign.PrivateKey
	if err := key.UnmarshalText(data); err != nil {
		return key, fmt.Errorf("%s: %w", path, err)
	}
	return key, nil
}

// ParsePublicKey parses a public key given inline ("RWS...") or as the
// contents of a .pub file.
func ParsePublicKey(text string) (minisign.PublicKey, error) {
	var key minisign.PublicKey
	lines := strings.Split(strings.TrimSpace(text), "\n")
	if err := key.UnmarshalText([]byte(strings.TrimSpace(lines[len(lines)-1]))); err != nil {
		return key, fmt.Errorf("not a minisign public key: %w", err)
	}
	return key, nil
}

// LoadPublicKey reads a public key: a path to a .pub file, or the key
// itself. A file must be a regular file that only its owner, the host's
// user or root, can write (threat: a trusted key that others can replace
// with their own; a pipe in its place that blocks the host).
func LoadPublicKey(pathOrKey string) (minisign.PublicKey, error) {
	f, err := regfile.Open(pathOrKey, true)
	if errors.Is(err, fs.ErrNotExist) {
		return ParsePublicKey(pathOrKey)
	}
	if err != nil {
		return minisign.PublicKey{}, err
	}
	defer f.Close()
	if err := regfile.CheckTrusted(f); err != nil {
		return minisign.PublicKey{}, err
	}
	data, err := io.ReadAll(io.LimitReader(f, 64<<10))
	if err != nil {
		return minisign.PublicKey{}, err
	}
	return ParsePublicKey(string(data))
}

// Sign signs a package's bytes for the plugin it holds, returning the
// detached minisign signature.
func Sign(key minisign.PrivateKey, pkg []byte, name, version string) []byte {
	s := Subject{Name: name, Version: version, Digest: Digest(pkg)}
	return minisign.SignWithComments(key, pkg, s.comment(), "signature from airlock sign")
}

// Policy is the operator's trust: which publishers' keys are trusted,
// which are revoked, which packages are revoked.
type Policy struct {
	Trusted        []minisign.PublicKey
	RevokedKeys    []string // key IDs
	RevokedDigests []string // hex sha256
}

// Verified says who signed what.
type Verified struct {
	KeyID string
	Subject
}

// Verify checks a package's signature against the policy and that the
// signature is for this very package (digest, name and version), and
// returns who signed it. pin, if not empty, lists the key IDs allowed for
// this plugin.
func (p Policy) Verify(pkg, sig []byte, name, version string, pin []string) (Verified, error) {
	digest := Digest(pkg)
	if slices.Contains(p.RevokedDigests, digest) || slices.Contains(p.RevokedDigests, "sha256:"+digest) {
		return Verified{}, fmt.Errorf("%w: digest sha256:%s is on the revocation list", ErrRevokedDigest, digest)
	}
	if len(sig) == 0 {
		return Verified{}, ErrUnsigned
	}
	var s minisign.Signature
	if err := s.UnmarshalText(sig); err != nil {
		return Verified{}, fmt.Errorf("%w: unreadable signature: %v", ErrBadSignature, err)
	}
	id := KeyID(s.KeyID)
	if slices.Contains(p.RevokedKeys, id) {
		return Verified{}, fmt.Errorf("%w: key %s", ErrRevokedKey, id)
	}
	// Threat: key-ID confusion. A minisign key ID is chosen by whoever
	// makes the key, so one trusted publisher can make a key claiming
	// another's ID and pass that publisher's pin (publishers are pinned
	// by ID). Two different trusted keys with one ID are refused.
	var key *minisign.PublicKey
	for i := range p.Trusted {
		if p.Trusted[i].ID() != s.KeyID {
			continue
		}
		if key != nil && !key.Equal(p.Trusted[i]) {
			return Verified{}, fmt.Errorf("%w: key %s: remove one from the trusted keys", ErrAmbiguousKey, id)
		}
		key = &p.Trusted[i]
	}
	if key == nil {
		return Verified{}, fmt.Errorf("%w: key %s", ErrUntrustedKey, id)
	}
	if len(pin) > 0 && !slices.Contains(pin, id) {
		return Verified{}, fmt.Errorf("%w: key %s, pinned %v", ErrNotPinned, id, pin)
	}
	if !minisign.Verify(*key, pkg, sig) {
		return Verified{}, fmt.Errorf("%w: the package's bytes are not what key %s signed", ErrBadSignature, id)
	}
	subject, err := parseComment(s.TrustedComment)
	if err != nil {
		return Verified{}, err
	}
	switch {
	case subject.Digest != digest:
		return Verified{}, fmt.Errorf("%w: signed digest %s, package digest %s", ErrMismatch, subject.Digest, digest)
	case subject.Name != name || subject.Version != version:
		return Verified{}, fmt.Errorf("%w: signed for %s %s, the package holds %s %s", ErrMismatch, subject.Name, subject.Version, name, version)
	}
	return Verified{KeyID: id, Subject: subject}, nil
}
