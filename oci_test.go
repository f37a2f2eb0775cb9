package airlock_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airlock-go/airlock"
	"github.com/airlock-go/airlock/internal/bundle"
	"github.com/airlock-go/airlock/internal/oci"
	"github.com/airlock-go/airlock/internal/oci/ocitest"
	"github.com/airlock-go/airlock/internal/signing"
	"github.com/airlock-go/airlock/internal/testutil"
)

// pushPackage pushes a signed package file (and PKG.minisig) to
// registry/repoTag and returns the pinned oci:// reference.
func pushPackage(t *testing.T, reg *ocitest.Registry, repoTag, pkg string) oci.Reference {
	t.Helper()
	data, err := os.ReadFile(pkg)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := os.ReadFile(pkg + ".minisig")
	if err != nil {
		t.Fatal(err)
	}
	b, err := bundle.Open(data, bundle.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := oci.Parse(reg.Addr + "/" + repoTag)
	if err != nil {
		t.Fatal(err)
	}
	pinned, err := (&oci.Client{}).Push(ctxT(t, 30*time.Second), ref, data, sig, b.Manifest.Name, b.Manifest.Version)
	if err != nil {
		t.Fatal(err)
	}
	return pinned
}

// ociHost is a host trusting trust, with its own OCI cache (cache), its
// host.toml read from text naming package.
func ociHost(t *testing.T, cache, trust, pkgRef string) (*airlock.Host, *recorder, airlock.PluginConfig) {
	t.Helper()
	toml := "[trust]\nkeys = [\"" + filepath.ToSlash(trust) + "\"]\n\n[[plugin]]\npackage = \"" + pkgRef + "\"\ngrants = [\"log\"]\n"
	path := filepath.Join(t.TempDir(), "host.toml")
	if err := os.WriteFile(path, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := airlock.ReadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Plugins[0].Package != pkgRef {
		t.Fatalf("ReadConfig changed the reference to %q", cfg.Plugins[0].Package)
	}
	conf := cfg.Plugins[0]
	cfg.Plugins = nil
	h, rec := newHostWith(t, *cfg, airlock.Options{RunDir: filepath.Join(t.TempDir(), "run"), OCICacheDir: cache})
	return h, rec, conf
}

func TestOCIPackages(t *testing.T) {
	acme, mallory := newPublisher(t, "acme"), newPublisher(t, "mallory")
	dir := buildExample(t, "hello-go")
	pkg := packAndSign(t, dir, acme)

	t.Run("push then load by digest", func(t *testing.T) {
		reg := ocitest.Start(t)
		ref := pushPackage(t, reg, "plugins/hello-go:0.1.0", pkg)
		h, rec, conf := ociHost(t, filepath.Join(t.TempDir(), "oci"), acme.pub, ref.String())
		info, err := h.Load(ctxT(t, 30*time.Second), conf)
		if err != nil {
			t.Fatal(err)
		}
		out, err := greet.Run(ctxT(t, 20*time.Second), h, map[string]string{"name": "ada"})
		if err != nil || out["message"] != "hello, ada" {
			t.Errorf("greet = %v, %v", out, err)
		}
		if info.Version != "0.1.0" || !strings.Contains(rec.String(), "signed by key "+acme.id) {
			t.Errorf("version %s; log: %s", info.Version, rec)
		}
	})

	t.Run("tampered blob", func(t *testing.T) {
		reg := ocitest.Start(t)
		ref := pushPackage(t, reg, "plugins/hello-go:0.1.0", pkg)
		data, _ := os.ReadFile(pkg)
		blob := reg.BlobPath(digestOf(data))
		stored, err := os.ReadFile(blob)
		if err != nil {
			t.Fatal(err)
		}
		stored[len(stored)/2] ^= 0x40
		if err := os.WriteFile(blob, stored, 0o644); err != nil {
			t.Fatal(err)
		}
		h, _, conf := ociHost(t, filepath.Join(t.TempDir(), "oci"), acme.pub, ref.String())
		_, err = h.Load(ctxT(t, 30*time.Second), conf)
		if !errors.Is(err, airlock.ErrNotTrusted) || !errors.Is(err, oci.ErrDigestMismatch) || !strings.Contains(err.Error(), "package") {
			t.Fatalf("err = %v, want ErrNotTrusted: digest mismatch of the package", err)
		}
		t.Logf("refused: %v", err)
		if len(h.Plugins()) != 0 {
			t.Errorf("a plugin was loaded: %+v", h.Plugins())
		}
	})

	t.Run("moved tag", func(t *testing.T) {
		reg := ocitest.Start(t)
		v1 := pushPackage(t, reg, "plugins/hello-go:stable", pkg)
		manifest := strings.Replace(readExampleManifest(t, "hello-go"), `version = "0.1.0"`, `version = "0.2.0"`, 1)
		bin := testutil.GoBinary(t, "examples/plugins/hello-go")
		v2 := pushPackage(t, reg, "plugins/hello-go:stable", packAndSign(t, testutil.PluginDir(t, manifest, map[string]string{exe("bin/hello-go"): bin}), acme))
		h, rec, conf := ociHost(t, filepath.Join(t.TempDir(), "oci"), acme.pub, v1.String())
		info, err := h.Load(ctxT(t, 30*time.Second), conf)
		if err != nil {
			t.Fatal(err)
		}
		if info.Version != "0.1.0" {
			t.Errorf("loaded version %s, want the pinned 0.1.0", info.Version)
		}
		if log := rec.String(); !strings.Contains(log, "the tag moved") || !strings.Contains(log, v2.Digest.String()) {
			t.Errorf("no warning that the tag moved to %s: %s", v2.Digest, log)
		}
	})

	t.Run("unreachable registry", func(t *testing.T) {
		reg := ocitest.Start(t)
		ref := pushPackage(t, reg, "plugins/hello-go:0.1.0", pkg)
		cache := filepath.Join(t.TempDir(), "oci")
		h, _, conf := ociHost(t, cache, acme.pub, ref.String())
		load(t, h, conf) // fills the cache
		reg.Stop()

		h, rec, conf := ociHost(t, cache, acme.pub, ref.String())
		load(t, h, conf)
		if out, err := greet.Run(ctxT(t, 20*time.Second), h, map[string]string{"name": "ada"}); err != nil || out["message"] != "hello, ada" {
			t.Errorf("greet = %v, %v", out, err)
		}
		if !strings.Contains(rec.String(), "registry unreachable, serving the cached verified copy") {
			t.Errorf("no warning: %s", rec)
		}

		h, _, conf = ociHost(t, filepath.Join(t.TempDir(), "empty"), acme.pub, ref.String())
		_, err := h.Load(ctxT(t, 30*time.Second), conf)
		if !errors.Is(err, oci.ErrUnavailable) || !strings.Contains(err.Error(), "registry "+reg.Addr) {
			t.Errorf("err = %v, want ErrUnavailable naming registry %s", err, reg.Addr)
		}
		t.Logf("refused: %v", err)
	})

	t.Run("untrusted signature", func(t *testing.T) {
		reg := ocitest.Start(t)
		ref := pushPackage(t, reg, "plugins/hello-go:0.1.0", packAndSign(t, dir, mallory))
		cache := filepath.Join(t.TempDir(), "oci")
		h, _, conf := ociHost(t, cache, acme.pub, ref.String())
		_, err := h.Load(ctxT(t, 30*time.Second), conf)
		if !errors.Is(err, airlock.ErrNotTrusted) || !strings.Contains(err.Error(), "not trusted: key "+mallory.id) {
			t.Errorf("err = %v, want ErrNotTrusted naming key %s", err, mallory.id)
		}
		// Cached or not, the trust policy decides at every load.
		if _, err := h.Load(ctxT(t, 30*time.Second), conf); !errors.Is(err, airlock.ErrNotTrusted) {
			t.Errorf("second load: err = %v, want ErrNotTrusted", err)
		}
	})
}

func TestOCIReferenceMustBePinned(t *testing.T) {
	const unpinned = "oci://registry.example/plugins/hello-go:0.1.0"
	cases := []struct{ toml, say string }{
		{`package = "` + unpinned + `"`, "not pinned by digest"},
		{`package = "oci://registry.example/plugins/hello-go:0.1.0@sha256:abc"`, "sha256:<64 hex digits>"},
		{`package = "` + unpinned + `@sha256:` + strings.Repeat("a", 64) + `"` + "\nsignature = \"x.minisig\"", "carries its own signature"},
	}
	for _, c := range cases {
		_, err := airlock.ParseConfig("host.toml", []byte("[[plugin]]\n"+c.toml+"\n"))
		if !errors.Is(err, airlock.ErrInvalidConfig) || !strings.Contains(err.Error(), c.say) {
			t.Errorf("%s: err = %v, want ErrInvalidConfig saying %q", c.toml, err, c.say)
		}
	}
	// A PluginConfig built in Go is checked at Load.
	h, _ := newHost(t, airlock.Options{OCICacheDir: filepath.Join(t.TempDir(), "oci")})
	_, err := h.Load(context.Background(), airlock.PluginConfig{Package: unpinned})
	if !errors.Is(err, airlock.ErrInvalidConfig) || !strings.Contains(err.Error(), "not pinned by digest") {
		t.Errorf("Load: err = %v, want ErrInvalidConfig (unpinned)", err)
	}
}

func digestOf(data []byte) string { return "sha256:" + signing.Digest(data) }
