//go:build unix

package airlock_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/airlock-go/airlock"
)

// Threat: a pipe planted where the host reads a package or its signature
// (by whoever can write beside the package: the attacker signatures are
// there to stop). Opening a pipe for reading blocks until a writer comes,
// so Load would hang for ever, whatever its context; it must fail at once
// naming the file. /dev/zero as a package would be read to the cap.
func TestSpecialFilesAsPackageRefused(t *testing.T) {
	for _, which := range []string{"package", "signature", "device"} {
		t.Run(which, func(t *testing.T) {
			pkg := hostilePackage(t)
			target := pkg + ".minisig"
			conf := airlock.PluginConfig{Package: pkg, AllowUnsigned: true}
			switch which {
			case "package":
				target = filepath.Join(t.TempDir(), "pipe.tar.gz")
				conf.Package = target
			case "device":
				conf.Package = "/dev/zero"
			}
			if which != "device" {
				if err := syscall.Mkfifo(target, 0o600); err != nil {
					t.Skip("mkfifo:", err)
				}
			}
			h, _ := newHost(t, airlock.Options{RunDir: filepath.Join(t.TempDir(), "run")})
			done := make(chan error, 1)
			go func() {
				_, err := h.Load(context.Background(), conf)
				done <- err
			}()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), "not a regular file") || !strings.Contains(err.Error(), conf.Package) {
					t.Errorf("err = %v, want an error naming %s saying it is not a regular file", err, conf.Package)
				}
				if which == "signature" && !errors.Is(err, airlock.ErrNotTrusted) {
					t.Errorf("err = %v, want ErrNotTrusted", err)
				}
			case <-time.After(5 * time.Second):
				t.Errorf("Load still blocked on the %s after 5s", which)
				if f, err := os.OpenFile(target, os.O_WRONLY, 0); err == nil { // release the reader
					f.Close()
				}
				<-done
			}
		})
	}
}

// The same for a directory plugin's plugin.toml (threat: a pipe planted in
// a plugin directory, pinned with entry_sha256 or not, blocking Load).
func TestPipeAsManifestRefused(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, "plugin.toml"), 0o600); err != nil {
		t.Skip("mkfifo:", err)
	}
	h, _ := newHost(t, airlock.Options{RunDir: filepath.Join(t.TempDir(), "run")})
	done := make(chan error, 1)
	go func() {
		_, err := h.Load(context.Background(), airlock.PluginConfig{Path: dir, EntrySHA256: strings.Repeat("0", 64)})
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not a regular file") || !strings.Contains(err.Error(), dir) {
			t.Errorf("err = %v, want an error naming %s saying it is not a regular file", err, dir)
		}
	case <-time.After(5 * time.Second):
		t.Errorf("Load still blocked on plugin.toml after 5s")
		if f, err := os.OpenFile(filepath.Join(dir, "plugin.toml"), os.O_WRONLY, 0); err == nil {
			f.Close()
		}
		<-done
	}
}

// And for a directory plugin's entry, whose first bytes the host reads to
// check its platform.
func TestPipeAsEntryRefused(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "plugin.toml"), []byte("name = \"piped\"\nversion = \"1.0.0\"\ntier = \"process\"\nprotocol = 1\nentry = \"run\"\n"), 0o644)
	if err := syscall.Mkfifo(filepath.Join(dir, "run"), 0o700); err != nil {
		t.Skip("mkfifo:", err)
	}
	h, _ := newHost(t, airlock.Options{RunDir: filepath.Join(t.TempDir(), "run")})
	done := make(chan error, 1)
	go func() {
		_, err := h.Load(context.Background(), airlock.PluginConfig{Path: dir})
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not a regular file") || !strings.Contains(err.Error(), "piped") {
			t.Errorf("err = %v, want an error naming the plugin saying its entry is not a regular file", err)
		}
	case <-time.After(5 * time.Second):
		t.Errorf("Load still blocked on the entry after 5s")
		if f, err := os.OpenFile(filepath.Join(dir, "run"), os.O_WRONLY, 0); err == nil {
			f.Close()
		}
		<-done
	}
}
