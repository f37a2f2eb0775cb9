// Package ocitest starts a real OCI registry for tests: Debian's
// docker-registry (the CNCF distribution registry), on a free loopback
// port, with its own configuration and storage in a temporary directory.
package ocitest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// Program is the registry's executable (Debian: apt-get install docker-registry).
const Program = "docker-registry"

// Registry is a running registry.
type Registry struct {
	// Addr is its host:port (127.0.0.1:PORT): plain HTTP on loopback.
	Addr string
	// Storage is the directory it stores repositories and blobs in.
	Storage string

	cmd  *exec.Cmd
	once sync.Once
	done chan struct{}
}

const config = `version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
`

// Start starts a registry that is stopped when the test ends. Without
// docker-registry installed the test is skipped, or fails in CI.
func Start(t testing.TB) *Registry {
	t.Helper()
	path, err := exec.LookPath(Program)
	if err != nil {
		// CI installs it on Linux; the Windows tests under wine cannot
		// start a Linux program.
		if os.Getenv("CI") != "" && runtime.GOOS == "linux" {
			t.Fatalf("%s is required in CI (apt-get install docker-registry): %v", Program, err)
		}
		t.Skipf("%s not installed (apt-get install docker-registry)", Program)
	}
	var last error
	for range 3 { // the free port may be taken between choosing and binding it
		r, err := start(t, path)
		if err == nil {
			t.Cleanup(r.Stop)
			return r
		}
		last = err
	}
	t.Fatalf("start %s: %v", Program, last)
	return nil
}

func start(t testing.TB, path string) (*Registry, error) {
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	dir := t.TempDir()
	r := &Registry{Addr: addr, Storage: filepath.Join(dir, "storage"), done: make(chan struct{})}
	cfg := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, config, r.Storage, addr), 0o600); err != nil {
		return nil, err
	}
	var out strings.Builder
	r.cmd = exec.Command(path, "serve", cfg)
	r.cmd.Stdout, r.cmd.Stderr = &out, &out
	r.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	if err := r.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { r.cmd.Wait(); close(r.done) }()
	if err := r.waitReady(10 * time.Second); err != nil {
		r.Stop()
		return nil, fmt.Errorf("%w; its output: %s", err, out.String())
	}
	return r, nil
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// waitReady polls /v2/ until the registry answers.
func (r *Registry) waitReady(max time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), max)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+r.Addr+"/v2/", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-r.done:
			return fmt.Errorf("%s exited", Program)
		case <-ctx.Done():
			return fmt.Errorf("%s did not answer on %s within %v", Program, r.Addr, max)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Stop stops the registry; its address then refuses connections.
func (r *Registry) Stop() {
	r.once.Do(func() {
		_ = r.cmd.Process.Kill()
		<-r.done
	})
}

// BlobPath is where the registry keeps a blob's bytes ("sha256:HEX"),
// for tests that tamper with them.
func (r *Registry) BlobPath(digest string) string {
	algo, hex, _ := strings.Cut(digest, ":")
	return filepath.Join(r.Storage, "docker", "registry", "v2", "blobs", algo, hex[:2], hex, "data")
}
