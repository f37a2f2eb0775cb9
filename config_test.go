package airlock_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airlock-go/airlock"
)

func TestReadConfig(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "host.toml")
	text := `
[limits]
call_timeout = "2s"

[restart]
max_crashes = 5
window = "30s"

[[plugin]]
path = "plugins/hello"
args = ["-v"]
grants = ["log", "env:HOME"]
priority = 10
hook_priority = { greet = 3 }

[plugin.config]
greeting = "hi"

[plugin.limits]
max_inflight = 4

[[plugin]]
builtin = "audit"
optional = true
`
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := airlock.ReadConfig(file)
	if err != nil {
		t.Fatal(err)
	}
	if time.Duration(cfg.Limits.CallTimeout) != 2*time.Second || cfg.Restart.MaxCrashes != 5 || time.Duration(cfg.Restart.Window) != 30*time.Second {
		t.Errorf("limits/restart = %+v %+v", cfg.Limits, cfg.Restart)
	}
	if len(cfg.Plugins) != 2 {
		t.Fatalf("plugins = %+v", cfg.Plugins)
	}
	p := cfg.Plugins[0]
	if p.Path != filepath.Join(dir, "plugins/hello") {
		t.Errorf("path = %q, want it relative to the config file", p.Path)
	}
	if p.Priority != 10 || p.HookPriority["greet"] != 3 || p.Config["greeting"] != "hi" || p.Limits.MaxInflight != 4 || len(p.Grants) != 2 || p.Args[0] != "-v" {
		t.Errorf("plugin = %+v", p)
	}
	if cfg.Plugins[1].Builtin != "audit" || !cfg.Plugins[1].Optional {
		t.Errorf("second plugin = %+v", cfg.Plugins[1])
	}
}

func TestConfigErrors(t *testing.T) {
	cases := []struct {
		name, text, want string
	}{
		{"syntax", "[limits]\ncall_timeout = = 3", "line 2"},
		{"unknown key", "[[plugin]]\npath = \"x\"\ngrant = [\"log\"]", `unknown key "plugin.grant"`},
		{"unknown table", "[limit]\ncall_timeout = \"1s\"", `unknown key "limit`},
		{"bad duration", "[limits]\ncall_timeout = \"soon\"", "not a duration"},
		{"no path", "[[plugin]]\ngrants = []", "plugin[0]: set path"},
		{"both", "[[plugin]]\npath = \"a\"\nbuiltin = \"b\"", "only one of path, package and builtin"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := airlock.ParseConfig("host.toml", []byte(c.text))
			if !errors.Is(err, airlock.ErrInvalidConfig) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "host.toml") {
				t.Errorf("err = %v, want ErrInvalidConfig naming host.toml and saying %q", err, c.want)
			}
		})
	}
}

func TestOpen(t *testing.T) {
	mdir, write := markerDir(t)
	good := testPluginWith(t, []string{"log"}, []string{write})
	ctx := ctxT(t, 30*time.Second)
	t.Run("a failing plugin fails Open and stops the others", func(t *testing.T) {
		marker := filepath.Join(mdir, "started")
		cfg := &airlock.Config{Plugins: []airlock.PluginConfig{
			{Path: good, Grants: []string{"log", write}, Args: []string{"-touch", marker}},
			{Path: filepath.Join(t.TempDir(), "missing")},
		}}
		h, err := airlock.Open(ctx, cfg, airlock.Options{Logger: quietLogger()})
		if err == nil {
			h.Close(ctx)
			t.Fatal("Open succeeded with a missing plugin")
		}
		if !errors.Is(err, airlock.ErrInvalidManifest) || !strings.Contains(err.Error(), "no plugin.toml") {
			t.Errorf("err = %v", err)
		}
		if _, statErr := os.Stat(marker); statErr != nil {
			t.Fatalf("the first plugin never started: %v", statErr)
		}
	})
	t.Run("optional and disabled plugins", func(t *testing.T) {
		cfg := &airlock.Config{Plugins: []airlock.PluginConfig{
			{Path: good, Grants: []string{"log"}},
			{Path: filepath.Join(t.TempDir(), "missing"), Optional: true},
			{Path: filepath.Join(t.TempDir(), "also-missing"), Disabled: true},
		}}
		h, err := airlock.Open(ctx, cfg, airlock.Options{Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close(ctx)
		if ps := h.Plugins(); len(ps) != 1 || ps[0].Name != "testplugin" || ps[0].State != "running" {
			t.Errorf("plugins = %+v", ps)
		}
	})
	t.Run("name guard", func(t *testing.T) {
		cfg := &airlock.Config{Plugins: []airlock.PluginConfig{{Path: good, Name: "payments", Grants: []string{"log"}}}}
		_, err := airlock.Open(ctx, cfg, airlock.Options{Logger: quietLogger()})
		if !errors.Is(err, airlock.ErrInvalidConfig) || !strings.Contains(err.Error(), `names plugin "payments"`) {
			t.Errorf("err = %v", err)
		}
	})
}

func TestUnloadAndReload(t *testing.T) {
	h, _ := newHost(t, airlock.Options{})
	dir := testPlugin(t)
	ctx := ctxT(t, 20*time.Second)
	load(t, h, airlock.PluginConfig{Path: dir})
	if _, err := h.Load(ctx, airlock.PluginConfig{Path: dir}); err == nil || !strings.Contains(err.Error(), "already loaded") {
		t.Errorf("loading twice: err = %v", err)
	}
	if err := h.Unload(ctx, "testplugin"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Call(ctx, "testplugin", "echo", 1); !errors.Is(err, airlock.ErrUnknownPlugin) {
		t.Errorf("after unload: err = %v", err)
	}
	load(t, h, airlock.PluginConfig{Path: dir})
	if _, err := h.Call(ctx, "testplugin", "echo", 1); err != nil {
		t.Errorf("after reload: %v", err)
	}
}

// The kv quotas are [limits] keys, host-wide and per plugin.
func TestKVQuotaKeys(t *testing.T) {
	cfg, err := airlock.ParseConfig("host.toml", []byte(`
[limits]
kv_max_keys = 10
kv_max_value_bytes = 100
kv_max_total_bytes = 1000

[[plugin]]
builtin = "audit"
[plugin.limits]
kv_max_total_bytes = 5000
`))
	if err != nil {
		t.Fatal(err)
	}
	if l := cfg.Limits; l.KVMaxKeys != 10 || l.KVMaxValueBytes != 100 || l.KVMaxTotalBytes != 1000 {
		t.Errorf("[limits] = %+v", l)
	}
	if cfg.Plugins[0].Limits.KVMaxTotalBytes != 5000 {
		t.Errorf("[plugin.limits] = %+v", cfg.Plugins[0].Limits)
	}
	if _, err := airlock.ParseConfig("host.toml", []byte("[limits]\nkv_max_key = 3")); !errors.Is(err, airlock.ErrInvalidConfig) {
		t.Errorf("misspelt key: err = %v", err)
	}
}
