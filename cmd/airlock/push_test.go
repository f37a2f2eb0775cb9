package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/airlock-go/airlock/internal/oci/ocitest"
)

func TestPushPull(t *testing.T) {
	reg := ocitest.Start(t)
	plugin := helloGo(t)
	t.Chdir(t.TempDir())
	run(t, "keygen", "acme")
	run(t, "keygen", "mallory")
	if code, _, stderr := run(t, "pack", plugin, "-o", "hello.tar.gz"); code != 0 {
		t.Fatalf("pack: %s", stderr)
	}
	if code, _, stderr := run(t, "push", "hello.tar.gz", reg.Addr+"/plugins/hello-go"); code != 1 || !strings.Contains(stderr, "not signed") {
		t.Errorf("push unsigned: %d %s", code, stderr)
	}
	run(t, "sign", "hello.tar.gz", "--key", "acme.key")
	code, out, stderr := run(t, "push", "hello.tar.gz", reg.Addr+"/plugins/hello-go")
	pinned := regexp.MustCompile(`package = "(oci://[^"]+:0\.1\.0@sha256:[0-9a-f]{64})"`).FindStringSubmatch(out)
	if code != 0 || pinned == nil {
		t.Fatalf("push: %d %s %s", code, out, stderr)
	}

	for _, ref := range []string{pinned[1], reg.Addr + "/plugins/hello-go:0.1.0"} {
		dir := filepath.Join(t.TempDir(), "pulled")
		code, out, stderr = run(t, "pull", ref, "-o", dir, "--trust", "acme.pub")
		if code != 0 || !strings.Contains(out, "signed by key") || !strings.Contains(out, pinned[1][len("oci://"):]) {
			t.Fatalf("pull %s: %d %s %s", ref, code, out, stderr)
		}
		for _, f := range []string{"hello.tar.gz", "hello.tar.gz.minisig"} {
			want, _ := os.ReadFile(f)
			got, err := os.ReadFile(filepath.Join(dir, strings.Replace(f, "hello", "hello-go-0.1.0", 1)))
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("pulled %s differs from the pushed one (%v)", f, err)
			}
		}
	}
	code, _, stderr = run(t, "pull", pinned[1], "-o", t.TempDir(), "--trust", "mallory.pub")
	if code != 1 || !strings.Contains(stderr, "not trusted") {
		t.Errorf("pull with the wrong key: %d %s", code, stderr)
	}
	code, _, stderr = run(t, "pull", reg.Addr+"/plugins/none:1", "-o", t.TempDir())
	if code != 1 || !strings.Contains(stderr, "registry "+reg.Addr) {
		t.Errorf("pull of a missing artifact: %d %s", code, stderr)
	}
}
