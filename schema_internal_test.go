package airlock

import (
	"encoding/json"
	"math"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

type (
	plain struct {
		Name  string `json:"name"`
		Count int    `json:"count,omitempty"`
		Zero  int    `json:"zero,omitzero"`
		Skip  string `json:"-"`
		Dash  string `json:"-,"`
		Bare  bool
		quiet string //nolint:unused // unexported: not in JSON
	}
	inner struct {
		ID   string `json:"id"`
		Note string `json:"note"`
	}
	outer struct {
		inner        // promoted: id, note
		Note  string `json:"note"` // shallower: wins over inner's
		Tags  []string
		Next  *outer           `json:"next"`
		Meta  map[string]int64 `json:"meta,omitempty"`
	}
	left struct {
		Dup  string
		Mine string `json:"mine"` // tagged: wins over right's untagged one
	}
	right struct {
		Dup  string
		Mine string
	}
	clash struct { // Dup is ambiguous at one depth: encoding/json drops it
		left
		right
		Own string `json:"own"`
	}
	taggedEmbed struct {
		inner `json:"inner"` // a name: a field, not promoted
	}
	quoted struct {
		N *int `json:"n,string"`
		B bool `json:",string"`
	}
	constrained struct {
		Level  string   `json:"level" jsonschema:"enum=debug,enum=info,description=how loud\\, roughly"`
		Amount float64  `json:"amount" jsonschema:"minimum=0,maximum=1e6"`
		Code   string   `json:"code" jsonschema:"pattern=^[A-Z]{3}$,minLength=3,maxLength=3"`
		Tags   []string `json:"tags" jsonschema:"enum=a,enum=b,maxItems=2"`
		Ptr    *int     `json:"ptr" jsonschema:"enum=1,enum=2"`
	}
	selfish struct {
		Kids []selfish `json:"kids"`
	}
	withTime struct {
		At   time.Time       `json:"at"`
		Raw  json.RawMessage `json:"raw"`
		Num  json.Number     `json:"num"`
		Addr netip.Addr      `json:"addr"`
		Any  any             `json:"any"`
		Blob []byte          `json:"blob"`
		Arr  [2]int          `json:"arr"`
		Keys map[int]string  `json:"keys"`
		U8   uint8           `json:"u8"`
		I16  int16           `json:"i16"`
	}
	empty struct {
		Opt string `json:"opt,omitempty"`
	}
)

func schemaJSON(t *testing.T, typ reflect.Type, nullable bool) string {
	t.Helper()
	doc, err := generateSchema(typ, nullable)
	if err != nil {
		t.Fatalf("%v: %v", typ, err)
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The generated schemas, exactly: encoding/json's names and promotion,
// required unless omitempty/omitzero, no unknown fields, null for what Go
// encodes as null.
func TestGenerateSchema(t *testing.T) {
	const d = `"$schema":"https://json-schema.org/draft/2020-12/schema"`
	cases := []struct {
		typ      reflect.Type
		nullable bool
		want     string
	}{
		{reflect.TypeFor[string](), false, `{` + d + `,"type":"string"}`},
		{reflect.TypeFor[any](), false, `true`},
		{reflect.TypeFor[json.RawMessage](), false, `true`},
		{reflect.TypeFor[[]int](), false, `{` + d + `,"items":{"type":"integer"},"type":["array","null"]}`},
		{reflect.TypeFor[map[string]bool](), false, `{` + d + `,"additionalProperties":{"type":"boolean"},"type":["object","null"]}`},
		{reflect.TypeFor[plain](), false, `{` + d + `,"additionalProperties":false,"properties":{"-":{"type":"string"},"Bare":{"type":"boolean"},"count":{"type":"integer"},"name":{"type":"string"},"zero":{"type":"integer"}},"required":["name","-","Bare"],"type":"object"}`},
		// Unexported type names make no title (they are the host's internals).
		{reflect.TypeFor[outer](), false, `{` + d + `,"additionalProperties":false,"properties":{"Tags":{"items":{"type":"string"},"type":["array","null"]},"id":{"type":"string"},"meta":{"additionalProperties":{"type":"integer"},"type":["object","null"]},"next":{"anyOf":[{"$ref":"#"},{"type":"null"}]},"note":{"type":"string"}},"required":["id","note","Tags","next"],"type":"object"}`},
		{reflect.TypeFor[clash](), false, `{` + d + `,"additionalProperties":false,"properties":{"Mine":{"type":"string"},"mine":{"type":"string"},"own":{"type":"string"}},"required":["mine","Mine","own"],"type":"object"}`},
		{reflect.TypeFor[taggedEmbed](), false, `{"$defs":{"inner":{"additionalProperties":false,"properties":{"id":{"type":"string"},"note":{"type":"string"}},"required":["id","note"],"type":"object"}},` + d + `,"additionalProperties":false,"properties":{"inner":{"$ref":"#/$defs/inner"}},"required":["inner"],"type":"object"}`},
		{reflect.TypeFor[quoted](), false, `{` + d + `,"additionalProperties":false,"properties":{"B":{"type":"string"},"n":{"type":["string","null"]}},"required":["n","B"],"type":"object"}`},
		{reflect.TypeFor[selfish](), false, `{` + d + `,"additionalProperties":false,"properties":{"kids":{"items":{"$ref":"#"},"type":["array","null"]}},"required":["kids"],"type":"object"}`},
		{reflect.TypeFor[[]selfish](), false, `{"$defs":{"selfish":{"additionalProperties":false,"properties":{"kids":{"items":{"$ref":"#/$defs/selfish"},"type":["array","null"]}},"required":["kids"],"type":"object"}},` + d + `,"items":{"$ref":"#/$defs/selfish"},"type":["array","null"]}`},
		{reflect.TypeFor[withTime](), false, `{` + d + `,"additionalProperties":false,"properties":{"addr":{"type":"string"},"any":true,"arr":{"items":{"type":"integer"},"maxItems":2,"minItems":2,"type":"array"},"at":{"format":"date-time","type":"string"},"blob":{"contentEncoding":"base64","type":["string","null"]},"i16":{"maximum":32767,"minimum":-32768,"type":"integer"},"keys":{"additionalProperties":{"type":"string"},"propertyNames":{"pattern":"^-?[0-9]+$"},"type":["object","null"]},"num":{"type":"number"},"raw":true,"u8":{"maximum":255,"minimum":0,"type":"integer"}},"required":["at","raw","num","addr","any","blob","arr","keys","u8","i16"],"type":"object"}`},
		{reflect.TypeFor[constrained](), false, `{` + d + `,"additionalProperties":false,"properties":{"amount":{"maximum":1e6,"minimum":0,"type":"number"},"code":{"maxLength":3,"minLength":3,"pattern":"^[A-Z]{3}$","type":"string"},"level":{"description":"how loud, roughly","enum":["debug","info"],"type":"string"},"ptr":{"enum":[null,1,2],"type":["integer","null"]},"tags":{"items":{"enum":["a","b"],"type":"string"},"maxItems":2,"type":["array","null"]}},"required":["level","amount","code","tags","ptr"],"type":"object"}`},
		// A host function's input struct with no required field also
		// accepts null (no input); with a required one, it does not.
		{reflect.TypeFor[empty](), true, `{` + d + `,"additionalProperties":false,"properties":{"opt":{"type":"string"}},"type":["object","null"]}`},
		{reflect.TypeFor[inner](), true, `{` + d + `,"additionalProperties":false,"properties":{"id":{"type":"string"},"note":{"type":"string"}},"required":["id","note"],"type":"object"}`},
		{reflect.TypeFor[time.Time](), false, `{` + d + `,"format":"date-time","type":"string"}`},
	}
	for _, c := range cases {
		t.Run(c.typ.String(), func(t *testing.T) {
			if got := schemaJSON(t, c.typ, c.nullable); got != c.want {
				t.Errorf("schema of %v:\n got %s\nwant %s", c.typ, got, c.want)
			}
			// It is valid draft 2020-12: the compiler checks it against
			// the metaschema.
			s, err := schemaOf(c.typ, c.nullable)
			if err == nil {
				_, err = s.compile()
			}
			if err != nil {
				t.Error(err)
			}
		})
	}
}

// Two named types of one name, from two packages, get two $defs.
func TestGenerateSchemaNameClash(t *testing.T) {
	type Addr struct {
		Mine string `json:"mine"`
	}
	type both struct {
		A Addr       `json:"a"`
		B netip.Addr `json:"b"` // textual: no $defs
		C []Addr     `json:"c"`
	}
	type Prefix struct{ X int } // the same name as the package-level one
	type clash struct {
		P Prefix     `json:"p"`
		Q *pkgPrefix `json:"q"`
	}
	got := schemaJSON(t, reflect.TypeFor[both](), false)
	if strings.Count(got, `"Addr":`) != 1 || strings.Count(got, `"$ref":"#/$defs/Addr"`) != 2 {
		t.Errorf("schema = %s, want one Addr definition used twice", got)
	}
	got = schemaJSON(t, reflect.TypeFor[clash](), false)
	if !strings.Contains(got, `"Prefix":{`) || !strings.Contains(got, `"airlock.Prefix":{`) {
		t.Errorf("schema = %s, want Prefix and airlock.Prefix", got)
	}
}

// pkgPrefix is a struct named Prefix, to clash with the one declared
// inside the test above (same name, another type).
type pkgPrefix = Prefix

type Prefix struct {
	Y string `json:"y"`
}

func TestGenerateSchemaRefusesWhatJSONCannotCarry(t *testing.T) {
	type withChan struct {
		C chan int `json:"c"`
	}
	type badTag struct {
		N int `json:"n" jsonschema:"minimum=lots"`
	}
	type unknownTag struct {
		N int `json:"n" jsonschema:"colour=red"`
	}
	type badPattern struct {
		S string `json:"s" jsonschema:"pattern=("`
	}
	cases := []struct {
		typ  reflect.Type
		want string
	}{
		{reflect.TypeFor[chan int](), "chan int cannot be carried in JSON"},
		{reflect.TypeFor[func()](), "cannot be carried in JSON"},
		{reflect.TypeFor[complex128](), "cannot be carried in JSON"},
		{reflect.TypeFor[withChan](), "field C: chan int cannot be carried"},
		{reflect.TypeFor[map[inner]int](), "map key type airlock.inner cannot be a JSON object's key"},
		{reflect.TypeFor[badTag](), `field N: tag jsonschema:"minimum=lots": minimum="lots": not a number`},
		{reflect.TypeFor[unknownTag](), `unknown key "colour"`},
		{reflect.TypeFor[badPattern](), `pattern "(": error parsing regexp`},
	}
	for _, c := range cases {
		_, err := generateSchema(c.typ, false)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: err = %v, want %q", c.typ, err, c.want)
		}
	}
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), `airlock: hook "h" input: type chan int`) {
			t.Errorf("NewHook with a channel: panic %v", r)
		}
	}()
	NewHook[chan int, int]("h", nil)
}

// Whatever the host encodes with encoding/json fits its own schema, and
// what fits decodes: the schemas agree with the encoder.
func TestSchemasFitEncodingJSON(t *testing.T) {
	n := 7
	values := []any{
		plain{}, plain{Name: "x", Count: 2, Dash: "d", Bare: true},
		outer{}, outer{inner: inner{ID: "i"}, Tags: []string{"a"}, Next: &outer{Note: "n"}, Meta: map[string]int64{"k": 1}},
		clash{}, taggedEmbed{}, quoted{}, quoted{N: &n, B: true},
		selfish{Kids: []selfish{{}, {Kids: []selfish{{}}}}},
		withTime{}, withTime{At: time.Now(), Raw: json.RawMessage(`{"x":[1]}`), Num: "1.5", Addr: netip.MustParseAddr("::1"), Any: []any{1}, Blob: []byte{0, 255}, Keys: map[int]string{-3: "x"}, U8: 255, I16: math.MinInt16},
		constrained{Level: "info", Code: "ABC", Tags: []string{"b"}, Ptr: &[]int{2}[0]},
		empty{}, []selfish(nil), map[string]bool(nil), 3.5, "s",
	}
	for _, v := range values {
		s, err := schemaOf(reflect.TypeOf(v), false)
		if err != nil {
			t.Fatalf("%T: %v", v, err)
		}
		raw, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.check(raw); err != nil {
			t.Errorf("%T %s does not fit its schema: %v", v, raw, err)
		}
		back := reflect.New(reflect.TypeOf(v))
		if err := json.Unmarshal(raw, back.Interface()); err != nil {
			t.Errorf("%T: %v", v, err)
		}
	}
}

// Problems are reported one per failing value, with its JSON path.
func TestCheckReportsPaths(t *testing.T) {
	s, err := schemaOf(reflect.TypeFor[outer](), false)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ value, want string }{
		{`{"id":"a","note":"n","Tags":null,"next":null}`, ""},
		{`{"id":"a","note":"n","Tags":[],"next":null,"meta":{}}`, ""},
		{`{"id":"a","note":"n","Tags":null}`, "/next: missing"},
		{`{"id":"a","note":"n","Tags":null,"next":null,"Colour":1}`, "/Colour: unknown field"},
		{`{"id":"a","Note":"n","Tags":null,"next":null}`, "/Note: unknown field; /note: missing"},
		{`{"id":1,"note":"n","Tags":[1],"next":null}`, "/Tags/0: got number, want string; /id: got number, want string"},
		{`{"id":"a","note":"n","Tags":null,"next":{"id":"b","note":"n","Tags":null,"next":{"id":"c"}}}`, "/next/next/Tags: missing; /next/next/next: missing; /next/next/note: missing"},
		{`{"id":"a","note":"n","Tags":null,"next":"no"}`, "/next: got string, want object"},
		{`{"id":"a","note":"n","Tags":null,"next":null,"meta":{"k":1.5}}`, "/meta/k: got number, want integer"},
		{`null`, "(root): got null, want object"},
		{`[1]`, "(root): got array, want object"},
		{``, "(root): got null, want object"},
	}
	for _, c := range cases {
		err := s.check(json.RawMessage(c.value))
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != c.want {
			t.Errorf("check(%s) = %q, want %q", c.value, got, c.want)
		}
	}
}

// A plugin's value quoted in an error is cut, and at most ten problems
// are listed.
func TestCheckBoundsItsErrors(t *testing.T) {
	s, err := schemaOf(reflect.TypeFor[constrained](), false)
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("x", 10000)
	err = s.check(json.RawMessage(`{"level":"info","amount":1,"code":"` + long + `","tags":[],"ptr":null}`))
	if err == nil || len(err.Error()) > 3*maxProblemMessage || !strings.Contains(err.Error(), "/code: ") {
		t.Errorf("err = %.300q (%d bytes), want a short one about /code", err, len(err.Error()))
	}
	var fields []string
	for i := range 30 {
		fields = append(fields, `"x`+strings.Repeat("y", i)+`":1`)
	}
	err = s.check(json.RawMessage(`{` + strings.Join(fields, ",") + `}`))
	if err == nil || strings.Count(err.Error(), "; ") != maxProblems || !strings.HasSuffix(err.Error(), "and 25 more") {
		t.Errorf("err = %v, want %d problems and a count of the rest", err, maxProblems)
	}
}

func TestClosest(t *testing.T) {
	names := []string{"greet", "payment.approve", "payment.done", "log", "kv", "fs.read", "fs.write"}
	cases := map[string]string{
		"gret": "greet", "greets": "greet", "Greet": "greet", "payment.aprove": "payment.approve",
		"payment.don": "payment.done", "lgo": "log", "lg": "log", "fs.raed": "fs.read", "fs.wirte": "fs.write",
		"farewell": "", "kvv": "kv", "zz": "", "payment": "", "": "",
	}
	for name, want := range cases {
		if got := closest(name, names); got != want {
			t.Errorf("closest(%q) = %q, want %q", name, got, want)
		}
	}
	if d := editDistance("kitten", "sitting"); d != 3 {
		t.Errorf("editDistance = %d, want 3", d)
	}
	if d := editDistance("ab", "ba"); d != 1 {
		t.Errorf("a transposition costs %d edits, want 1", d)
	}
	if d := editDistance("é", "e"); d != 1 {
		t.Errorf("editDistance counts bytes, not runes: %d", d)
	}
}

// The log function is described by LogInput, what plugins are told,
// though the host decodes its own logInput.
func TestLogFunctionSchema(t *testing.T) {
	var log Function
	for _, f := range standardFuncs(newKVStore()) {
		if f.name == "log" {
			log = f
		}
	}
	for value, want := range map[string]string{
		`{"msg":"x"}`: "",
		`{"level":"warn","msg":"x","attrs":{"a":1}}`: "",
		`{"msg":"x","attrs":null}`:                   "",
		`{"msg":"x","attrs":[1]}`:                    "/attrs: got array, want null or object",
		`{"level":"info"}`:                           "/msg: missing",
		`{"msg":"x","lvl":"info"}`:                   "/lvl: unknown field",
	} {
		got := ""
		if err := log.in.check(json.RawMessage(value)); err != nil {
			got = err.Error()
		}
		if got != want {
			t.Errorf("log input %s: %q, want %q", value, got, want)
		}
	}
	if !strings.Contains(string(log.in.doc), `"description":"debug, info (the default), warn or error"`) {
		t.Errorf("log input schema: %s", log.in.doc)
	}
}

// BenchmarkResultCheck measures what validating a small define result
// adds to decoding it: Hook.Run did only the decoding before contracts.
func BenchmarkResultCheck(b *testing.B) {
	type verdict struct {
		Approved bool   `json:"approved"`
		By       string `json:"by"`
	}
	s, err := schemaOf(reflect.TypeFor[verdict](), false)
	if err != nil {
		b.Fatal(err)
	}
	raw := json.RawMessage(`{"approved":true,"by":"define-high"}`)
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var v verdict
			if err := json.Unmarshal(raw, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("check+decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := s.check(raw); err != nil {
				b.Fatal(err)
			}
			var v verdict
			if err := json.Unmarshal(raw, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkSchemaOf measures what a type's schema costs, once per type:
// "generate" is what NewHook and NewFunc pay; "compile" is paid by the
// first call that validates a value of the type.
func BenchmarkSchemaOf(b *testing.B) {
	t := reflect.TypeFor[withTime]()
	b.Run("generate", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			schemas.Delete(schemaKey{t, false})
			if _, err := schemaOf(t, false); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("compile", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			schemas.Delete(schemaKey{t, false})
			s, _ := schemaOf(t, false)
			if _, err := s.compile(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
