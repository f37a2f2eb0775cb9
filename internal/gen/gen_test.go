package gen

import (
	"errors"
	"strings"
	"testing"
)

func TestNames(t *testing.T) {
	cases := []struct{ in, camel, snake, goName string }{
		{"payment.approve", "PaymentApprove", "payment_approve", "PaymentApprove"},
		{"account_id", "AccountId", "account_id", "AccountID"},
		{"accountID", "AccountID", "account_id", "AccountID"},
		{"$x", "X", "x", "X"},
		{"2fa", "X2fa", "x2fa", "X2fa"},
		{"kv.get", "KvGet", "kv_get", "KvGet"},
		{"", "X", "x", "X"},
	}
	for _, c := range cases {
		if got := Camel(c.in); got != c.camel {
			t.Errorf("Camel(%q) = %q, want %q", c.in, got, c.camel)
		}
		if got := Snake(c.in); got != c.snake {
			t.Errorf("Snake(%q) = %q, want %q", c.in, got, c.snake)
		}
		if got := goName(c.in); got != c.goName {
			t.Errorf("goName(%q) = %q, want %q", c.in, got, c.goName)
		}
	}
}

// contractOf is a contract document with one hook whose input schema is in.
func contractOf(in string) []byte {
	return []byte(`{"hooks": [{"name": "h", "input": ` + in + `, "output": true}], "functions": []}`)
}

// Schemas are read into types; what typed code cannot hold is an error
// naming the hook and the JSON path, never silently "any".
func TestParseSchemas(t *testing.T) {
	cases := []struct {
		name, schema string
		want         string // the input type, or the error
	}{
		{"any", `true`, "raw"},
		{"string", `{"type": "string"}`, "string"},
		{"nullable integer", `{"type": ["integer", "null"]}`, "integer?"},
		{"enum", `{"type": "string", "enum": ["a", "b"]}`, "string[a b]"},
		{"array", `{"type": ["array", "null"], "items": {"type": "number"}}`, "array?<number>"},
		{"map", `{"type": "object", "additionalProperties": {"type": "boolean"}}`, "map<boolean>"},
		{"open object", `{"type": "object"}`, "map<raw>"},
		{"struct", `{"type": "object", "title": "Pay", "properties": {"b": {"type": "string"}, "a": {"type": "integer"}}, "required": ["b"], "additionalProperties": false}`,
			"Pay{a integer, b! string}"},
		{"struct without title", `{"type": "object", "properties": {}, "additionalProperties": false}`, "HInput{}"},
		{"ref", `{"$defs": {"P": {"type": "object", "properties": {"x": {"type": "string"}}, "additionalProperties": false}}, "anyOf": [{"$ref": "#/$defs/P"}, {"type": "null"}]}`,
			"P?{x string}"},
		{"recursive at the top", `{"type": "object", "title": "N", "properties": {"next": {"anyOf": [{"$ref": "#"}, {"type": "null"}]}}, "additionalProperties": false}`,
			"N{next N?}"},
		{"constraints ignored", `{"type": "integer", "minimum": 0, "maximum": 9, "description": "d"}`, "integer"},

		{"false", `false`, `hook "h": input: #: unsupported schema: false`},
		{"two types", `{"type": ["string", "integer"]}`, `hook "h": input: #: unsupported schema: type string, integer`},
		{"oneOf", `{"oneOf": [{"type": "string"}]}`, `hook "h": input: #: unsupported schema: keyword "oneOf"`},
		{"nested unknown", `{"type": "object", "properties": {"a": {"type": "array", "items": {"not": {}}}}, "additionalProperties": false}`,
			`hook "h": input: #/properties/a/items: unsupported schema: keyword "not"`},
		{"external ref", `{"$ref": "https://example.com/s.json"}`, `hook "h": input: #/$ref: unsupported schema: "https://example.com/s.json"`},
		{"props and map", `{"type": "object", "properties": {}, "additionalProperties": {"type": "string"}}`,
			`hook "h": input: #: unsupported schema: an object with both properties and additionalProperties other than false`},
		{"required not a property", `{"type": "object", "properties": {}, "required": ["x"], "additionalProperties": false}`,
			`hook "h": input: #/required: unsupported schema: "x" is required but not a property`},
		{"other anyOf", `{"anyOf": [{"type": "string"}, {"type": "integer"}]}`, `hook "h": input: #/anyOf: unsupported schema`},
		{"enum of another type", `{"type": "string", "enum": [1]}`, `hook "h": input: #/enum: unsupported schema: value 1 does not fit the type`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			con, err := Parse(contractOf(c.schema))
			if err != nil {
				if !errors.Is(err, ErrUnsupported) || !strings.HasPrefix(err.Error(), c.want) {
					t.Fatalf("err = %v, want %q (ErrUnsupported)", err, c.want)
				}
				return
			}
			if got := describe(con.Hooks[0].In, true); got != c.want {
				t.Errorf("type = %s, want %s", got, c.want)
			}
		})
	}
}

// describe writes a type compactly: ? nullable, ! required field.
func describe(t *Type, top bool) string {
	n := ""
	if t.Nullable {
		n = "?"
	}
	switch t.Kind {
	case Raw:
		return "raw"
	case Array:
		return "array" + n + "<" + describe(t.Elem, false) + ">"
	case Map:
		return "map" + n + "<" + describe(t.Elem, false) + ">"
	case Object:
		if !top {
			return t.Struct.Name + n
		}
		var fs []string
		for _, f := range t.Struct.Fields {
			r := ""
			if f.Required {
				r = "!"
			}
			fs = append(fs, f.JSON+r+" "+describe(f.Type, false))
		}
		return t.Struct.Name + n + "{" + strings.Join(fs, ", ") + "}"
	}
	s := map[Kind]string{Bool: "boolean", String: "string", Number: "number", Integer: "integer"}[t.Kind] + n
	if len(t.Enum) > 0 {
		var vs []string
		for _, v := range t.Enum {
			vs = append(vs, v.(string))
		}
		s += "[" + strings.Join(vs, " ") + "]"
	}
	return s
}

// Two schemas with one title and one shape are one type; with another
// shape, the second gets a name of its own.
func TestStructSharing(t *testing.T) {
	doc := []byte(`{"hooks": [
	  {"name": "a", "input": {"type": "object", "title": "P", "properties": {"x": {"type": "string"}}, "additionalProperties": false}, "output": true},
	  {"name": "b", "input": {"type": "object", "title": "P", "properties": {"x": {"type": "string"}}, "additionalProperties": false}, "output": true},
	  {"name": "c", "input": {"type": "object", "title": "P", "properties": {"y": {"type": "string"}}, "additionalProperties": false}, "output": true}
	], "functions": []}`)
	c, err := Parse(doc)
	if err != nil {
		t.Fatal(err)
	}
	if c.Hooks[0].In.Struct != c.Hooks[1].In.Struct || c.Hooks[2].In.Struct.Name != "P2" || len(c.Structs) != 2 {
		t.Errorf("structs: a %s, b %s, c %s; %d in all", c.Hooks[0].In.Struct.Name, c.Hooks[1].In.Struct.Name, c.Hooks[2].In.Struct.Name, len(c.Structs))
	}
}

func TestGenerateErrors(t *testing.T) {
	c, err := Parse(contractOf(`{"type": "object", "properties": {"m": {"type": "array", "items": {"type": "array"}}}, "additionalProperties": false}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Generate(c, "c", "contract"); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), `type HInput: property "m"`) {
		t.Errorf("C, an array of arrays: err = %v", err)
	}
	for _, lang := range []string{"go", "python", "typescript", "rust"} {
		if _, err := Generate(c, lang, "contract"); err != nil {
			t.Errorf("%s, an array of arrays: %v", lang, err)
		}
	}
	if _, err := Generate(c, "go", "Bad-Name"); err == nil {
		t.Error("a package name with a dash was accepted")
	}
	if _, err := Parse([]byte(`{"version": "1.0.0"}`)); err == nil {
		t.Error("a document without hooks or functions was accepted")
	}
}
