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

// Threat: the trust root itself. A trusted key file others can write is
// a key anyone on the machine can replace with their own (then sign
// anything); a pipe in its place would block every Load. Both are
// refused, naming the file.
func TestTrustedKeyFileChecked(t *testing.T) {
	acme := newPublisher(t, "acme")
	pkg := packAndSign(t, buildExample(t, "hello-go"), acme)
	for _, c := range []struct {
		name string
		key  func(t *testing.T) string
		say  string
	}{
		{"writable by others", func(t *testing.T) string {
			p := filepath.Join(t.TempDir(), "acme.pub")
			data, _ := os.ReadFile(acme.pub)
			os.WriteFile(p, data, 0o644)
			os.Chmod(p, 0o666)
			return p
		}, "writable by others"},
		{"pipe", func(t *testing.T) string {
			p := filepath.Join(t.TempDir(), "acme.pub")
			if err := syscall.Mkfifo(p, 0o600); err != nil {
				t.Skip(err)
			}
			return p
		}, "not a regular file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			key := c.key(t)
			h := hostWithTrust(t, airlock.Trust{Keys: []string{key}})
			done := make(chan error, 1)
			go func() {
				_, err := h.Load(context.Background(), airlock.PluginConfig{Package: pkg, Grants: []string{"log"}})
				done <- err
			}()
			select {
			case err := <-done:
				if !errors.Is(err, airlock.ErrInvalidConfig) || !strings.Contains(err.Error(), c.say) || !strings.Contains(err.Error(), key) {
					t.Errorf("err = %v, want ErrInvalidConfig naming %s and saying %q", err, key, c.say)
				}
			case <-time.After(5 * time.Second):
				t.Errorf("Load still blocked on the key file after 5s")
				if f, err := os.OpenFile(key, os.O_WRONLY, 0); err == nil {
					f.Close()
				}
				<-done
			}
		})
	}
}
