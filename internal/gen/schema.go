package gen

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// reader reads the schemas of one contract into Types, naming and sharing
// structs across hooks and functions.
type reader struct {
	structs map[string]*Struct // by Name
	shapes  map[string]string  // Name → the struct's shape, to share equal ones
}

// docReader reads one schema document: one hook's or function's input or
// output, with its own $defs.
type docReader struct {
	*reader
	defs    map[string]json.RawMessage
	defined map[string]*Struct // $defs key → struct, once read
	root    *Struct            // the document's own struct, for "$ref": "#"
}

// node is one schema object.
type node map[string]json.RawMessage

// The keywords a schema may have that generated code does not enforce:
// annotations, and constraints the host checks on what a plugin sends.
var ignored = map[string]bool{
	"$schema": true, "$comment": true, "title": true, "description": true, "format": true, "contentEncoding": true,
	"minimum": true, "maximum": true, "exclusiveMinimum": true, "exclusiveMaximum": true, "multipleOf": true,
	"minLength": true, "maxLength": true, "pattern": true, "minItems": true, "maxItems": true,
	"propertyNames": true, "default": true, "examples": true, "deprecated": true,
}

// The keywords read.
var understood = map[string]bool{
	"type": true, "properties": true, "required": true, "additionalProperties": true, "items": true,
	"enum": true, "anyOf": true, "$ref": true, "$defs": true,
}

// document reads one schema document; name is the name of its top-level
// struct when the schema gives none.
func (r *reader) document(raw json.RawMessage, name string) (*Type, error) {
	if len(raw) == 0 {
		return &Type{Kind: Raw}, nil
	}
	d := &docReader{reader: r, defs: map[string]json.RawMessage{}, defined: map[string]*Struct{}}
	var top node
	if json.Unmarshal(raw, &top) == nil {
		if defs, ok := top["$defs"]; ok {
			if err := json.Unmarshal(defs, &d.defs); err != nil {
				return nil, fmt.Errorf("#/$defs: %w: not an object of schemas", ErrUnsupported)
			}
		}
	}
	return d.schema(raw, "#", name)
}

// schema reads the schema raw at path; name names its struct, if it is one
// without a title.
func (d *docReader) schema(raw json.RawMessage, path, name string) (*Type, error) {
	var b bool
	if json.Unmarshal(raw, &b) == nil {
		if !b {
			return nil, fmt.Errorf("%s: %w: false (no value fits)", path, ErrUnsupported)
		}
		return &Type{Kind: Raw}, nil
	}
	var n node
	if err := json.Unmarshal(raw, &n); err != nil {
		return nil, fmt.Errorf("%s: %w: not a schema", path, ErrUnsupported)
	}
	keys := make([]string, 0, len(n))
	for k := range n {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !ignored[k] && !understood[k] {
			return nil, fmt.Errorf("%s: %w: keyword %q", path, ErrUnsupported, k)
		}
		if k == "$defs" && path != "#" {
			return nil, fmt.Errorf("%s: %w: $defs below the top", path, ErrUnsupported)
		}
	}
	if ref, ok := n["$ref"]; ok {
		if len(n) > 1+countIgnored(n) {
			return nil, fmt.Errorf("%s: %w: $ref beside other keywords", path, ErrUnsupported)
		}
		return d.ref(ref, path)
	}
	if anyOf, ok := n["anyOf"]; ok {
		return d.anyOf(n, anyOf, path, name)
	}
	types, err := typeNames(n, path)
	if err != nil {
		return nil, err
	}
	t := &Type{}
	switch {
	case len(types) == 0:
		if len(n) > countIgnored(n) {
			return nil, fmt.Errorf("%s: %w: a schema with no \"type\"", path, ErrUnsupported)
		}
		return &Type{Kind: Raw}, nil
	case len(types) == 2 && types[1] == "null":
		t.Nullable = true
	case len(types) != 1 || types[0] == "null":
		return nil, fmt.Errorf("%s: %w: type %s (one type, or one and \"null\", is supported)", path, ErrUnsupported, strings.Join(types, ", "))
	}
	switch types[0] {
	case "boolean":
		t.Kind = Bool
	case "string":
		t.Kind = String
	case "number":
		t.Kind = Number
	case "integer":
		t.Kind = Integer
	case "array":
		t.Kind = Array
		t.Elem = &Type{Kind: Raw}
		if items, ok := n["items"]; ok {
			if t.Elem, err = d.schema(items, path+"/items", name+"Item"); err != nil {
				return nil, err
			}
		}
	case "object":
		if err := d.object(t, n, path, name); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("%s: %w: type %q", path, ErrUnsupported, types[0])
	}
	if e, ok := n["enum"]; ok {
		if t.Enum, err = enumValues(e, t, path); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// countIgnored counts the keywords of n that do not say what a value is:
// annotations, constraints and $defs.
func countIgnored(n node) int {
	c := 0
	for k := range n {
		if ignored[k] || k == "$defs" {
			c++
		}
	}
	return c
}

// typeNames returns the schema's "type", with "null" last.
func typeNames(n node, path string) ([]string, error) {
	raw, ok := n["type"]
	if !ok {
		return nil, nil
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, fmt.Errorf("%s/type: %w: not a string or a list of strings", path, ErrUnsupported)
	}
	slices.SortStableFunc(many, func(a, b string) int {
		switch {
		case a == b:
			return 0
		case a == "null":
			return 1
		case b == "null":
			return -1
		}
		return 0
	})
	return many, nil
}

// anyOf reads [X, {"type": "null"}], the only anyOf the contract's
// generator writes (a nullable named struct).
func (d *docReader) anyOf(n node, raw json.RawMessage, path, name string) (*Type, error) {
	var alts []json.RawMessage
	if err := json.Unmarshal(raw, &alts); err != nil || len(alts) != 2 || len(n) > 1+countIgnored(n) {
		return nil, fmt.Errorf("%s/anyOf: %w: only anyOf [SCHEMA, {\"type\": \"null\"}] is supported", path, ErrUnsupported)
	}
	var second node
	if json.Unmarshal(alts[1], &second) != nil || len(second) != 1 || string(second["type"]) != `"null"` {
		return nil, fmt.Errorf("%s/anyOf: %w: only anyOf [SCHEMA, {\"type\": \"null\"}] is supported", path, ErrUnsupported)
	}
	t, err := d.schema(alts[0], path+"/anyOf/0", name)
	if err != nil {
		return nil, err
	}
	c := *t
	c.Nullable = true
	return &c, nil
}

// ref reads a $ref to #/$defs/NAME.
func (d *docReader) ref(raw json.RawMessage, path string) (*Type, error) {
	var ref string
	if err := json.Unmarshal(raw, &ref); err != nil {
		return nil, fmt.Errorf("%s/$ref: %w: not a string", path, ErrUnsupported)
	}
	if ref == "#" && d.root != nil {
		return &Type{Kind: Object, Struct: d.root}, nil // a recursive type at the top
	}
	key, ok := strings.CutPrefix(ref, "#/$defs/")
	def, found := d.defs[key]
	if !ok || !found {
		return nil, fmt.Errorf("%s/$ref: %w: %q (only # and #/$defs/NAME of the same document are supported)", path, ErrUnsupported, ref)
	}
	if s, ok := d.defined[key]; ok {
		return &Type{Kind: Object, Struct: s}, nil
	}
	var n node
	if err := json.Unmarshal(def, &n); err != nil || string(n["type"]) != `"object"` || n["properties"] == nil {
		// A definition that is not a struct is read in place.
		return d.schema(def, "#/$defs/"+key, Camel(key))
	}
	// Defined before its fields are read, so that a recursive type refers
	// back to it.
	s := &Struct{Name: Camel(key)}
	d.defined[key] = s
	t := &Type{}
	if err := d.object(t, n, "#/$defs/"+key, s.Name); err != nil {
		return nil, err
	}
	*s = *t.Struct
	d.defined[key] = d.share(s)
	return &Type{Kind: Object, Struct: d.defined[key]}, nil
}

// object reads an object schema: a struct when it lists properties or
// refuses others, else a map.
func (d *docReader) object(t *Type, n node, path, name string) error {
	props, hasProps := n["properties"]
	addl, hasAddl := n["additionalProperties"]
	closed := hasAddl && string(addl) == "false"
	if !hasProps && !closed {
		t.Kind, t.Elem = Map, &Type{Kind: Raw}
		if hasAddl {
			var err error
			if t.Elem, err = d.schema(addl, path+"/additionalProperties", name+"Value"); err != nil {
				return err
			}
		}
		if _, ok := n["required"]; ok {
			return fmt.Errorf("%s: %w: required properties on a map", path, ErrUnsupported)
		}
		return nil
	}
	if !closed {
		return fmt.Errorf("%s: %w: an object with both properties and additionalProperties other than false", path, ErrUnsupported)
	}
	var title string
	if raw, ok := n["title"]; ok {
		if json.Unmarshal(raw, &title) == nil && title != "" {
			name = Camel(title)
		}
	}
	s := &Struct{Name: name}
	if path == "#" {
		d.root = s
	}
	if raw, ok := n["description"]; ok {
		_ = json.Unmarshal(raw, &s.Doc)
	}
	var properties map[string]json.RawMessage
	if hasProps {
		if err := json.Unmarshal(props, &properties); err != nil {
			return fmt.Errorf("%s/properties: %w: not an object of schemas", path, ErrUnsupported)
		}
	}
	var required []string
	if raw, ok := n["required"]; ok {
		if err := json.Unmarshal(raw, &required); err != nil {
			return fmt.Errorf("%s/required: %w: not a list of names", path, ErrUnsupported)
		}
	}
	for _, r := range required {
		if _, ok := properties[r]; !ok {
			return fmt.Errorf("%s/required: %w: %q is required but not a property", path, ErrUnsupported, r)
		}
	}
	keys := make([]string, 0, len(properties))
	for k := range properties {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		ft, err := d.schema(properties[k], path+"/properties/"+escapePointer(k), s.Name+Camel(k))
		if err != nil {
			return err
		}
		f := Field{JSON: k, Type: ft, Required: slices.Contains(required, k)}
		var fn node
		if json.Unmarshal(properties[k], &fn) == nil {
			_ = json.Unmarshal(fn["description"], &f.Doc)
		}
		s.Fields = append(s.Fields, f)
	}
	t.Kind, t.Struct = Object, s
	if path == "#" || !strings.HasPrefix(path, "#/$defs/") || strings.Count(path, "/") > 2 {
		t.Struct = d.share(s)
	}
	return nil
}

// share returns the struct of s's name already read if it has the same
// shape, else s under a name of its own.
func (r *reader) share(s *Struct) *Struct {
	shape := s.shape()
	base := s.Name
	for i := 1; ; i++ {
		old, taken := r.structs[s.Name]
		if !taken {
			r.structs[s.Name] = s
			r.shapes[s.Name] = shape
			return s
		}
		if r.shapes[s.Name] == shape {
			return old
		}
		s.Name = fmt.Sprintf("%s%d", base, i+1)
	}
}

// shape describes a struct's fields and their types, to compare structs.
func (s *Struct) shape() string {
	var b strings.Builder
	for _, f := range s.Fields {
		fmt.Fprintf(&b, "%q:%v:%s;", f.JSON, f.Required, f.Type.shape())
	}
	return b.String()
}

func (t *Type) shape() string {
	s := fmt.Sprintf("%d/%v/%v", t.Kind, t.Nullable, t.Enum)
	switch t.Kind {
	case Array, Map:
		s += "[" + t.Elem.shape() + "]"
	case Object:
		s += "{" + t.Struct.Name + "}"
	}
	return s
}

// enumValues reads an enum for a value of type t.
func enumValues(raw json.RawMessage, t *Type, path string) ([]any, error) {
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	var vals []any
	if err := dec.Decode(&vals); err != nil {
		return nil, fmt.Errorf("%s/enum: %w: not a list", path, ErrUnsupported)
	}
	var out []any
	for _, v := range vals {
		ok := false
		switch v.(type) {
		case nil:
			continue
		case string:
			ok = t.Kind == String
		case bool:
			ok = t.Kind == Bool
		case json.Number:
			ok = t.Kind == Number || t.Kind == Integer
		}
		if !ok {
			return nil, fmt.Errorf("%s/enum: %w: value %v does not fit the type", path, ErrUnsupported, v)
		}
		out = append(out, v)
	}
	return out, nil
}

func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}
