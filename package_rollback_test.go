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
	"github.com/airlock-go/airlock/internal/testutil"
)

// A package rolled back to an older release, still validly signed, is
// refused under min_version, from a fresh load and from a reload (where
// the running version keeps serving).
func TestRollbackRefused(t *testing.T) {
	acme := newPublisher(t, "acme")
	bin := testutil.GoBinary(t, "testdata/plugins/testplugin")
	// A release: the test plugin, which answers the handshake with the
	// version its -version argument gives, packed under that version.
	release := func(version string) airlock.PluginConfig {
		manifest := strings.Replace(fmtManifest(), `version = "1.0.0"`, `version = "`+version+`"`, 1)
		pkg := packAndSign(t, testutil.PluginDir(t, manifest, map[string]string{exe("bin/testplugin"): bin}), acme)
		return airlock.PluginConfig{Package: pkg, Args: []string{"-version", version}}
	}
	old, current, next := release("0.1.0"), release("0.2.0"), release("0.3.0-rc.1")
	trust := airlock.Trust{Keys: []string{acme.pub}}
	cases := []struct {
		name string
		conf airlock.PluginConfig
		min  string
		want error // nil: loads
		say  string
	}{
		{"older than min_version", old, "0.2.0", airlock.ErrNotTrusted, "testplugin is version 0.1.0, below the host's min_version 0.2.0"},
		{"equal to min_version", current, "0.2.0", nil, ""},
		{"a pre-release above min_version", next, "0.2.0", nil, ""},
		{"a pre-release below its release", next, "0.3.0", airlock.ErrNotTrusted, "below the host's min_version 0.3.0"},
		{"no min_version", old, "", nil, ""},
		{"not a version", current, "2", airlock.ErrInvalidConfig, `min_version "2" is not a semantic version`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := hostWithTrust(t, trust)
			conf := c.conf
			conf.MinVersion = c.min
			_, err := h.Load(ctxT(t, 20*time.Second), conf)
			if c.want == nil {
				if err != nil {
					t.Fatalf("load: %v", err)
				}
				return
			}
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.say) {
				t.Errorf("err = %v, want %v saying %q", err, c.want, c.say)
			}
		})
	}
	t.Run("reload", func(t *testing.T) {
		h := hostWithTrust(t, trust)
		conf := current
		conf.MinVersion = "0.2.0"
		cfg := &airlock.Config{Trust: trust, Plugins: []airlock.PluginConfig{conf}}
		ctx := ctxT(t, 30*time.Second)
		if err := h.Reload(ctx, cfg); err != nil {
			t.Fatal(err)
		}
		cfg.Plugins[0].Package, cfg.Plugins[0].Args = old.Package, old.Args
		if err := h.Reload(ctx, cfg); !errors.Is(err, airlock.ErrNotTrusted) || !strings.Contains(err.Error(), "rollback") {
			t.Errorf("reload to 0.1.0: %v, want ErrNotTrusted for a rollback", err)
		}
		stillServing(ctx, t, h, "0.2.0")
		// A new release at a new path whose signature fails: the host
		// cannot tell which plugin it was meant to replace, so it stops
		// none (before, the running one was stopped as no longer listed).
		bad := release("0.3.0")
		if err := os.WriteFile(bad.Package+".minisig", []byte("untrusted comment: x\nnot a signature\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg.Plugins[0].Package, cfg.Plugins[0].Args = bad.Package, bad.Args
		if err := h.Reload(ctx, cfg); !errors.Is(err, airlock.ErrNotTrusted) {
			t.Errorf("reload to a package with a broken signature: %v, want ErrNotTrusted", err)
		}
		stillServing(ctx, t, h, "0.2.0")
	})
}

// stillServing checks that version of the test plugin answers calls.
func stillServing(ctx context.Context, t *testing.T, h *airlock.Host, version string) {
	t.Helper()
	if info, ok := h.Plugin("testplugin"); !ok || info.Version != version {
		t.Errorf("after the refused reload: %+v, %v; want %s serving", info, ok, version)
	}
	if out, err := airlock.CallFunc[string](ctx, h, "testplugin", "echo", "still here"); err != nil || out != "still here" {
		t.Errorf("echo after the refused reload = %q, %v", out, err)
	}
}

// With more than one trusted key, a package plugin pinned to neither a
// publisher nor a name is loaded with a warning: any trusted publisher's
// package put at its path would get its grants.
func TestUnpinnedPackageWarned(t *testing.T) {
	acme, other := newPublisher(t, "acme"), newPublisher(t, "other")
	pkg := packAndSign(t, testPlugin(t), acme)
	const warning = "pinned to no publisher and no name"
	cases := []struct {
		name string
		keys []string
		conf airlock.PluginConfig
		warn bool
	}{
		{"two keys, nothing pinned", []string{acme.pub, other.pub}, airlock.PluginConfig{Package: pkg}, true},
		{"two keys, publisher pinned", []string{acme.pub, other.pub}, airlock.PluginConfig{Package: pkg, Publishers: []string{acme.id}}, false},
		{"two keys, name pinned", []string{acme.pub, other.pub}, airlock.PluginConfig{Package: pkg, Name: "testplugin"}, false},
		{"one key", []string{acme.pub}, airlock.PluginConfig{Package: pkg}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h, rec := newHostWith(t, airlock.Config{Trust: airlock.Trust{Keys: c.keys}}, airlock.Options{RunDir: filepath.Join(t.TempDir(), "run")})
			load(t, h, c.conf)
			if got := strings.Contains(rec.String(), warning); got != c.warn {
				t.Errorf("warned: %v, want %v; log:\n%s", got, c.warn, rec.String())
			}
		})
	}
}
