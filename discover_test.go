package airlock_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/airlock-go/airlock"
	"github.com/airlock-go/airlock/internal/signing"
	"github.com/airlock-go/airlock/internal/testutil"
)

// namedPlugin lays out the Go test plugin in parent under another name,
// requiring required, with its executable replaced by entry when entry is
// not "".
func namedPlugin(t *testing.T, parent, name string, required []string, hooks string, entry string) string {
	t.Helper()
	var req []string
	for _, c := range required {
		req = append(req, fmt.Sprintf("%q", c))
	}
	m := fmt.Sprintf(testManifest, strings.Join(req, ", "), "")
	m = strings.Replace(m, `name = "testplugin"`, fmt.Sprintf("name = %q", name), 1)
	m = strings.Replace(m, `hooks = ["greet"]`, "hooks = ["+hooks+"]\nargs = [\"-name\", \""+name+"\"]", 1)
	if entry == "" {
		entry = testutil.GoBinary(t, "testdata/plugins/testplugin")
	}
	dir := testutil.PluginDir(t, m, map[string]string{exe("bin/testplugin"): entry})
	dst := filepath.Join(parent, name)
	if err := os.Rename(dir, dst); err != nil {
		t.Fatal(err)
	}
	return dst
}

// foreignExecutable writes the header of an executable for another
// platform than this one: a PE for arm64 Windows here, an ELF elsewhere.
func foreignExecutable(t *testing.T) (path, platform string) {
	head := make([]byte, 512)
	if runtime.GOOS == "windows" {
		copy(head, "\x7fELF\x02\x01\x01")
		binary.LittleEndian.PutUint16(head[18:], 0xb7) // EM_AARCH64
		platform = "linux/arm64"
	} else {
		copy(head, "MZ")
		binary.LittleEndian.PutUint32(head[0x3c:], 0x80)
		copy(head[0x80:], "PE\x00\x00")
		binary.LittleEndian.PutUint16(head[0x84:], 0xaa64) // IMAGE_FILE_MACHINE_ARM64
		platform = "windows/arm64"
	}
	path = filepath.Join(t.TempDir(), "foreign")
	if err := os.WriteFile(path, head, 0o755); err != nil {
		t.Fatal(err)
	}
	return path, platform
}

// Discover gives the verdict Load would give on every plugin in a
// directory, without starting any, and a host loads what it admits.
func TestDiscover(t *testing.T) {
	ctx := ctxT(t, 2*time.Minute)
	acme, mallory := newPublisher(t, "acme"), newPublisher(t, "mallory")
	plugins := t.TempDir()
	namedPlugin(t, plugins, "plain", nil, `"greet"`, "")
	namedPlugin(t, plugins, "wants-kv", []string{"kv"}, `"greet"`, "")
	namedPlugin(t, plugins, "wants-secret", []string{"secret.read"}, `"greet"`, "")
	namedPlugin(t, plugins, "typo", nil, `"gret"`, "")
	foreign, platform := foreignExecutable(t)
	namedPlugin(t, plugins, "foreign", nil, `"greet"`, foreign)
	if err := os.MkdirAll(filepath.Join(plugins, "broken"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(plugins, "broken", "plugin.toml"), []byte("name = 'Not A Name'\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(plugins, "notes.txt"), []byte("not a plugin"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Packages that are never started hold a small script, which packs
	// faster than the test plugin.
	script := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	pack := func(name string, p *publisher, entry string) string {
		src := namedPlugin(t, t.TempDir(), name, nil, `"greet"`, entry)
		pkg := packAndSign(t, src, *p)
		dst := filepath.Join(plugins, name+".tar.gz")
		for _, suffix := range []string{"", ".minisig"} {
			if err := os.Rename(pkg+suffix, dst+suffix); err != nil {
				t.Fatal(err)
			}
		}
		return dst
	}
	pack("signed", &acme, "")
	pack("by-mallory", &mallory, script)
	revoked := pack("revoked", &acme, script)
	unsigned := pack("unsigned", &acme, script)
	if err := os.Remove(unsigned + ".minisig"); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(revoked)
	if err != nil {
		t.Fatal(err)
	}

	greet := airlock.NewHook("greet", func(_ context.Context, in greetIn) (greeting, error) { return greeting{}, nil })
	h, _ := newHostWith(t, airlock.Config{Trust: airlock.Trust{Keys: []string{acme.pub}, RevokedDigests: []string{signing.Digest(data)}}},
		airlock.Options{Hooks: []airlock.AnyHook{greet}, RunDir: filepath.Join(t.TempDir(), "run")})
	operator := map[string]airlock.PluginConfig{"wants-kv": {Grants: []string{"kv"}}}
	cands, err := h.Discover(ctx, func(name string) airlock.PluginConfig { return operator[name] }, plugins)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		err  error
		says string
	}{
		"broken":       {airlock.ErrInvalidManifest, "name"},
		"by-mallory":   {airlock.ErrNotTrusted, "by-mallory"},
		"foreign":      {airlock.ErrPlatform, "built for " + platform},
		"plain":        {nil, ""},
		"revoked":      {airlock.ErrNotTrusted, "revoked"},
		"signed":       {nil, ""},
		"typo":         {airlock.ErrContract, `did you mean "greet"`},
		"unsigned":     {airlock.ErrNotTrusted, "unsigned"},
		"wants-kv":     {nil, ""},
		"wants-secret": {airlock.ErrMissingGrant, "secret.read"},
	}
	if len(cands) != len(want) {
		t.Errorf("found %d plugins, want %d: %+v", len(cands), len(want), cands)
	}
	for _, c := range cands {
		base := strings.TrimSuffix(filepath.Base(c.Config.Path+c.Config.Package), ".tar.gz")
		w, ok := want[base]
		switch {
		case !ok:
			t.Errorf("found %s, which is not a plugin", base)
		case w.err == nil && c.Err != nil:
			t.Errorf("%s: %v; want it admitted", base, c.Err)
		case w.err != nil && (!errors.Is(c.Err, w.err) || !strings.Contains(c.Err.Error(), w.says)):
			t.Errorf("%s: err = %v\nwant %v saying %q", base, c.Err, w.err, w.says)
		case c.Err == nil:
			if c.Name != base || c.Tier != airlock.TierProcess {
				t.Errorf("%s: name %q tier %q", base, c.Name, c.Tier)
			}
			if _, err := h.Load(ctx, c.Config); err != nil {
				t.Errorf("%s was admitted by Discover and refused by Load: %v", base, err)
			}
		}
	}
	if got := len(h.Plugins()); got != 3 {
		t.Errorf("%d plugins loaded, want the 3 admitted", got)
	}
}
