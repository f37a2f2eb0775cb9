package airlock_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/airlock-go/airlock"
	"github.com/airlock-go/airlock/internal/testutil"
)

// A wasm guest reads its own plugin's files under /plugin, read-only and
// without a grant, from a directory or from the verified bytes of its
// package, and nothing outside them.
func TestWasmGuestReadsItsAssets(t *testing.T) {
	module := testutil.GoWasm(t, "internal/wasm/testdata/goguest")
	manifest := goGuestManifest
	assets := filepath.Join(t.TempDir(), "rates.json")
	if err := os.WriteFile(assets, []byte(`{"eur":1.1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := testutil.PluginDir(t, manifest, map[string]string{"goguest.wasm": module, "data/rates.json": assets})
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("host secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" {
		if err := os.Symlink(secret, filepath.Join(dir, "data", "link")); err != nil {
			t.Fatal(err)
		}
	}
	acme := newPublisher(t, "acme")
	pkgDir := testutil.PluginDir(t, manifest, map[string]string{"goguest.wasm": module, "data/rates.json": assets})
	pkg := packAndSign(t, pkgDir, acme)

	h, _ := newHostWith(t, airlock.Config{Trust: airlock.Trust{Keys: []string{acme.pub}}}, airlock.Options{})
	for _, source := range []struct {
		name string
		conf airlock.PluginConfig
	}{
		{"directory", airlock.PluginConfig{Path: dir}},
		{"package", airlock.PluginConfig{Package: pkg}},
	} {
		t.Run(source.name, func(t *testing.T) {
			load(t, h, source.conf)
			defer h.Unload(context.Background(), "goguest")
			ctx := ctxT(t, 30*time.Second)
			call := func(fn, path string) (string, error) {
				out, err := h.Call(ctx, "goguest", fn, path)
				var s string
				_ = json.Unmarshal(out, &s)
				return s, err
			}
			if got, err := call("asset", "/plugin/data/rates.json"); err != nil || got != `{"eur":1.1}` {
				t.Errorf("its own asset: %q, %v", got, err)
			}
			for _, path := range []string{"/plugin/../" + secret, secret, "/plugin/data/link"} {
				if got, err := call("asset", path); err == nil || strings.Contains(got, "host secret") {
					t.Errorf("read %s: %q, %v; want a refusal", path, got, err)
				}
			}
			if _, err := call("plant", "/plugin/data/rates.json"); err == nil {
				t.Error("the guest overwrote its own asset")
			}
			if got, err := call("asset", "/plugin/data/rates.json"); err != nil || got != `{"eur":1.1}` {
				t.Errorf("after the write attempt: %q, %v", got, err)
			}
		})
	}
}
