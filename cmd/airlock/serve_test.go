package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is a bytes.Buffer safe for a command writing while the
// test reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// serve --watch reloads the host when host.toml changes, and goes on
// serving when the new file is broken; also where the file system loses
// every change notification (it polls).
func TestRunServeWatch(t *testing.T) {
	for _, notify := range []bool{true, false} {
		name := "notified"
		if !notify {
			name = "polled"
		}
		t.Run(name, func(t *testing.T) { testRunServeWatch(t, notify) })
	}
}

func testRunServeWatch(t *testing.T, notify bool) {
	dir := t.TempDir()
	config := filepath.Join(dir, "host.toml")
	write := func(greeting string) {
		text := "[[plugin]]\npath = " + strconvQuote(helloGo(t)) + "\ngrants = [\"log\"]\nconfig = { greeting = " + strconvQuote(greeting) + " }\n"
		if err := os.WriteFile(config, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("hi")
	var out, errOut lockedBuffer
	c := &cli{stdout: &out, stderr: &errOut, getenv: os.Getenv, noNotify: !notify}
	ctx, cancel := context.WithCancel(t.Context())
	code := make(chan int, 1)
	go func() { code <- c.main(ctx, []string{"run", config, "serve", "--watch", "-q"}) }()
	wait := func(what string, n int) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for strings.Count(out.String(), what) < n {
			if time.Now().After(deadline) {
				cancel()
				t.Fatalf("no %q in the output:\n%s\nstderr:\n%s", what, out.String(), errOut.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	wait("serving 1 plugins", 1)
	write("hola")
	wait("reloaded", 1)
	if err := os.WriteFile(config, []byte("[[plugin]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	wait("reload: invalid configuration", 1)
	write("hello")
	wait("reloaded", 2)
	cancel()
	if got := <-code; got != 0 {
		t.Errorf("exit %d\n%s", got, errOut.String())
	}
	if !strings.Contains(out.String(), "hello-go") {
		t.Errorf("the plugin list is missing:\n%s", out.String())
	}
}
