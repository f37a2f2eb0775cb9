package manifest

import (
	"errors"
	"reflect"
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

[config.ratio]
type = "number"

[config.mode]
type = "string"
enum = ["fast", "safe"]
default = "safe"

[config.code]
type = "string"
pattern = "^[A-Z]{3}$"

[config.tags]
type = "list"
pattern = "^[a-z]+$"

[config.blocked]
type = "list"
default = ["mallory"]

[config.token]
type = "secret"
required = true
pattern = "^tok-"

[config.verbose]
type = "bool"
default = false

[config.workers]
type = "integer"
min = 1
max = 64
default = 4
`

const secret = "hunter2-do-not-log"

func TestResolveConfigDefaults(t *testing.T) {
	m := mustParse(t, settingsManifest)
	got, err := m.ResolveConfig(map[string]any{"token": "tok-" + secret})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"greeting": "hello",
		"retries":  1.0, // a TOML integer default, as a JSON number
		"mode":     "safe",
		"blocked":  []any{"mallory"},
		"verbose":  false,
		"workers":  4.0,
		"token":    "tok-" + secret,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("resolved = %#v\nwant       %#v", got, want)
	}
	// Settings with neither value nor default are absent, not null.
	for _, k := range []string{"ratio", "code", "tags"} {
		if _, ok := got[k]; ok {
			t.Errorf("%q present as %v; it has no value and no default", k, got[k])
		}
	}
	// The result is the plugin's own: changing it leaves the manifest's
	// defaults alone.
	got["blocked"].([]any)[0] = "eve"
	again, err := m.ResolveConfig(map[string]any{"token": "tok-x"})
	if err != nil {
		t.Fatal(err)
	}
	if again["blocked"].([]any)[0] != "mallory" {
		t.Errorf("a default was changed through an earlier result: %v", again["blocked"])
	}
}

func TestResolveConfigValues(t *testing.T) {
	m := mustParse(t, settingsManifest)
	cases := []struct {
		name   string
		values map[string]any
		want   map[string]any // the settings to check in the result
	}{
		{"values override defaults", map[string]any{"token": "tok-a", "greeting": "hi", "verbose": true, "mode": "fast"},
			map[string]any{"greeting": "hi", "verbose": true, "mode": "fast"}},
		{"TOML integer for number", map[string]any{"token": "tok-a", "retries": int64(3), "ratio": int64(-7)},
			map[string]any{"retries": 3.0, "ratio": -7.0}},
		{"Go int for number", map[string]any{"token": "tok-a", "retries": 5},
			map[string]any{"retries": 5.0}},
		{"float for number", map[string]any{"token": "tok-a", "ratio": 0.25, "retries": 0.0},
			map[string]any{"ratio": 0.25, "retries": 0.0}},
		{"bounds are inclusive", map[string]any{"token": "tok-a", "retries": int64(0)},
			map[string]any{"retries": 0.0}},
		{"list", map[string]any{"token": "tok-a", "tags": []any{"a", "bc"}, "blocked": []string{}},
			map[string]any{"tags": []any{"a", "bc"}, "blocked": []any{}}},
		{"pattern", map[string]any{"token": "tok-a", "code": "ABC"},
			map[string]any{"code": "ABC"}},
		{"integer", map[string]any{"token": "tok-a", "workers": int64(64)},
			map[string]any{"workers": 64.0}},
		{"whole float for integer", map[string]any{"token": "tok-a", "workers": 8.0},
			map[string]any{"workers": 8.0}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := m.ResolveConfig(c.values)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range c.want {
				if !reflect.DeepEqual(got[k], v) {
					t.Errorf("%s = %#v, want %#v", k, got[k], v)
				}
			}
		})
	}
}

func TestResolveConfigErrors(t *testing.T) {
	m := mustParse(t, settingsManifest)
	const known = "blocked, code, greeting, mode, ratio, retries, tags, token, verbose, workers"
	cases := []struct {
		name   string
		values map[string]any
		say    []string
	}{
		{"missing required setting", map[string]any{}, []string{"missing required setting", "token"}},
		{"unknown setting", map[string]any{"token": "tok-x", "colour": "red"},
			[]string{`setting "colour": unknown setting (the plugin takes: ` + known + ")"}},
		{"two unknown settings", map[string]any{"token": "tok-x", "colour": "red", "size": 1},
			[]string{`setting "colour": unknown setting`, `setting "size": unknown setting`}},
		{"wrong type: string", map[string]any{"token": "tok-x", "greeting": 42}, []string{`setting "greeting": got number, want string`}},
		{"wrong type: number", map[string]any{"token": "tok-x", "retries": "3"}, []string{`setting "retries": got string, want number`}},
		{"wrong type: bool", map[string]any{"token": "tok-x", "verbose": "yes"}, []string{`setting "verbose": got string, want boolean`}},
		{"wrong type: list", map[string]any{"token": "tok-x", "tags": "a,b"}, []string{`setting "tags": got string, want array`}},
		{"wrong type named per setting", map[string]any{"token": "tok-x", "greeting": 1, "verbose": 1},
			[]string{`setting "greeting": got number, want string`, `setting "verbose": got number, want boolean`}},
		{"null is not a value", map[string]any{"token": "tok-x", "greeting": nil}, []string{`setting "greeting"`, "got null"}},
		{"not in enum", map[string]any{"token": "tok-x", "mode": "reckless"}, []string{`setting "mode"`, "must be one of 'fast', 'safe'"}},
		{"over max", map[string]any{"token": "tok-x", "retries": int64(6)}, []string{`setting "retries": maximum: got 6, want 5`}},
		{"under min", map[string]any{"token": "tok-x", "retries": -0.5}, []string{`setting "retries": minimum: got -0.5, want 0`}},
		{"fraction for integer", map[string]any{"token": "tok-x", "workers": 2.5}, []string{`setting "workers": got number, want integer`}},
		{"integer over max", map[string]any{"token": "tok-x", "workers": int64(65)}, []string{`setting "workers": maximum: got 65, want 64`}},
		{"pattern", map[string]any{"token": "tok-x", "code": "abcd"}, []string{`setting "code"`, "does not match pattern"}},
		{"list item type", map[string]any{"token": "tok-x", "tags": []any{"ok", 7}}, []string{`setting "tags"`, "got number, want string"}},
		{"list item pattern", map[string]any{"token": "tok-x", "tags": []any{"ok", "NOT OK"}}, []string{`setting "tags"`, "'NOT OK' does not match pattern"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := m.ResolveConfig(c.values)
			if err == nil {
				t.Fatalf("accepted: %v", got)
			}
			if got != nil {
				t.Errorf("returned %v with its error", got)
			}
			for _, s := range c.say {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("err = %q\nwant it to contain %q", err, s)
				}
			}
			var se *SettingError
			if !errors.As(err, &se) {
				t.Errorf("err = %T, want *SettingError inside", err)
			}
		})
	}
}

// A secret's value never appears in an error, whatever is wrong with it.
func TestResolveConfigSecretNeverShown(t *testing.T) {
	m := mustParse(t, settingsManifest)
	cases := []struct {
		name   string
		values map[string]any
	}{
		{"fails its pattern", map[string]any{"token": secret}},
		{"wrong type", map[string]any{"token": []any{secret}}},
		{"number", map[string]any{"token": 8675309}},
		{"with another bad setting", map[string]any{"token": secret, "retries": 99}},
		{"with an unknown setting", map[string]any{"token": secret, "other": 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := m.ResolveConfig(c.values)
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			for _, leak := range []string{secret, "8675309", "hunter2"} {
				if strings.Contains(msg, leak) {
					t.Errorf("the secret's value leaked into %q", msg)
				}
			}
			if c.name != "with an unknown setting" && !strings.Contains(msg, `setting "token": invalid value (secret, not shown)`) {
				t.Errorf("err = %q, want the secret setting named without its value", msg)
			}
		})
	}
}

func TestResolveConfigNoSettings(t *testing.T) {
	m := mustParse(t, base)
	got, err := m.ResolveConfig(nil)
	if err != nil || len(got) != 0 {
		t.Errorf("ResolveConfig(nil) = %v, %v; want an empty config", got, err)
	}
	_, err = m.ResolveConfig(map[string]any{"x": 1})
	if err == nil || !strings.Contains(err.Error(), `setting "x": unknown setting (the plugin takes: none)`) {
		t.Errorf("err = %v", err)
	}
}

func TestSecret(t *testing.T) {
	for typ, want := range map[string]bool{TypeSecret: true, TypeString: false, TypeList: false, "": false} {
		if got := (Setting{Type: typ}).Secret(); got != want {
			t.Errorf("Setting{Type: %q}.Secret() = %v", typ, got)
		}
	}
}

func TestSettingErrorFormat(t *testing.T) {
	if got := (&SettingError{Setting: "x", Message: "bad"}).Error(); got != `setting "x": bad` {
		t.Errorf("got %q", got)
	}
	if got := (&SettingError{Message: "whole"}).Error(); got != "whole" {
		t.Errorf("got %q", got)
	}
}
