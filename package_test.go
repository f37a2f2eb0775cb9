package airlock_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airlock-go/airlock"
	"github.com/airlock-go/airlock/internal/bundle"
	"github.com/airlock-go/airlock/internal/signing"
	"github.com/airlock-go/airlock/internal/testutil"
)

// publisher is a key pair in a temporary directory.
type publisher struct {
	pub, key, id string
}

func newPublisher(t *testing.T, name string) publisher {
	t.Helper()
	pub, key, id, err := signing.GenerateKey(t.TempDir(), name, "")
	if err != nil {
		t.Fatal(err)
	}
	return publisher{pub, key, id}
}

// packAndSign packs dir into a package file and signs it with p.
func packAndSign(t *testing.T, dir string, p publisher) string {
	t.Helper()
	data, err := bundle.Pack(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := bundle.Open(data, bundle.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	pkg := filepath.Join(t.TempDir(), b.Manifest.Name+".tar.gz")
	if err := os.WriteFile(pkg, data, 0o644); err != nil {
		t.Fatal(err)
	}
	key, err := signing.LoadPrivateKey(p.key, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pkg+".minisig", signing.Sign(key, data, b.Manifest.Name, b.Manifest.Version), 0o644); err != nil {
		t.Fatal(err)
	}
	return pkg
}

func hostWithTrust(t *testing.T, trust airlock.Trust) *airlock.Host {
	t.Helper()
	h, _ := newHostWith(t, airlock.Config{Trust: trust}, airlock.Options{RunDir: filepath.Join(t.TempDir(), "run")})
	return h
}

func TestSignedPackagesRun(t *testing.T) {
	acme := newPublisher(t, "acme")
	wasmDir := testutil.PluginDir(t, readExampleManifest(t, "hello-wasm-go"), map[string]string{
		"bin/hello-wasm-go.wasm": testutil.GoWasm(t, "examples/plugins/hello-wasm-go"),
	})
	for _, c := range []struct{ name, dir string }{
		{"process", buildExample(t, "hello-go")},
		{"wasm", wasmDir},
	} {
		t.Run(c.name, func(t *testing.T) {
			pkg := packAndSign(t, c.dir, acme)
			h := hostWithTrust(t, airlock.Trust{Keys: []string{acme.pub}})
			load(t, h, airlock.PluginConfig{Package: pkg, Grants: []string{"log"}, Publishers: []string{acme.id}})
			out, err := greet.Run(ctxT(t, 20*time.Second), h, map[string]string{"name": "ada"})
			if err != nil || out["message"] != "hello, ada" {
				t.Errorf("greet = %v, %v", out, err)
			}
		})
	}
}

func TestUntrustedPackagesRefused(t *testing.T) {
	acme, mallory := newPublisher(t, "acme"), newPublisher(t, "mallory")
	dir := buildExample(t, "hello-go")
	pkg := packAndSign(t, dir, acme)
	data, _ := os.ReadFile(pkg)
	digest := signing.Digest(data)
	cases := []struct {
		name  string
		trust airlock.Trust
		conf  func(conf *airlock.PluginConfig)
		say   string
	}{
		{"untrusted key", airlock.Trust{Keys: []string{mallory.pub}}, nil, "not trusted: key " + acme.id},
		{"revoked key", airlock.Trust{Keys: []string{acme.pub}, RevokedKeys: []string{acme.id}}, nil, "revoked key"},
		{"revoked digest", airlock.Trust{Keys: []string{acme.pub}, RevokedDigests: []string{digest}}, nil, "revocation list"},
		{"not the pinned publisher", airlock.Trust{Keys: []string{acme.pub, mallory.pub}}, func(conf *airlock.PluginConfig) { conf.Publishers = []string{mallory.id} }, "not pinned"},
		{"unsigned", airlock.Trust{Keys: []string{acme.pub}}, func(conf *airlock.PluginConfig) { conf.Signature = filepath.Join(t.TempDir(), "none.minisig") }, "not signed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := hostWithTrust(t, c.trust)
			conf := airlock.PluginConfig{Package: pkg, Grants: []string{"log"}}
			if c.conf != nil {
				c.conf(&conf)
			}
			_, err := h.Load(ctxT(t, 10*time.Second), conf)
			if !errors.Is(err, airlock.ErrNotTrusted) || !strings.Contains(err.Error(), c.say) {
				t.Errorf("err = %v, want ErrNotTrusted saying %q", err, c.say)
			}
		})
	}
	t.Run("unsigned allowed explicitly", func(t *testing.T) {
		h := hostWithTrust(t, airlock.Trust{})
		load(t, h, airlock.PluginConfig{Package: pkg, Signature: filepath.Join(t.TempDir(), "none"), AllowUnsigned: true, Grants: []string{"log"}})
	})
	t.Run("re-versioned without re-signing", func(t *testing.T) {
		// The same files with another version, and the old signature.
		manifest := strings.Replace(readExampleManifest(t, "hello-go"), `version = "0.1.0"`, `version = "0.2.0"`, 1)
		bin := testutil.GoBinary(t, "examples/plugins/hello-go")
		newer := packAndSign(t, testutil.PluginDir(t, manifest, map[string]string{exe("bin/hello-go"): bin}), acme)
		oldSig, _ := os.ReadFile(pkg + ".minisig")
		os.WriteFile(newer+".minisig", oldSig, 0o644)
		h := hostWithTrust(t, airlock.Trust{Keys: []string{acme.pub}})
		_, err := h.Load(ctxT(t, 10*time.Second), airlock.PluginConfig{Package: newer, Grants: []string{"log"}})
		if !errors.Is(err, airlock.ErrNotTrusted) {
			t.Errorf("err = %v, want ErrNotTrusted", err)
		}
	})
}

// What runs is what was verified: swapping the package on disk after it
// was loaded changes nothing, even when the plugin restarts.
func TestSwappedPackageDoesNotRun(t *testing.T) {
	acme := newPublisher(t, "acme")
	pkg := packAndSign(t, testPlugin(t), acme)
	// The impostor: the raw test plugin's binary under the same manifest.
	impostor := packAndSign(t, testutil.PluginDir(t, fmtManifest(), map[string]string{
		exe("bin/testplugin"): testutil.GoBinary(t, "testdata/plugins/raw"),
	}), acme)
	h, _ := newHostWith(t, airlock.Config{Trust: airlock.Trust{Keys: []string{acme.pub}}, Restart: airlock.RestartPolicy{Backoff: airlock.Duration(10 * time.Millisecond)}},
		airlock.Options{RunDir: filepath.Join(t.TempDir(), "run")})
	load(t, h, airlock.PluginConfig{Package: pkg})
	ctx := ctxT(t, 20*time.Second)
	// Swap the package and its signature on disk.
	for _, suffix := range []string{"", ".minisig"} {
		data, _ := os.ReadFile(impostor + suffix)
		if err := os.WriteFile(pkg+suffix, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.Call(ctx, "testplugin", "crash", nil); !errors.Is(err, airlock.ErrPluginCrashed) {
		t.Fatalf("crash: %v", err)
	}
	// The restart runs the verified code, which still answers echo (the
	// impostor could not even complete the handshake).
	out, err := airlock.CallFunc[string](ctx, h, "testplugin", "echo", "still verified")
	if err != nil || out != "still verified" {
		t.Errorf("after the swap and a restart: %q, %v", out, err)
	}
}

func TestPinnedDirectory(t *testing.T) {
	dir := testPlugin(t)
	entry, _ := os.ReadFile(filepath.Join(dir, exe("bin/testplugin")))
	pin := signing.Digest(entry)
	h, _ := newHostWith(t, airlock.Config{Restart: airlock.RestartPolicy{Backoff: airlock.Duration(10 * time.Millisecond)}}, airlock.Options{RunDir: filepath.Join(t.TempDir(), "run")})
	ctx := ctxT(t, time.Minute) // it includes building a second program
	if _, err := h.Load(ctx, airlock.PluginConfig{Path: dir, EntrySHA256: strings.Repeat("0", 64)}); !errors.Is(err, airlock.ErrNotTrusted) {
		t.Fatalf("wrong pin: err = %v", err)
	}
	load(t, h, airlock.PluginConfig{Path: dir, EntrySHA256: pin})
	// Swap the entry on disk for another program, then force a restart.
	raw, _ := os.ReadFile(testutil.GoBinary(t, "testdata/plugins/raw"))
	if err := os.WriteFile(filepath.Join(dir, exe("bin/testplugin")), raw, 0o755); err != nil {
		t.Fatal(err)
	}
	h.Call(ctx, "testplugin", "crash", nil)
	if out, err := airlock.CallFunc[string](ctx, h, "testplugin", "echo", "pinned"); err != nil || out != "pinned" {
		t.Errorf("after swapping the entry: %q, %v", out, err)
	}
}

func TestRequireSigned(t *testing.T) {
	h := hostWithTrust(t, airlock.Trust{RequireSigned: true})
	_, err := h.Load(ctxT(t, 10*time.Second), airlock.PluginConfig{Path: testPlugin(t)})
	if !errors.Is(err, airlock.ErrNotTrusted) || !strings.Contains(err.Error(), "requires signed plugins") {
		t.Errorf("err = %v", err)
	}
	load(t, h, airlock.PluginConfig{Path: testPlugin(t), AllowUnsigned: true})
}

func readExampleManifest(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testutil.Root(), "examples/plugins", name, "plugin.toml"))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func fmtManifest() string {
	return strings.Replace(strings.Replace(testManifest, "%s", "", 1), "%s", "", 1)
}

// TestDevelopmentModeWarning: only a plugin whose code nobody checked (an
// unsigned package or directory, on allow_unsigned) is logged as running
// in development mode; allow_unsigned on a signed package or a pinned
// directory does not make it so.
func TestDevelopmentModeWarning(t *testing.T) {
	acme := newPublisher(t, "acme")
	dir := buildExample(t, "hello-go")
	pkg := packAndSign(t, dir, acme)
	entry, _ := os.ReadFile(filepath.Join(dir, exe("bin/hello-go")))
	cases := []struct {
		name string
		conf airlock.PluginConfig
		warn bool
	}{
		{"unsigned directory", airlock.PluginConfig{Path: dir, AllowUnsigned: true}, true},
		{"unsigned package", airlock.PluginConfig{Package: pkg, Signature: filepath.Join(t.TempDir(), "none"), AllowUnsigned: true}, true},
		{"signed package", airlock.PluginConfig{Package: pkg, AllowUnsigned: true}, false},
		{"pinned directory", airlock.PluginConfig{Path: dir, EntrySHA256: signing.Digest(entry), AllowUnsigned: true}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h, rec := newHostWith(t, airlock.Config{Trust: airlock.Trust{Keys: []string{acme.pub}}}, airlock.Options{RunDir: filepath.Join(t.TempDir(), "run")})
			c.conf.Grants = []string{"log"}
			load(t, h, c.conf)
			if got := strings.Contains(rec.String(), "NOT SIGNED"); got != c.warn {
				t.Errorf("development-mode warning logged = %v, want %v; logs:\n%s", got, c.warn, rec.String())
			}
		})
	}
}
