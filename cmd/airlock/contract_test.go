package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/airlock-go/airlock/internal/testutil"
)

// "airlock contract" prints the demo host's contract: it builds
// examples/host and runs it only as far as airlock.New, so no plugin is
// built or loaded.
func TestContractOfTheDemoHost(t *testing.T) {
	noToolchainUnderWine(t)
	code, stdout, stderr := run(t, "contract", filepath.Join(testutil.Root(), "examples", "host"))
	if code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr)
	}
	var doc struct {
		Version  string `json:"version"`
		Enforced bool   `json:"enforced"`
		Protocol int    `json:"protocol"`
		Hooks    []struct {
			Name    string          `json:"name"`
			Phases  []string        `json:"phases"`
			Default bool            `json:"default"`
			Input   json.RawMessage `json:"input"`
			Output  json.RawMessage `json:"output"`
		} `json:"hooks"`
		Functions []struct {
			Name       string          `json:"name"`
			Capability string          `json:"capability"`
			Input      json.RawMessage `json:"input"`
		} `json:"functions"`
		Capabilities []struct {
			Name      string   `json:"name"`
			Functions []string `json:"functions"`
		} `json:"capabilities"`
	}
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("%v:\n%s", err, stdout)
	}
	if doc.Version != "1.0.0" || !doc.Enforced || doc.Protocol != 1 || len(doc.Hooks) != 1 {
		t.Fatalf("contract = %s", stdout)
	}
	greet := doc.Hooks[0]
	if greet.Name != "greet" || !greet.Default || !slices.Equal(greet.Phases, []string{"before", "define", "after"}) {
		t.Errorf("hook = %+v", greet)
	}
	if in := compactJSON(t, greet.Input); in != `{"$schema":"https://json-schema.org/draft/2020-12/schema","additionalProperties":false,"properties":{"name":{"type":"string"}},"required":["name"],"title":"GreetInput","type":"object"}` {
		t.Errorf("greet input schema = %s", in)
	}
	if out := compactJSON(t, greet.Output); !strings.Contains(out, `"required":["message"]`) || !strings.Contains(out, `"title":"GreetOutput"`) {
		t.Errorf("greet output schema = %s", out)
	}
	found := false
	for _, f := range doc.Functions {
		if f.Name == "ledger.balance" {
			found = f.Capability == "ledger.read" && strings.Contains(string(f.Input), `"account"`)
		}
	}
	if !found {
		t.Errorf("no ledger.balance function guarded by ledger.read in %s", stdout)
	}
	last := doc.Capabilities[len(doc.Capabilities)-1]
	if last.Name != "ledger.read" || !slices.Equal(last.Functions, []string{"ledger.balance"}) {
		t.Errorf("capabilities = %+v", doc.Capabilities)
	}
}

func TestContractErrors(t *testing.T) {
	noToolchainUnderWine(t)
	// A program that never makes a Host.
	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module example.com/nohost\n\ngo 1.21\n")
	// It says where it runs: in its package's directory, as "go run" would.
	write("main.go", "package main\n\nimport (\n\t\"fmt\"\n\t\"os\"\n)\n\nfunc main() {\n\twd, _ := os.Getwd()\n\tfmt.Println(\"no airlock here, in\", wd)\n}\n")
	code, _, stderr := run(t, "contract", dir)
	realDir, _ := filepath.EvalSymlinks(dir)
	for _, want := range []string{"exited with status 0 without calling airlock.New or airlock.Open", "Give it the arguments it needs", "no airlock here, in " + realDir} {
		if code != 1 || !strings.Contains(stderr, want) {
			t.Errorf("no host: exit %d, want 1 and %q in stderr:\n%s", code, want, stderr)
		}
	}
	// A program waiting for something that never comes: the timeout.
	write("main.go", "package main\n\nimport \"time\"\n\nfunc main() { time.Sleep(time.Hour) }\n")
	code, _, stderr = run(t, "contract", "--timeout", "500ms", dir)
	if code != 1 || !strings.Contains(stderr, "was still running after 500ms") {
		t.Errorf("timeout: exit %d, stderr:\n%s", code, stderr)
	}
	code, _, stderr = run(t, "contract", filepath.Join(dir, "nonexistent"))
	if code != 1 || !strings.Contains(stderr, "building the host program") {
		t.Errorf("no package: exit %d, stderr:\n%s", code, stderr)
	}
	code, _, stderr = run(t, "contract")
	if code != 2 || !strings.Contains(stderr, "want the host program's Go package") || !strings.Contains(stderr, "Usage: airlock contract PACKAGE") {
		t.Errorf("no argument: exit %d, stderr:\n%s", code, stderr)
	}
}

func compactJSON(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(v)
	return string(b)
}
