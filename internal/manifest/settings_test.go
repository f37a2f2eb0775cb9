package manifest

import (
	"strings"
	"testing"
)

const settingsManifest = base + `
[config.greeting]
type = "string"
default = "hello"

[config.retries]
type = "number"
min = 0
max = 5
default = 1

[config.mode]
type = "string"
enum = ["fast", "safe"]
default = "safe"

[config.tags]
type = "list"
pattern = "^[a-z]+$"

[config.token]
type = "secret"
required = true

[config.verbose]
type = "bool"
default = false
`

func TestResolveConfig(t *testing.T) {
	m, err := Parse("plugin.toml", []byte(settingsManifest))
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.ResolveConfig(map[string]any{"token": "hunter2", "retries": int64(3), "tags": []any{"a", "b"}})
	if err != nil {
		t.Fatal(err)
	}
	if got["greeting"] != "hello" || got["retries"] != 3.0 || got["mode"] != "safe" || got["verbose"] != false || got["token"] != "hunter2" {
		t.Errorf("resolved = %v", got)
	}
	cases := []struct {
		name   string
		values map[string]any
		say    []string
	}{
		{"missing required", map[string]any{}, []string{"missing required setting", "token"}},
		{"unknown", map[string]any{"token": "x", "colour": "red"}, []string{`setting "colour"`, "unknown setting", "greeting, mode, retries, tags, token, verbose"}},
		{"wrong type", map[string]any{"token": "x", "greeting": 42}, []string{`setting "greeting"`, "want string"}},
		{"over max", map[string]any{"token": "x", "retries": 9}, []string{`setting "retries"`, "maximum"}},
		{"not in enum", map[string]any{"token": "x", "mode": "reckless"}, []string{`setting "mode"`}},
		{"list item pattern", map[string]any{"token": "x", "tags": []any{"ok", "NOT OK"}}, []string{`setting "tags"`}},
		{"secret never shown", map[string]any{"token": 12345678}, []string{`setting "token"`, "secret, not shown"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := m.ResolveConfig(c.values)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, s := range c.say {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("err = %v, want %q", err, s)
				}
			}
			if strings.Contains(err.Error(), "12345678") || strings.Contains(err.Error(), "hunter2") {
				t.Errorf("a secret's value leaked into %v", err)
			}
		})
	}
}
