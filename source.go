package airlock

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/airlock-go/airlock/internal/bundle"
	"github.com/airlock-go/airlock/internal/manifest"
	"github.com/airlock-go/airlock/internal/signing"
)

// ErrNotTrusted: a package's signature is missing, invalid, by an
// untrusted or revoked key, or for another package; or the package is
// revoked.
var ErrNotTrusted = errors.New("package not trusted")

// Trust is the operator's trust policy for packages (docs/PACKAGES.md).
type Trust struct {
	// Keys are the trusted publishers' public keys: paths to minisign .pub
	// files (relative to the host config) or the keys themselves.
	Keys []string `toml:"keys"`
	// RevokedKeys are key IDs whose signatures are refused.
	RevokedKeys []string `toml:"revoked_keys"`
	// RevokedDigests are sha256 digests of packages that are refused.
	RevokedDigests []string `toml:"revoked_digests"`
	// RequireSigned refuses plugins loaded from a plain directory unless
	// their entry is pinned with entry_sha256 or they allow_unsigned.
	RequireSigned bool `toml:"require_signed"`
}

func (t Trust) policy() (signing.Policy, error) {
	p := signing.Policy{RevokedKeys: t.RevokedKeys, RevokedDigests: t.RevokedDigests}
	for _, k := range t.Keys {
		key, err := signing.LoadPublicKey(k)
		if err != nil {
			return p, fmt.Errorf("%w: trusted key %q: %v", ErrInvalidConfig, k, err)
		}
		p.Trusted = append(p.Trusted, key)
	}
	return p, nil
}

// source is where a plugin's code comes from, read and checked.
type source struct {
	man  *manifest.Manifest
	dir  string // where its files are, for the process tier
	code []byte // the entry's verified bytes, for the wasm tier
	// cleanup removes what loading created (an unpacked package).
	cleanup func()
	// note says how the plugin was verified, for the log.
	note string
}

// readSource finds and checks the plugin's code: a builtin, a signed
// package, or a directory (with its entry pinned by digest or not).
func (h *Host) readSource(pc PluginConfig) (*source, error) {
	switch {
	case pc.Builtin != "":
		b, ok := h.opts.Builtins[pc.Builtin]
		if !ok {
			return nil, fmt.Errorf("%w: no builtin plugin %q in this host", ErrInvalidConfig, pc.Builtin)
		}
		man, err := b.manifest(pc.Builtin)
		return &source{man: man, cleanup: func() {}, note: "builtin"}, err
	case pc.Package != "":
		data, err := readBounded(pc.Package, 512<<20)
		if err != nil {
			return nil, fmt.Errorf("%w: package: %v", ErrInvalidConfig, err)
		}
		b, err := bundle.Open(data, bundle.Limits{})
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrNotTrusted, pc.Package, err)
		}
		note, err := h.verify(pc, data, b)
		if err != nil {
			return nil, err
		}
		return h.fromBundle(b, note)
	}
	man, err := manifest.Load(pc.Path)
	if err != nil {
		return nil, manifestError(err)
	}
	if man.Tier == manifest.TierBuiltin {
		return nil, fmt.Errorf("%w: %s: tier builtin cannot be loaded from a directory; register it in Options.Builtins", ErrInvalidConfig, man.File)
	}
	if pc.EntrySHA256 != "" {
		return h.pinnedDir(pc)
	}
	if h.opts.Trust.RequireSigned && !pc.AllowUnsigned {
		return nil, fmt.Errorf("%w: %s is a plain directory and the host requires signed plugins (pin its entry with entry_sha256, or set allow_unsigned for development)", ErrNotTrusted, pc.Path)
	}
	return &source{man: man, dir: man.Dir, cleanup: func() {}, note: "directory, unsigned"}, nil
}

// verify checks a package's signature against the trust policy.
func (h *Host) verify(pc PluginConfig, data []byte, b *bundle.Bundle) (string, error) {
	sigPath := pc.Signature
	if sigPath == "" {
		sigPath = pc.Package + ".minisig"
	}
	sig, err := readBounded(sigPath, 64<<10)
	if errors.Is(err, os.ErrNotExist) {
		sig, err = nil, nil
	}
	if err != nil {
		return "", fmt.Errorf("%w: signature: %v", ErrNotTrusted, err)
	}
	if sig == nil && pc.AllowUnsigned {
		return "UNSIGNED package (allow_unsigned: development mode)", nil
	}
	policy, err := h.opts.Trust.policy()
	if err != nil {
		return "", err
	}
	v, err := policy.Verify(data, sig, b.Manifest.Name, b.Manifest.Version, pc.Publishers)
	if err != nil {
		return "", fmt.Errorf("%w: %s: %v", ErrNotTrusted, pc.Package, err)
	}
	return fmt.Sprintf("signed by key %s, package sha256:%s", v.KeyID, v.Digest), nil
}

// fromBundle prepares a verified package: wasm runs from the verified
// bytes; a process plugin from a private directory they were written to.
func (h *Host) fromBundle(b *bundle.Bundle, note string) (*source, error) {
	src := &source{man: b.Manifest, cleanup: func() {}, note: note}
	if b.Manifest.Tier == manifest.TierWasm {
		src.code = b.Entry()
		return src, nil
	}
	dir, cleanup, err := b.Unpack(h.runDir())
	if err != nil {
		return nil, fmt.Errorf("%w: unpack: %v", ErrStart, err)
	}
	b.Manifest.Dir = dir
	src.dir, src.cleanup = dir, func() { _ = cleanup() }
	return src, nil
}

// pinnedDir reads a directory plugin once into memory, checks its entry
// against the operator's digest, and runs it from those bytes, so that
// swapping the file afterwards changes nothing.
func (h *Host) pinnedDir(pc PluginConfig) (*source, error) {
	data, err := bundle.Pack(pc.Path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}
	b, err := bundle.Open(data, bundle.Limits{})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotTrusted, err)
	}
	if got := signing.Digest(b.Entry()); got != pc.EntrySHA256 {
		return nil, fmt.Errorf("%w: entry of %s has sha256 %s, the configuration pins %s", ErrNotTrusted, pc.Path, got, pc.EntrySHA256)
	}
	return h.fromBundle(b, "directory, entry pinned by sha256")
}

func (h *Host) runDir() string {
	if h.opts.RunDir != "" {
		return h.opts.RunDir
	}
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	return filepath.Join(base, "airlock", "run")
}

func readBounded(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, max)
	}
	return data, nil
}
