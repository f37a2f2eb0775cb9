package oci

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/airlock-go/airlock/internal/testutil" // wine fix-ups for the Windows test build
)

// Threat: a registry (or a machine in between) that answers at once and
// then trickles its body, a byte now and then, for ever: the connection
// timeouts never fire and the host's Load would wait as long as the
// registry likes. A transfer that brings less than the minimum in a
// stall period fails, naming the registry.
func TestTricklingRegistryGivesUp(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/" {
			return
		}
		w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
		w.Header().Set("Content-Length", "100000")
		w.WriteHeader(http.StatusOK)
		for {
			if _, err := w.Write([]byte(" ")); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	c := &Cache{Dir: filepath.Join(t.TempDir(), "oci"), Client: &Client{Stall: 500 * time.Millisecond}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	done := make(chan error, 1)
	go func() {
		_, err := c.Get(context.Background(), "oci://"+addr+"/plugins/hello@sha256:"+strings.Repeat("a", 64))
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "too slow") || !strings.Contains(err.Error(), addr) {
			t.Errorf("err = %v, want ErrUnavailable naming the registry and saying it is too slow", err)
		}
	case <-time.After(10 * time.Second):
		srv.CloseClientConnections()
		<-done
		t.Fatal("Get still waiting on a trickling registry after 10s")
	}
}
