// Package gen turns a host's contract document (airlock.Host.Contract,
// "airlock contract") into typed bindings for plugins: Go, Python,
// TypeScript, C and Rust. The JSON Schemas of the contract are first read
// into a small intermediate form (this file and schema.go), which every
// language's emitter walks; anything the form cannot represent is an
// error naming the hook or function and the JSON path in its schema.
package gen

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrUnsupported matches, with errors.Is, an error for a schema the
// generator cannot represent in typed code.
var ErrUnsupported = errors.New("unsupported schema")

// Kind is the kind of a Type.
type Kind int

// The kinds of Type.
const (
	// Raw is any JSON value, carried as JSON (the schema `true`).
	Raw Kind = iota
	Bool
	String
	Number
	Integer
	Array  // Elem is the items' type
	Map    // an object with any keys; Elem is the values' type
	Object // a struct: Struct says which
)

// Type is the type of one value.
type Type struct {
	Kind     Kind
	Nullable bool    // null is also accepted
	Elem     *Type   // Array, Map
	Struct   *Struct // Object
	// Enum lists the values allowed (strings as string, numbers as
	// json.Number, booleans as bool), or is empty. null is never in it:
	// Nullable says so.
	Enum []any
}

// Struct is an object type with named fields.
type Struct struct {
	Name   string  // the type's name in generated code, in CamelCase
	Doc    string  // the schema's description
	Fields []Field // sorted by JSON name
	// Closed refuses members that are not fields (the plugin's settings:
	// a setting the bindings do not know is a manifest they were not
	// generated from). Contract types are open: a host may add fields.
	Closed bool
}

// Field is one property of a Struct.
type Field struct {
	JSON     string // the property's name
	Doc      string
	Type     *Type
	Required bool
}

// Op is a hook or a host function.
type Op struct {
	Name       string // as in the contract: payment.approve
	Capability string // a function's; empty for a hook
	Default    bool   // a hook's: whether the host has a default
	Collect    bool   // a hook's: every definer answers (airlock.CollectHook)
	In, Out    *Type
}

// AfterOutput is the type of the output an after handler of hook h gets:
// the hook's output, or for a collect hook the array of the answers that
// succeeded.
func (h Op) AfterOutput() *Type {
	if h.Collect {
		return &Type{Kind: Array, Elem: h.Out}
	}
	return h.Out
}

// Contract is a contract document read for generation.
type Contract struct {
	Version   string
	Hooks     []Op      // sorted by name
	Functions []Op      // sorted by name
	Structs   []*Struct // every struct, sorted by name
	// Settings is the plugin's settings (AddSettings), or nil. It is also
	// in Structs.
	Settings *Struct
}

// document is the contract document, as far as generation needs it.
type document struct {
	Version string `json:"version"`
	Hooks   []struct {
		Name    string          `json:"name"`
		Default bool            `json:"default"`
		Collect bool            `json:"collect"`
		Input   json.RawMessage `json:"input"`
		Output  json.RawMessage `json:"output"`
	} `json:"hooks"`
	Functions []struct {
		Name       string          `json:"name"`
		Capability string          `json:"capability"`
		Input      json.RawMessage `json:"input"`
		Output     json.RawMessage `json:"output"`
	} `json:"functions"`
}

// Parse reads a contract document.
func Parse(data []byte) (*Contract, error) {
	var doc document
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("not a contract document: %w", err)
	}
	if doc.Hooks == nil && doc.Functions == nil {
		return nil, errors.New("not a contract document: it has neither \"hooks\" nor \"functions\" (make one with airlock contract)")
	}
	r := &reader{structs: map[string]*Struct{}, shapes: map[string]string{}}
	c := &Contract{Version: doc.Version}
	for _, h := range doc.Hooks {
		op, err := r.op("hook", h.Name, h.Input, h.Output)
		if err != nil {
			return nil, err
		}
		op.Default, op.Collect = h.Default, h.Collect
		c.Hooks = append(c.Hooks, op)
	}
	for _, f := range doc.Functions {
		op, err := r.op("function", f.Name, f.Input, f.Output)
		if err != nil {
			return nil, err
		}
		op.Capability = f.Capability
		c.Functions = append(c.Functions, op)
	}
	byName := func(a, b Op) int { return strings.Compare(a.Name, b.Name) }
	slices.SortFunc(c.Hooks, byName)
	slices.SortFunc(c.Functions, byName)
	for _, s := range r.structs {
		c.Structs = append(c.Structs, s)
	}
	slices.SortFunc(c.Structs, func(a, b *Struct) int { return strings.Compare(a.Name, b.Name) })
	return c, nil
}

// op reads the input and output schemas of one hook or function.
func (r *reader) op(what, name string, in, out json.RawMessage) (Op, error) {
	if name == "" {
		return Op{}, fmt.Errorf("a %s without a name in the contract", what)
	}
	op := Op{Name: name}
	var err error
	base := Camel(name)
	if op.In, err = r.document(in, base+"Input"); err != nil {
		return Op{}, fmt.Errorf("%s %q: input: %w", what, name, err)
	}
	if op.Out, err = r.document(out, base+"Output"); err != nil {
		return Op{}, fmt.Errorf("%s %q: output: %w", what, name, err)
	}
	return op, nil
}

// Camel turns a name (payment.approve, account_id, $x) into CamelCase
// (PaymentApprove, AccountId, X): its runs of letters and digits, each
// capitalised. A name starting with a digit gets an "X" before it, and a
// name with no letter or digit is "X".
func Camel(name string) string {
	var b strings.Builder
	up := true
	for _, c := range name {
		switch {
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9':
			if up && c >= 'a' && c <= 'z' {
				c -= 'a' - 'A'
			}
			b.WriteRune(c)
			up = false
		default:
			up = true
		}
	}
	s := b.String()
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		s = "X" + s
	}
	return s
}

// Snake turns a name into snake_case (accountId → account_id), with the
// same rules as Camel otherwise.
func Snake(name string) string {
	var b strings.Builder
	prevLower := false
	sep := false
	for _, c := range name {
		switch {
		case c >= 'A' && c <= 'Z':
			if prevLower || sep {
				b.WriteByte('_')
			}
			b.WriteRune(c + 'a' - 'A')
			prevLower, sep = false, false
		case c >= 'a' && c <= 'z' || c >= '0' && c <= '9':
			if sep {
				b.WriteByte('_')
			}
			b.WriteRune(c)
			prevLower, sep = true, false
		default:
			sep = b.Len() > 0
		}
	}
	s := b.String()
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		s = "x" + s
	}
	return s
}
