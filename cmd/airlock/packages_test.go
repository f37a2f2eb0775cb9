package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

func TestPackSignVerifyCall(t *testing.T) {
	plugin := helloGo(t)
	work := t.TempDir()
	t.Chdir(work)

	code, out, stderr := run(t, "keygen", "acme")
	if code != 0 || !strings.Contains(out, "acme.pub") {
		t.Fatalf("keygen: %d %s %s", code, out, stderr)
	}
	if code, _, stderr := run(t, "keygen", "acme"); code != 1 || !strings.Contains(stderr, "already exists") {
		t.Errorf("second keygen: %d %s", code, stderr)
	}
	run(t, "keygen", "mallory")

	if code, out, stderr = run(t, "pack", plugin, "-o", "a.tar.gz"); code != 0 || !strings.Contains(out, "sha256:") {
		t.Fatalf("pack: %d %s %s", code, out, stderr)
	}
	run(t, "pack", plugin, "-o", "b.tar.gz")
	a, _ := os.ReadFile("a.tar.gz")
	b, _ := os.ReadFile("b.tar.gz")
	if !bytes.Equal(a, b) {
		t.Error("airlock pack twice gave different bytes")
	}
	if code, _, stderr = run(t, "verify", "a.tar.gz", "--trust", "acme.pub"); code != 1 || !strings.Contains(stderr, "not signed") {
		t.Errorf("verify unsigned: %d %s", code, stderr)
	}
	if code, out, stderr = run(t, "sign", "a.tar.gz", "--key", "acme.key"); code != 0 {
		t.Fatalf("sign: %d %s %s", code, out, stderr)
	}
	if code, out, _ = run(t, "verify", "a.tar.gz", "--trust", "acme.pub"); code != 0 || !strings.Contains(out, "hello-go 0.1.0") || !strings.Contains(out, ": OK") {
		t.Errorf("verify: %d %s", code, out)
	}
	if code, _, stderr = run(t, "verify", "a.tar.gz", "--trust", "mallory.pub"); code != 1 || !strings.Contains(stderr, "not trusted") {
		t.Errorf("verify with the wrong key: %d %s", code, stderr)
	}
	code, out, _ = run(t, "inspect", "a.tar.gz", "--trust", "acme.pub")
	if code != 0 || !strings.Contains(out, "signature: by key") || !strings.Contains(out, "verified") {
		t.Errorf("inspect: %d %s", code, out)
	}
	code, out, stderr = run(t, "call", "a.tar.gz", "greet", "--input", `{"name":"ada"}`, "--trust", "acme.pub")
	if code != 0 || out != `{"message":"hello, ada"}`+"\n" {
		t.Errorf("call package: %d %q %s", code, out, stderr)
	}
	// One flipped byte, and nothing runs.
	a[len(a)/2] ^= 1
	os.WriteFile("a.tar.gz", a, 0o644)
	if code, _, stderr = run(t, "call", "a.tar.gz", "greet", "--trust", "acme.pub"); code != 1 {
		t.Errorf("tampered package ran: %d %s", code, stderr)
	}
}
