package airlock

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/airlock-go/airlock/internal/bundle"
	"github.com/airlock-go/airlock/internal/manifest"
	"github.com/airlock-go/airlock/internal/oci"
	"github.com/airlock-go/airlock/internal/regfile"
	"github.com/airlock-go/airlock/internal/sandbox"
	"github.com/airlock-go/airlock/internal/signing"
	"github.com/airlock-go/airlock/internal/tier"
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
	manifest *manifest.Manifest
	dir      string // where its files are, for the process tier
	code     []byte // the entry's verified bytes, for the wasm tier
	// starter, if set, replaces the tier's starter: a verified process
	// plugin is unpacked afresh at every start (see freshStarter).
	starter tier.Starter
	// cleanup removes what loading created (an unpacked package).
	cleanup func()
	// assets are a wasm package's files, which its guest reads under
	// /plugin.
	assets fs.FS
	// note says how the plugin was verified, for the log only.
	note string
	// unsigned is set when the plugin runs without any check of its
	// code (an unsigned package or directory under allow_unsigned);
	// such a plugin runs in development mode.
	unsigned bool
}

// readSource finds and checks the plugin's code: a builtin, a signed
// package, or a directory (with its entry pinned by digest or not).
func (h *Host) readSource(ctx context.Context, conf PluginConfig) (*source, error) {
	switch {
	case conf.Builtin != "":
		b, ok := h.opts.Builtins[conf.Builtin]
		if !ok {
			return nil, fmt.Errorf("%w: no builtin plugin %q in this host", ErrInvalidConfig, conf.Builtin)
		}
		man, err := b.manifest(conf.Builtin)
		return &source{manifest: man, cleanup: func() {}, note: "builtin"}, err
	case conf.Package != "":
		data, sig, err := h.readPackage(ctx, &conf)
		if err != nil {
			return nil, err
		}
		b, err := h.openBundle(ctx, conf, data)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrNotTrusted, conf.Package, err)
		}
		v, err := h.verify(conf, data, sig, b)
		if err != nil {
			return nil, err
		}
		src, err := h.fromBundle(b, v.note)
		if src != nil {
			src.unsigned = v.unsigned
		}
		return src, err
	}
	man, err := manifest.Load(conf.Path)
	if err != nil {
		return nil, manifestError(err)
	}
	if man.Tier == manifest.TierBuiltin {
		return nil, fmt.Errorf("%w: %s: tier builtin cannot be loaded from a directory; register it in Options.Builtins", ErrInvalidConfig, man.File)
	}
	if conf.EntrySHA256 != "" {
		return h.pinnedDir(ctx, conf)
	}
	if h.policy.trust.RequireSigned && !conf.AllowUnsigned {
		return nil, fmt.Errorf("%w: %s is a plain directory and the host requires signed plugins (pin its entry with entry_sha256, or set allow_unsigned for development)", ErrNotTrusted, conf.Path)
	}
	return &source{manifest: man, dir: man.Dir, cleanup: func() {}, note: "directory, unsigned", unsigned: true}, nil
}

// verification is how a package was verified.
type verification struct {
	note     string // for the log
	unsigned bool   // no signature, allowed by allow_unsigned
}

// readPackage reads a package and its signature (nil if there is none),
// once: what is verified and run are these bytes. An oci:// package comes
// from the cache as the bytes the cache checked against the pinned digest
// (threat: a file changed between that check and a second read); conf's
// Package and Signature then name the cached files, for messages.
func (h *Host) readPackage(ctx context.Context, conf *PluginConfig) (data, sig []byte, err error) {
	if oci.IsReference(conf.Package) { // oci: fetch the pinned artifact into the cache; verified like a local file
		f, err := (&oci.Cache{Dir: h.opts.OCICacheDir, Client: h.ociClient(), Log: h.log}).Get(ctx, conf.Package)
		if err != nil {
			return nil, nil, ociError(err)
		}
		conf.Package, conf.Signature = f.Package, f.Signature
		return f.Data, f.Sig, nil
	}
	data, err = readBounded(conf.Package, 512<<20)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: package: %v", ErrInvalidConfig, err)
	}
	sigPath := conf.Signature
	if sigPath == "" {
		sigPath = conf.Package + ".minisig"
	}
	sig, err = readBounded(sigPath, 64<<10)
	if errors.Is(err, os.ErrNotExist) {
		sig, err = nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%w: signature: %v", ErrNotTrusted, err)
	}
	return data, sig, nil
}

// verify checks a package's signature against the trust policy.
func (h *Host) verify(conf PluginConfig, data, sig []byte, b *bundle.Bundle) (verification, error) {
	if sig == nil && conf.AllowUnsigned {
		return verification{note: "UNSIGNED package (allow_unsigned: development mode)", unsigned: true}, nil
	}
	policy, err := h.policy.trust.policy()
	if err != nil {
		return verification{}, err
	}
	v, err := policy.Verify(data, sig, b.Manifest.Name, b.Manifest.Version, conf.Publishers)
	if err != nil {
		return verification{}, fmt.Errorf("%w: %s: %v", ErrNotTrusted, conf.Package, err)
	}
	if len(policy.Trusted) > 1 && len(conf.Publishers) == 0 && conf.Name == "" {
		// Threat: another trusted publisher's package put at this path,
		// which would get the grants meant for this plugin.
		h.log.Warn("plugin package pinned to no publisher and no name: a package any trusted key signed, put at its path, would load with its grants; set publishers or name",
			"plugin", b.Manifest.Name, "package", conf.Package, "key", v.KeyID)
	}
	return verification{note: fmt.Sprintf("signed by key %s, package sha256:%s", v.KeyID, v.Digest)}, nil
}

// openBundle reads and checks a package within the plugin's start
// timeout (threat: a small package crafted to take the host minutes to
// read; the bundle's limits bound the work, the deadline bounds the time).
func (h *Host) openBundle(ctx context.Context, conf PluginConfig, data []byte) (*bundle.Bundle, error) {
	limits := h.policy.limits.over(conf.Limits).tier()
	ctx, cancel := context.WithTimeout(ctx, limits.StartTimeout)
	defer cancel()
	return bundle.OpenContext(ctx, data, bundle.Limits{})
}

// fromBundle prepares a verified package: wasm runs from the verified
// bytes; a process plugin from a private directory they are written to
// afresh at every start.
func (h *Host) fromBundle(b *bundle.Bundle, note string) (*source, error) {
	src := &source{manifest: b.Manifest, cleanup: func() {}, note: note}
	if b.Manifest.Tier == manifest.TierWasm {
		src.code, src.assets = b.Entry(), b.FS()
		return src, nil
	}
	inner, ok := h.starters[b.Manifest.Tier]
	if !ok {
		return nil, fmt.Errorf("%w: tier %q is not available in this host", ErrInvalidConfig, b.Manifest.Tier)
	}
	fs := &freshStarter{inner: inner, bundle: b, parent: h.runDir()}
	src.starter, src.cleanup = fs, fs.removeAll
	return src, nil
}

// freshStarter starts a verified package's process plugin from a new
// private directory, written from the verified bytes held in memory, at
// every start and restart; the previous instance's directory is removed.
//
// Threat: the run directory swapped, or its contents, between two starts
// (by another local user through a directory others can write, or by a
// plugin that could change it), so that a restart after a crash would run
// code that was never verified. Nothing of a directory survives its
// instance, and Unpack checks the owner and mode of every directory above
// the new one, so every start runs exactly the verified bytes.
type freshStarter struct {
	inner  tier.Starter
	bundle *bundle.Bundle
	parent string

	mu     sync.Mutex
	dir    string       // the current instance's directory
	remove func() error // removes dir
}

// Start unpacks the package into a new directory and starts the plugin
// from there, unpacking and starting within the start timeout.
func (s *freshStarter) Start(ctx context.Context, spec tier.Spec) (tier.Instance, error) {
	ctx, cancel := context.WithTimeout(ctx, spec.Limits.WithDefaults().StartTimeout)
	defer cancel()
	dir, remove, err := s.bundle.Unpack(ctx, s.parent)
	if err != nil {
		return nil, fmt.Errorf("%w: unpack the verified package: %v", ErrStart, err)
	}
	if err := giveTo(dir, spec.RunAs); err != nil {
		_ = remove()
		return nil, fmt.Errorf("%w: %v", ErrStart, err)
	}
	spec.Dir = dir
	inst, err := s.inner.Start(ctx, spec)
	if err != nil {
		_ = remove()
		return nil, err
	}
	s.mu.Lock()
	prev := s.remove
	s.dir, s.remove = dir, remove
	s.mu.Unlock()
	if prev != nil {
		_ = prev() // its instance has ended: restarts follow the end
	}
	return inst, nil
}

// giveTo hands a fresh run directory to the user a root host runs the
// plugin as (run_as), so that the plugin can read its own files; the host,
// root, can still remove it. Its parents must let that user through
// (Options.RunDir, e.g. /var/lib/airlock/run with mode 0711).
func giveTo(dir string, c *sandbox.Credential) error {
	if c == nil {
		return nil
	}
	return filepath.WalkDir(dir, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := os.Lchown(path, int(c.UID), int(c.GID)); err != nil {
			return fmt.Errorf("run_as: give %s to uid %d: %w", path, c.UID, err)
		}
		return nil
	})
}

// current returns the running instance's directory.
func (s *freshStarter) current() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dir
}

// removeAll removes the current directory, once the plugin is stopped.
func (s *freshStarter) removeAll() {
	s.mu.Lock()
	remove := s.remove
	s.dir, s.remove = "", nil
	s.mu.Unlock()
	if remove != nil {
		_ = remove()
	}
}

// pinnedDir reads a directory plugin once into memory, checks its entry
// against the operator's digest, and runs it from those bytes, so that
// swapping the file afterwards changes nothing.
func (h *Host) pinnedDir(ctx context.Context, conf PluginConfig) (*source, error) {
	data, err := bundle.Pack(conf.Path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}
	b, err := h.openBundle(ctx, conf, data)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotTrusted, err)
	}
	// Threat: the pin covers the entry, not plugin.toml. An interpreter
	// and its arguments come from the unpinned manifest, so whoever can
	// edit it runs code nobody verified (["/bin/sh", "-c", "..."]),
	// leaving the pinned script unread. Only a signed package binds them.
	if run := b.Manifest.RunHere(); len(run.Interpreter) > 0 {
		return nil, fmt.Errorf("%w: plugin %s (%s): entry_sha256 pins only the entry, but the entry runs with interpreter %q from the unpinned plugin.toml: pack and sign the plugin instead", ErrNotTrusted, b.Manifest.Name, conf.Path, run.Interpreter)
	}
	if got := signing.Digest(b.Entry()); got != conf.EntrySHA256 {
		return nil, fmt.Errorf("%w: the entry of plugin %s (%s) has sha256 %s, the configuration pins %s", ErrNotTrusted, b.Manifest.Name, conf.Path, got, conf.EntrySHA256)
	}
	return h.fromBundle(b, "directory, entry pinned by sha256")
}

// ociClient reaches registries with the credentials of docker login or
// oras login, if any (oci: internal/oci).
func (h *Host) ociClient() *oci.Client {
	cred, err := oci.DockerCredentials()
	if err != nil {
		h.log.Warn("oci: no registry credentials, fetching anonymously", "err", err)
	}
	return &oci.Client{Credential: cred}
}

// ociError sorts a failed fetch (oci): bytes that are not the pinned ones
// are not trusted; an unpinned reference is a configuration error.
func ociError(err error) error {
	switch {
	case errors.Is(err, oci.ErrDigestMismatch), errors.Is(err, oci.ErrNotPackage):
		return fmt.Errorf("%w: %w", ErrNotTrusted, err)
	case errors.Is(err, oci.ErrUnpinned), errors.Is(err, oci.ErrBadReference):
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return fmt.Errorf("%w: %w", ErrStart, err)
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

// readBounded reads a package or a signature: a regular file of at most
// max bytes (threat: a pipe planted beside a package would block Load for
// ever; internal/regfile).
func readBounded(path string, max int64) ([]byte, error) {
	return regfile.ReadCapped(path, max, true)
}
