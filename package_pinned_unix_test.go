//go:build unix

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
	"github.com/airlock-go/airlock/internal/signing"
)

// Threat: entry_sha256 pins a directory plugin's entry, not its
// manifest. For a plugin run by an interpreter, whoever can edit the
// unpinned plugin.toml changes the interpreter and its arguments
// (["/bin/sh", "-c", "anything"]) and runs code nobody verified, with the
// operator's grants, while the pinned script is never looked at. Such a
// pin is refused: the plugin must be packed and signed.
func TestPinnedDirectoryWithInterpreterRefused(t *testing.T) {
	dir := t.TempDir()
	script := []byte("echo the verified script\n")
	os.WriteFile(filepath.Join(dir, "run.sh"), script, 0o644)
	marker := filepath.Join(t.TempDir(), "unverified-code-ran")
	manifest := `name = "pinned"
version = "1.0.0"
tier = "process"
protocol = 1
entry = "run.sh"
interpreter = ["/bin/sh", "-c", "echo x > ` + marker + `; exit 3", "sh"]
`
	os.WriteFile(filepath.Join(dir, "plugin.toml"), []byte(manifest), 0o644)
	h, _ := newHostWith(t, airlock.Config{Trust: airlock.Trust{RequireSigned: true}}, airlock.Options{RunDir: filepath.Join(t.TempDir(), "run")})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := h.Load(ctx, airlock.PluginConfig{Path: dir, EntrySHA256: signing.Digest(script), Sandbox: airlock.SandboxOff})
	if !errors.Is(err, airlock.ErrNotTrusted) || !strings.Contains(err.Error(), "interpreter") || !strings.Contains(err.Error(), "pinned") {
		t.Errorf("err = %v, want ErrNotTrusted: the pin does not cover the interpreter", err)
	}
	if _, serr := os.Stat(marker); serr == nil {
		t.Errorf("the unpinned interpreter's command ran")
	}
}

// Threat: a pinned directory is read into memory to check its entry; a
// file planted in it that claims a terabyte (a sparse file costs no disk)
// must be refused from its size, not read: reading it would take the
// host's memory (os.ReadFile of 1 TiB is a fatal out-of-memory error).
func TestPinnedDirectoryHugeFileRefused(t *testing.T) {
	dir := testPlugin(t)
	entry, _ := os.ReadFile(filepath.Join(dir, exe("bin/testplugin")))
	f, err := os.Create(filepath.Join(dir, "huge.dat"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(1 << 40); err != nil {
		f.Close()
		t.Skip("no sparse files here:", err)
	}
	f.Close()
	h, _ := newHost(t, airlock.Options{RunDir: filepath.Join(t.TempDir(), "run")})
	start := time.Now()
	_, err = h.Load(context.Background(), airlock.PluginConfig{Path: dir, EntrySHA256: signing.Digest(entry)})
	if err == nil || !strings.Contains(err.Error(), "huge.dat") || !strings.Contains(err.Error(), "over the limit") {
		t.Errorf("err = %v, want the huge file refused by name", err)
	}
	if took := time.Since(start); took > 20*time.Second { // reading it would take hours, or crash
		t.Errorf("refused after %v", took)
	}
}
