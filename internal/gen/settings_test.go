package gen

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/airlock-go/airlock/internal/manifest"
)

// A manifest's settings become the closed struct Settings: each type
// mapped, required when required or defaulted, enums kept except a
// secret's.
func TestAddSettings(t *testing.T) {
	c, err := Parse(contractOf(`{"type": "string"}`))
	if err != nil {
		t.Fatal(err)
	}
	err = AddSettings(c, map[string]manifest.Setting{
		"workers": {Type: manifest.TypeInteger, Default: int64(2), Enum: []any{int64(1), int64(2)}},
		"ratio":   {Type: manifest.TypeNumber},
		"name":    {Type: manifest.TypeString, Required: true, Enum: []any{"a", "b"}},
		"token":   {Type: manifest.TypeSecret, Enum: []any{"s3cret"}},
		"on":      {Type: manifest.TypeBool, Default: false},
		"regions": {Type: manifest.TypeList},
	})
	if err != nil {
		t.Fatal(err)
	}
	s := c.Settings
	if s == nil || !s.Closed || s.Name != SettingsName {
		t.Fatalf("Settings = %+v, want a closed struct named %s", s, SettingsName)
	}
	found := false
	for _, x := range c.Structs {
		found = found || x == s
	}
	if !found {
		t.Error("Settings is not among the contract's structs")
	}
	want := map[string]struct {
		kind     Kind
		required bool
		enum     string
	}{
		"name":    {String, true, `["a","b"]`},
		"on":      {Bool, true, `null`},
		"ratio":   {Number, false, `null`},
		"regions": {Array, false, `null`},
		"token":   {String, false, `null`},
		"workers": {Integer, true, `[1,2]`},
	}
	var names []string
	for _, f := range s.Fields {
		names = append(names, f.JSON)
		w := want[f.JSON]
		enum, _ := json.Marshal(f.Type.Enum)
		if f.Type.Kind != w.kind || f.Required != w.required || string(enum) != w.enum {
			t.Errorf("setting %s: kind %v, required %v, enum %s; want %v, %v, %s", f.JSON, f.Type.Kind, f.Required, enum, w.kind, w.required, w.enum)
		}
	}
	if strings.Join(names, ",") != "name,on,ratio,regions,token,workers" {
		t.Errorf("fields %v, want them sorted by name", names)
	}
}

func TestAddSettingsErrors(t *testing.T) {
	cases := []struct {
		name     string
		contract string
		settings map[string]manifest.Setting
		want     string
	}{
		{"a contract type named Settings", `{"title": "Settings", "type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": false}`,
			map[string]manifest.Setting{}, "type Settings: unsupported schema"},
		{"a number in a string's enum", `{"type": "string"}`,
			map[string]manifest.Setting{"s": {Type: manifest.TypeString, Enum: []any{int64(1)}}}, `setting "s": unsupported schema: enum value 1 for a string`},
		{"an unknown type", `{"type": "string"}`,
			map[string]manifest.Setting{"s": {Type: "date"}}, `setting "s": unsupported schema: setting type "date"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse(contractOf(tc.contract))
			if err != nil {
				t.Fatal(err)
			}
			err = AddSettings(c, tc.settings)
			if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want ErrUnsupported with %q", err, tc.want)
			}
		})
	}
}

// A collect hook's after handler gets the array of answers; a plain
// hook's, its output. Every language writes a typed after registration.
func TestAfterHandlers(t *testing.T) {
	doc := `{"hooks": [
		{"name": "menu.items", "collect": true, "input": {"type": "string"}, "output": {"type": "object", "title": "Item", "properties": {"label": {"type": "string"}}, "required": ["label"], "additionalProperties": false}},
		{"name": "pay.ok", "input": {"type": "string"}, "output": {"type": "boolean"}}
	], "functions": []}`
	c, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Hooks) != 2 || !c.Hooks[0].Collect || c.Hooks[1].Collect {
		t.Fatalf("hooks %+v: want menu.items collect, pay.ok not", c.Hooks)
	}
	if o := c.Hooks[0].AfterOutput(); o.Kind != Array || o.Elem.Struct == nil || o.Elem.Struct.Name != "Item" {
		t.Errorf("menu.items after output: %+v, want an array of Item", o)
	}
	if o := c.Hooks[1].AfterOutput(); o.Kind != Bool {
		t.Errorf("pay.ok after output: %+v, want bool", o)
	}
	want := map[string][]string{
		"go":         {"func RegisterMenuItemsAfter(p *plugin.Plugin, fn func(ctx context.Context, h *plugin.Host, in string, out []Item) error)", "func RegisterPayOkAfter("},
		"python":     {`"menu.items": Callable[[airlock.Context, str, List["Item"]], None],`, "def register_after_hooks("},
		"typescript": {`"menu.items"?: AfterHandler<string, Array<Item>, S>;`, "export function registerAfterHooks<"},
		"rust":       {"F: Fn(&Context, String, Vec<Item>) -> Result<(), Error>", "pub fn register_pay_ok_after<F>("},
		"c":          {"typedef int (*contract_menu_items_after_fn)(const char *in, const char *out);", "contract_pay_ok_after_fn pay_ok_after;"},
	}
	for lang, snippets := range want {
		files, err := Generate(c, lang, "contract")
		if err != nil {
			t.Fatalf("%s: %v", lang, err)
		}
		var all strings.Builder
		for _, f := range files {
			all.Write(f.Data)
		}
		for _, s := range snippets {
			if !strings.Contains(all.String(), s) {
				t.Errorf("%s bindings lack %q", lang, s)
			}
		}
	}
}

// A manifest without settings still gets a Settings type, which refuses
// every setting: one added to the manifest later is never read as absent.
func TestAddSettingsNone(t *testing.T) {
	c, err := Parse(contractOf(`{"type": "string"}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := AddSettings(c, map[string]manifest.Setting{}); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"go":         "refuseUnknown(m)",
		"python":     "_closed(o, path, ())",
		"typescript": "closed(dObject(v, path), path, []);",
		"rust":       "closed(&o, path, &[])?;",
		"c":          "static const char *const known[] = {NULL};",
	}
	for lang, snippet := range want {
		files, err := Generate(c, lang, "contract")
		if err != nil {
			t.Fatalf("%s: %v", lang, err)
		}
		var all strings.Builder
		for _, f := range files {
			all.Write(f.Data)
		}
		if !strings.Contains(all.String(), snippet) {
			t.Errorf("%s bindings lack %q", lang, snippet)
		}
	}
}
