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
)

// sentinels are every exported sentinel error.
var sentinels = []error{
	airlock.ErrInvalidManifest, airlock.ErrInvalidConfig, airlock.ErrMissingGrant,
	airlock.ErrCapabilityDenied, airlock.ErrStart, airlock.ErrHandshake, airlock.ErrDeadline,
	airlock.ErrPluginCrashed, airlock.ErrProtocol, airlock.ErrResourceLimit,
	airlock.ErrPluginDisabled, airlock.ErrVetoed, airlock.ErrNotImplemented,
	airlock.ErrPluginFailed, airlock.ErrBadResult, airlock.ErrBadInput, airlock.ErrContract,
	airlock.ErrUnknownPlugin, airlock.ErrClosed, airlock.ErrNotTrusted, airlock.ErrPlatform,
}

// Every error a caller can get from the public API matches an exported
// sentinel, the one a caller would test for, and names the plugin when
// there is one: callers branch with errors.Is, never on message text.
func TestErrorsMatchSentinels(t *testing.T) {
	ctx := ctxT(t, time.Minute)
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	badManifest := filepath.Dir(write("bad/plugin.toml", "name = 'Bad Name'\n"))
	noEntry := filepath.Dir(write("noentry/plugin.toml", "name = \"noentry\"\nversion = \"1.0.0\"\ntier = \"process\"\nprotocol = 1\nentry = \"bin/missing\"\nfunctions = [\"f\"]\n"))
	notPackage := write("junk.tar.gz", "not a package")
	plugin := testPlugin(t)

	h, _ := newHost(t, airlock.Options{})
	load(t, h, airlock.PluginConfig{Path: plugin})
	closed, _ := newHost(t, airlock.Options{})
	closed.Close(ctx)

	cases := []struct {
		name   string
		plugin string // the plugin the error must name, if any
		want   error
		err    func() error
	}{
		{"config file missing", "", airlock.ErrInvalidConfig, func() error { _, err := airlock.ReadConfig(filepath.Join(dir, "none.toml")); return err }},
		{"config not TOML", "", airlock.ErrInvalidConfig, func() error { _, err := airlock.ParseConfig("x.toml", []byte("[[plugin]\n")); return err }},
		{"config unknown key", "", airlock.ErrInvalidConfig, func() error { _, err := airlock.ParseConfig("x.toml", []byte("colour = 1\n")); return err }},
		{"no source", "", airlock.ErrInvalidConfig, func() error { _, err := h.Load(ctx, airlock.PluginConfig{}); return err }},
		{"bad sandbox mode", plugin, airlock.ErrInvalidConfig, func() error {
			_, err := h.Load(ctx, airlock.PluginConfig{Path: plugin, Sandbox: "maybe"})
			return err
		}},
		{"directory missing", "", airlock.ErrInvalidManifest, func() error {
			_, err := h.Load(ctx, airlock.PluginConfig{Path: filepath.Join(dir, "nowhere")})
			return err
		}},
		{"bad manifest", "", airlock.ErrInvalidManifest, func() error { _, err := h.Load(ctx, airlock.PluginConfig{Path: badManifest}); return err }},
		{"unknown builtin", "", airlock.ErrInvalidConfig, func() error { _, err := h.Load(ctx, airlock.PluginConfig{Builtin: "nope"}); return err }},
		{"package missing", "", airlock.ErrInvalidConfig, func() error {
			_, err := h.Load(ctx, airlock.PluginConfig{Package: filepath.Join(dir, "none.tar.gz")})
			return err
		}},
		{"not a package", "", airlock.ErrNotTrusted, func() error { _, err := h.Load(ctx, airlock.PluginConfig{Package: notPackage}); return err }},
		{"entry pinned wrong", "testplugin", airlock.ErrNotTrusted, func() error {
			_, err := h.Load(ctx, airlock.PluginConfig{Path: plugin, EntrySHA256: strings.Repeat("0", 64)})
			return err
		}},
		{"missing grant", "testplugin", airlock.ErrMissingGrant, func() error {
			_, err := h.Load(ctx, airlock.PluginConfig{Path: testPlugin(t, "kv")})
			return err
		}},
		{"bad grant", "testplugin", airlock.ErrInvalidConfig, func() error {
			_, err := h.Load(ctx, airlock.PluginConfig{Path: plugin, Grants: []string{"fs.read:relative"}})
			return err
		}},
		{"bad setting", "testplugin", airlock.ErrInvalidConfig, func() error {
			_, err := h.Load(ctx, airlock.PluginConfig{Path: plugin, Config: map[string]any{"workers": "many"}})
			return err
		}},
		{"already loaded", "testplugin", airlock.ErrInvalidConfig, func() error { _, err := h.Load(ctx, airlock.PluginConfig{Path: plugin}); return err }},
		{"entry missing", "noentry", airlock.ErrStart, func() error { _, err := h.Load(ctx, airlock.PluginConfig{Path: noEntry}); return err }},
		{"load after close", "testplugin", airlock.ErrClosed, func() error { _, err := closed.Load(ctx, airlock.PluginConfig{Path: plugin}); return err }},
		{"call unknown plugin", "nope", airlock.ErrUnknownPlugin, func() error { _, err := h.Call(ctx, "nope", "echo", nil); return err }},
		{"call undeclared function", "testplugin", airlock.ErrNotImplemented, func() error { _, err := h.Call(ctx, "testplugin", "nope", nil); return err }},
		{"call plugin error", "testplugin", airlock.ErrPluginFailed, func() error { _, err := h.Call(ctx, "testplugin", "fail", nil); return err }},
		{"call past deadline", "testplugin", airlock.ErrDeadline, func() error {
			ctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
			defer cancel()
			_, err := h.Call(ctx, "testplugin", "hang", nil)
			return err
		}},
		{"call after close", "testplugin", airlock.ErrClosed, func() error { _, err := closed.Call(ctx, "testplugin", "echo", nil); return err }},
		{"unload unknown", "nope", airlock.ErrUnknownPlugin, func() error { return h.Unload(ctx, "nope") }},
		{"options: bad contract version", "", airlock.ErrInvalidConfig, func() error { _, err := airlock.New(airlock.Options{ContractVersion: "1"}); return err }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.err()
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, c.want) {
				t.Errorf("err = %v\nwant it to match %v", err, c.want)
			}
			matched := false
			for _, s := range sentinels {
				matched = matched || errors.Is(err, s)
			}
			if !matched {
				t.Errorf("err = %v matches no exported sentinel", err)
			}
			if c.plugin != "" && !strings.Contains(err.Error(), c.plugin) {
				t.Errorf("err = %v does not name the plugin %q", err, c.plugin)
			}
		})
	}
}
