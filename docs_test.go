package airlock_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airlock-go/airlock"
	"github.com/airlock-go/airlock/internal/manifest"
	"github.com/airlock-go/airlock/internal/testutil"
)

// firstTOML returns the first ```toml block of a document.
func firstTOML(t *testing.T, doc string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testutil.Root(), doc))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(data), "```toml\n")
	block, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatalf("%s has no toml block", doc)
	}
	return block
}

// The examples in the docs are real: they parse.
func TestDocExamplesParse(t *testing.T) {
	cfg, err := airlock.ParseConfig("docs/CONFIG.md", []byte(firstTOML(t, "docs/CONFIG.md")))
	if err != nil {
		t.Fatalf("docs/CONFIG.md example: %v", err)
	}
	if len(cfg.Plugins) != 3 || cfg.Plugins[1].HookPriority["payment.done"] != 10 || cfg.Plugins[0].Sandbox != "required" {
		t.Errorf("docs/CONFIG.md example parsed as %+v", cfg.Plugins)
	}
	pk, err := airlock.ParseConfig("docs/PACKAGES.md", []byte(firstTOML(t, "docs/PACKAGES.md")))
	if err != nil {
		t.Fatalf("docs/PACKAGES.md example: %v", err)
	}
	if !pk.Trust.RequireSigned || len(pk.Plugins) != 3 || pk.Plugins[0].Publishers[0] != "F7B3E7A885532A44" {
		t.Errorf("docs/PACKAGES.md example parsed as %+v", pk)
	}
	m, err := manifest.Parse("docs/MANIFEST.md", []byte(firstTOML(t, "docs/MANIFEST.md")))
	if err != nil {
		t.Fatalf("docs/MANIFEST.md example: %v", err)
	}
	if m.Phase("greet") != "before" || m.RunFor("windows", "amd64").Entry != "bin/teller.exe" || m.ContractVersion().String() != "1.0.0" {
		t.Errorf("docs/MANIFEST.md example parsed as %+v", m)
	}
}
