package gen

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// cKeywords are C's keywords, which a field's name must not be.
var cKeywords = map[string]bool{
	"auto": true, "break": true, "case": true, "char": true, "const": true, "continue": true, "default": true, "do": true,
	"double": true, "else": true, "enum": true, "extern": true, "float": true, "for": true, "goto": true, "if": true,
	"inline": true, "int": true, "long": true, "register": true, "restrict": true, "return": true, "short": true,
	"signed": true, "sizeof": true, "static": true, "struct": true, "switch": true, "typedef": true, "union": true,
	"unsigned": true, "void": true, "volatile": true, "while": true, "bool": true, "true": true, "false": true,
}

// emitC writes C bindings for the C wasm SDK (sdk/c/airlock.h, with the
// strict JSON reader of sdk/c/airlock_json.h): a struct per object type
// with PREFIX_T_parse, PREFIX_T_emit and PREFIX_T_free, a table of hook
// handlers dispatched by PREFIX_handle, and a typed caller per host
// function. C has fewer shapes than JSON Schema: arrays and maps hold
// scalars, strings, raw JSON or structs, not arrays, maps or nullable
// values; a hook's or function's value at the top is a struct, a scalar, a
// string or raw JSON, and is nullable only as a struct input. Anything else
// is an error naming the hook or function.
func emitC(c *Contract, pkg string) ([]File, error) {
	g := &cEmitter{c: c, pkg: pkg}
	if err := g.check(); err != nil {
		return nil, err
	}
	h, src := &writer{}, &writer{}
	guard := strings.ToUpper(pkg) + "_H"
	h.p("/* %s */", Header)
	h.p("/*")
	h.p(" * Typed bindings of a host's contract for a plugin written with the C SDK")
	h.p(" * (airlock.h). Build %s.c with the plugin, airlock.c and airlock_json.c.", pkg)
	h.p(" *")
	h.p(" * Memory: PREFIX_T_parse fills a struct with malloc'ed strings, arrays and")
	h.p(" * structs, which PREFIX_T_free frees (and only those); a handler fills its")
	h.p(" * output the same way (strdup, malloc), and the bindings free it after")
	h.p(" * sending it. A string, raw JSON text or struct pointer that is NULL, or a")
	h.p(" * has_ flag that is 0, is an absent field (or null, where the contract")
	h.p(" * allows null).")
	h.p(" */")
	h.p("#ifndef %s", guard)
	h.p("#define %s", guard)
	h.p("")
	h.p("#include <stddef.h>")
	h.p("")
	h.p("#include \"airlock.h\"")
	h.p("#include \"airlock_json.h\"")
	h.p("")
	if c.Version != "" {
		h.p("/* The version of the contract these bindings were generated from: the manifest's \"contract\". */")
		h.p("#define %s_CONTRACT_VERSION %q", strings.ToUpper(pkg), c.Version)
		h.p("")
	}
	for _, s := range c.Structs {
		h.p("typedef struct %s %s;", g.sname(s), g.sname(s))
	}
	h.p("")
	for _, s := range g.declOrder() {
		g.structDecl(h, s)
	}
	src.p("/* %s */", Header)
	src.p("#include \"%s.h\"", pkg)
	src.p("")
	src.p("#include <stdio.h>")
	src.p("#include <stdlib.h>")
	src.p("#include <string.h>")
	src.WriteString(cHelpers)
	for _, s := range c.Structs {
		g.structParse(src, s)
		g.structEmit(src, s)
		g.structFree(src, s)
	}
	g.hooks(h, src)
	g.settings(h, src)
	g.functions(h, src)
	h.p("#endif")
	return []File{{Name: pkg + ".h", Data: h.Bytes()}, {Name: pkg + ".c", Data: src.Bytes()}}, nil
}

type cEmitter struct {
	c      *Contract
	pkg    string
	fields map[*Struct][]string
}

// declOrder orders the structs so that one held by value in another is
// declared first (by name otherwise).
func (g *cEmitter) declOrder() []*Struct {
	var out []*Struct
	done := map[*Struct]bool{}
	var visit func(s *Struct)
	visit = func(s *Struct) {
		if done[s] {
			return
		}
		done[s] = true
		for _, f := range s.Fields {
			if f.Type.Kind == Object && !byPointer(f) {
				visit(f.Type.Struct)
			}
		}
		out = append(out, s)
	}
	for _, s := range g.c.Structs {
		visit(s)
	}
	return out
}

func (g *cEmitter) sname(s *Struct) string { return g.pkg + "_" + Snake(s.Name) }

func cField(json string) string {
	n := Snake(json)
	if cKeywords[n] || strings.HasPrefix(n, "has_") {
		n += "_"
	}
	return n
}

// check refuses what the C bindings cannot represent.
func (g *cEmitter) check() error {
	g.fields = map[*Struct][]string{}
	for _, s := range g.c.Structs {
		g.fields[s] = uniqueNames(fieldJSONNames(s), cField, nil)
		for _, f := range s.Fields {
			if f.Type.Kind == Array || f.Type.Kind == Map {
				if e := f.Type.Elem; e.Kind == Array || e.Kind == Map || e.Nullable {
					return fmt.Errorf("type %s: property %q: %w in C: an array or map of arrays, maps or nullable values", s.Name, f.JSON, ErrUnsupported)
				}
			}
		}
	}
	for _, set := range []struct {
		what string
		ops  []Op
	}{{"hook", g.c.Hooks}, {"function", g.c.Functions}} {
		for _, op := range set.ops {
			if err := cTopLevel(op.In, true); err != nil {
				return fmt.Errorf("%s %q: input: %w", set.what, op.Name, err)
			}
			if err := cTopLevel(op.Out, false); err != nil {
				return fmt.Errorf("%s %q: output: %w", set.what, op.Name, err)
			}
		}
	}
	return nil
}

func cTopLevel(t *Type, input bool) error {
	switch {
	case t.Kind == Array || t.Kind == Map:
		return fmt.Errorf("%w in C: an array or a map at the top (wrap it in a struct)", ErrUnsupported)
	case t.Nullable && !(input && t.Kind == Object):
		return fmt.Errorf("%w in C: a nullable value at the top", ErrUnsupported)
	}
	return nil
}

// elemType is the C type of a value of t (not an array or map).
func (g *cEmitter) elemType(t *Type) string {
	switch t.Kind {
	case Bool:
		return "int"
	case Integer:
		return "long long"
	case Number:
		return "double"
	case String, Raw:
		return "char *"
	}
	return g.sname(t.Struct)
}

// hasFlag reports whether a field of t needs a has_ flag: an optional or
// nullable scalar, array or map.
func hasFlag(f Field) bool {
	switch f.Type.Kind {
	case Bool, Integer, Number, Array, Map:
		return !f.Required || f.Type.Nullable
	}
	return false
}

// byPointer reports whether a struct field is held by pointer.
func byPointer(f Field) bool {
	return f.Type.Kind == Object && (!f.Required || f.Type.Nullable)
}

func (g *cEmitter) structDecl(h *writer, s *Struct) {
	h.p("/* An object of the contract.%s */", cDoc(s.Doc))
	h.p("struct %s {", g.sname(s))
	names := g.fields[s]
	for i, f := range s.Fields {
		n := names[i]
		comment := fmt.Sprintf("/* %s%s%s%s */", strings.ReplaceAll(strconv.Quote(f.JSON), "*/", "*\\/"),
			map[bool]string{true: "", false: ", optional"}[f.Required], map[bool]string{true: ", nullable", false: ""}[f.Type.Nullable], cDocEnum(f))
		switch f.Type.Kind {
		case Array:
			h.p("    %s*%s; %s", cStar(g.elemType(f.Type.Elem)), n, comment)
			h.p("    size_t %s_len;", n)
		case Map:
			h.p("    char **%s_keys; %s", n, comment)
			h.p("    %s*%s_values;", cStar(g.elemType(f.Type.Elem)), n)
			h.p("    size_t %s_len;", n)
		case Object:
			star := ""
			if byPointer(f) {
				star = "*"
			}
			h.p("    %s %s%s; %s", g.elemType(f.Type), star, n, comment)
		case Raw:
			h.p("    char *%s; %s", n, strings.Replace(comment, " */", ", JSON text */", 1))
		default:
			h.p("    %s%s; %s", cStar(g.elemType(f.Type)), n, comment)
		}
		if hasFlag(f) {
			h.p("    int has_%s;", n)
		}
	}
	if len(s.Fields) == 0 {
		h.p("    char unused_;")
	}
	h.p("};")
	h.p("")
	sn := g.sname(s)
	h.p("/* %s_parse decodes v (at JSON pointer path, \"\" at the top) into out,", sn)
	h.p(" * refusing a missing required field, null where the contract allows none")
	h.p(" * and a value of the wrong type: it returns 0, or -1 with the problem in err")
	h.p(" * (cut to size) and out freed. Unknown fields are ignored. */")
	h.p("int %s_parse(const airlock_json *v, const char *path, %s *out, char *err, size_t size);", sn, sn)
	h.p("/* %s_emit appends v as JSON to b. */", sn)
	h.p("void %s_emit(airlock_json_buf *b, const %s *v);", sn, sn)
	h.p("/* %s_free frees what v holds (not v itself). */", sn)
	h.p("void %s_free(%s *v);", sn, sn)
	h.p("")
}

// cStar writes a C type before a name: "char *" already ends in the star.
func cStar(t string) string {
	if strings.HasSuffix(t, "*") {
		return t
	}
	return t + " "
}

func cDoc(s string) string {
	if s == "" {
		return ""
	}
	return " " + strings.ReplaceAll(oneLine(s), "*/", "* /")
}

func cDocEnum(f Field) string {
	if !hasEnum(f.Type) {
		return ""
	}
	return strings.ReplaceAll(", one of "+enumList(f.Type.Enum), "*/", "* /")
}

// parse is a C expression decoding the JSON value v at path into *dst,
// evaluating to 0 or -1.
func (g *cEmitter) parse(t *Type, v, path, dst string) string {
	switch t.Kind {
	case Bool:
		return fmt.Sprintf("gen_bool(%s, %s, %s, err, size)", v, path, dst)
	case Integer:
		return fmt.Sprintf("gen_integer(%s, %s, %s, err, size)", v, path, dst)
	case Number:
		return fmt.Sprintf("gen_number(%s, %s, %s, err, size)", v, path, dst)
	case String:
		if hasEnum(t) {
			var lits []string
			for _, e := range t.Enum {
				b, _ := json.Marshal(e)
				lits = append(lits, string(b))
			}
			return fmt.Sprintf("gen_enum(%s, %s, %s, (const char *const[]){%s, NULL}, err, size)", v, path, dst, strings.Join(lits, ", "))
		}
		return fmt.Sprintf("gen_string(%s, %s, %s, err, size)", v, path, dst)
	case Raw:
		return fmt.Sprintf("gen_raw(%s, %s, %s, err, size)", v, path, dst)
	}
	return fmt.Sprintf("%s_parse(%s, %s, %s, err, size)", g.sname(t.Struct), v, path, dst)
}

// emit is a C statement appending the value x (an lvalue) to b.
func (g *cEmitter) emit(t *Type, x string) string {
	switch t.Kind {
	case Bool:
		return fmt.Sprintf("airlock_json_raw(b, %s ? \"true\" : \"false\");", x)
	case Integer:
		return fmt.Sprintf("airlock_json_integer(b, %s);", x)
	case Number:
		return fmt.Sprintf("airlock_json_number(b, %s);", x)
	case String:
		return fmt.Sprintf("airlock_json_string_value(b, %s);", x)
	case Raw:
		return fmt.Sprintf("airlock_json_raw(b, %s ? %s : \"null\");", x, x)
	}
	return fmt.Sprintf("%s_emit(b, &%s);", g.sname(t.Struct), x)
}

// free is a C statement freeing what the value x holds, or "".
func (g *cEmitter) free(t *Type, x string) string {
	switch t.Kind {
	case String, Raw:
		return fmt.Sprintf("free(%s);", x)
	case Object:
		return fmt.Sprintf("%s_free(&%s);", g.sname(t.Struct), x)
	}
	return ""
}

func (g *cEmitter) structParse(w *writer, s *Struct) {
	sn := g.sname(s)
	w.p("int %s_parse(const airlock_json *v, const char *path, %s *out, char *err, size_t size) {", sn, sn)
	w.p("    char sub[GEN_PATH_MAX];")
	w.p("    const airlock_json *m;")
	w.p("    (void)sub, (void)m;")
	w.p("    memset(out, 0, sizeof *out);")
	w.p("    if (!v || v->kind != AIRLOCK_JSON_OBJECT) return gen_want(v, path, \"object\", err, size);")
	if s.Closed {
		g.closedCheck(w, s)
	}
	for i, f := range s.Fields {
		n := names(g.fields[s], i)
		key := cString(f.JSON)
		w.p("    m = airlock_json_get(v, %s);", key)
		w.p("    gen_sub(sub, path, %s);", key)
		if f.Required {
			w.p("    if (!m) { gen_fail(sub, \"missing\", err, size); goto fail; }")
		} else {
			w.p("    if (m) {")
		}
		ind := "    "
		if !f.Required {
			ind = "        "
		}
		if f.Type.Nullable {
			w.p("%sif (m->kind != AIRLOCK_JSON_NULL) {", ind)
			ind += "    "
		}
		t := f.Type
		switch {
		case t.Kind == Array:
			w.p("%sif (m->kind != AIRLOCK_JSON_ARRAY) { gen_want(m, sub, \"array\", err, size); goto fail; }", ind)
			w.p("%sout->%s = calloc(m->count ? m->count : 1, sizeof *out->%s);", ind, n, n)
			w.p("%sif (!out->%s) { gen_fail(sub, \"out of memory\", err, size); goto fail; }", ind, n)
			w.p("%sout->%s_len = m->count;", ind, n)
			if hasFlag(f) {
				w.p("%sout->has_%s = 1;", ind, n)
			}
			w.p("%sfor (size_t i = 0; i < m->count; i++) {", ind)
			w.p("%s    char item[GEN_PATH_MAX];", ind)
			w.p("%s    gen_index(item, sub, i);", ind)
			w.p("%s    if (%s) goto fail;", ind, g.parse(t.Elem, "&m->items[i]", "item", fmt.Sprintf("&out->%s[i]", n)))
			w.p("%s}", ind)
		case t.Kind == Map:
			w.p("%sif (m->kind != AIRLOCK_JSON_OBJECT) { gen_want(m, sub, \"object\", err, size); goto fail; }", ind)
			w.p("%sout->%s_keys = calloc(m->count ? m->count : 1, sizeof *out->%s_keys);", ind, n, n)
			w.p("%sout->%s_values = calloc(m->count ? m->count : 1, sizeof *out->%s_values);", ind, n, n)
			w.p("%sif (!out->%s_keys || !out->%s_values) { gen_fail(sub, \"out of memory\", err, size); goto fail; }", ind, n, n)
			w.p("%sout->%s_len = m->count;", ind, n)
			if hasFlag(f) {
				w.p("%sout->has_%s = 1;", ind, n)
			}
			w.p("%sfor (size_t i = 0; i < m->count; i++) {", ind)
			w.p("%s    char item[GEN_PATH_MAX];", ind)
			w.p("%s    gen_sub(item, sub, m->keys[i]);", ind)
			w.p("%s    out->%s_keys[i] = gen_strdup(m->keys[i]);", ind, n)
			w.p("%s    if (!out->%s_keys[i]) { gen_fail(item, \"out of memory\", err, size); goto fail; }", ind, n)
			w.p("%s    if (%s) goto fail;", ind, g.parse(t.Elem, "&m->items[i]", "item", fmt.Sprintf("&out->%s_values[i]", n)))
			w.p("%s}", ind)
		case byPointer(f):
			w.p("%sout->%s = calloc(1, sizeof *out->%s);", ind, n, n)
			w.p("%sif (!out->%s) { gen_fail(sub, \"out of memory\", err, size); goto fail; }", ind, n)
			w.p("%sif (%s) goto fail;", ind, g.parse(t, "m", "sub", "out->"+n))
		default:
			w.p("%sif (%s) goto fail;", ind, g.parse(t, "m", "sub", "&out->"+n))
			if hasFlag(f) {
				w.p("%sout->has_%s = 1;", ind, n)
			}
		}
		if f.Type.Nullable {
			ind = ind[4:]
			w.p("%s}", ind)
		}
		if !f.Required {
			w.p("    }")
		}
	}
	w.p("    return 0;")
	if len(s.Fields) > 0 {
		w.p("fail:")
		w.p("    %s_free(out);", sn)
		w.p("    return -1;")
	}
	w.p("}")
	w.p("")
}

// closedCheck refuses a member of v that s has no field for: a setting
// the bindings do not know (they were generated from another manifest).
func (g *cEmitter) closedCheck(w *writer, s *Struct) {
	var known []string
	for _, f := range s.Fields {
		known = append(known, cString(f.JSON))
	}
	w.p("    static const char *const known[] = {%s};", strings.Join(append(known, "NULL"), ", "))
	w.p("    for (size_t i = 0; i < v->count; i++) {")
	w.p("        size_t k = 0;")
	w.p("        while (known[k] && strcmp(known[k], v->keys[i]) != 0) k++;")
	w.p("        if (!known[k]) {")
	w.p("            gen_sub(sub, path, v->keys[i]);")
	w.p("            return gen_fail(sub, %s, err, size);", cString("unknown setting (these bindings know: "+strings.Join(fieldJSONNames(s), ", ")+"; regenerate them from the plugin's manifest)"))
	w.p("        }")
	w.p("    }")
}

// settings declares and defines PREFIX_load_settings.
func (g *cEmitter) settings(h, src *writer) {
	if g.c.Settings == nil {
		return
	}
	sn := g.sname(g.c.Settings)
	name := g.pkg + "_load_settings"
	h.p("/* %s decodes the plugin's settings (the host has filled in their", name)
	h.p(" * defaults) into out; free it with %s_free. It returns 0, or", sn)
	h.p(" * AIRLOCK_FAILED for a missing required setting, a value of the wrong type")
	h.p(" * (3.5 or \"3\" for an integer) or a setting these bindings do not know,")
	h.p(" * with a message naming the setting in *message (malloc'ed; free it)")
	h.p(" * unless message is NULL. */")
	h.p("int %s(%s *out, char **message);", name, sn)
	h.p("")
	src.p("int %s(%s *out, char **message) {", name, sn)
	src.p("    char err[GEN_ERR_MAX];")
	src.p("    airlock_json *v = airlock_json_parse(airlock_config(), err, sizeof err);")
	src.p("    int rc = v ? %s_parse(v, \"\", out, err, sizeof err) : -1;", sn)
	src.p("    airlock_json_free(v);")
	src.p("    if (rc != 0) {")
	src.p("        char msg[GEN_ERR_MAX + 16];")
	src.p("        snprintf(msg, sizeof msg, \"settings: %%s\", err);")
	src.p("        memset(out, 0, sizeof *out);")
	src.p("        return gen_message(message, AIRLOCK_FAILED, msg);")
	src.p("    }")
	src.p("    return 0;")
	src.p("}")
	src.p("")
}

func names(n []string, i int) string { return n[i] }

func cString(s string) string {
	b, _ := json.Marshal(s) // a JSON string is a C string literal here: no NUL, escapes C reads alike
	return string(b)
}

func (g *cEmitter) structEmit(w *writer, s *Struct) {
	sn := g.sname(s)
	w.p("void %s_emit(airlock_json_buf *b, const %s *v) {", sn, sn)
	w.p("    int first = 1;")
	w.p("    (void)v, (void)first;")
	w.p("    airlock_json_raw(b, \"{\");")
	for i, f := range s.Fields {
		n := g.fields[s][i]
		key := cString(f.JSON)
		var present string // the condition for the value to be there, or ""
		switch {
		case hasFlag(f):
			present = "v->has_" + n
		case f.Type.Kind == String || f.Type.Kind == Raw || byPointer(f):
			present = "v->" + n
		}
		var body []string
		switch t := f.Type; {
		case t.Kind == Array:
			body = []string{
				`airlock_json_raw(b, "[");`,
				fmt.Sprintf("for (size_t i = 0; i < v->%s_len; i++) {", n),
				`    if (i) airlock_json_raw(b, ",");`,
				"    " + g.emit(t.Elem, fmt.Sprintf("v->%s[i]", n)),
				"}",
				`airlock_json_raw(b, "]");`,
			}
		case t.Kind == Map:
			body = []string{
				`airlock_json_raw(b, "{");`,
				fmt.Sprintf("for (size_t i = 0; i < v->%s_len; i++) {", n),
				`    if (i) airlock_json_raw(b, ",");`,
				fmt.Sprintf("    airlock_json_string_value(b, v->%s_keys[i]);", n),
				`    airlock_json_raw(b, ":");`,
				"    " + g.emit(t.Elem, fmt.Sprintf("v->%s_values[i]", n)),
				"}",
				`airlock_json_raw(b, "}");`,
			}
		case byPointer(f):
			body = []string{fmt.Sprintf("%s_emit(b, v->%s);", g.sname(t.Struct), n)}
		default:
			body = []string{g.emit(t, "v->"+n)}
		}
		if present == "" {
			w.p("    gen_key(b, &first, %s);", key)
			for _, l := range body {
				w.p("    %s", l)
			}
			continue
		}
		w.p("    if (%s) {", present)
		w.p("        gen_key(b, &first, %s);", key)
		for _, l := range body {
			w.p("        %s", l)
		}
		if f.Required {
			w.p("    } else {")
			w.p("        gen_key(b, &first, %s);", key)
			w.p("        airlock_json_raw(b, \"null\");")
		}
		w.p("    }")
	}
	w.p("    airlock_json_raw(b, \"}\");")
	w.p("}")
	w.p("")
}

func (g *cEmitter) structFree(w *writer, s *Struct) {
	sn := g.sname(s)
	w.p("void %s_free(%s *v) {", sn, sn)
	w.p("    if (!v) return;")
	for i, f := range s.Fields {
		n := g.fields[s][i]
		t := f.Type
		switch {
		case t.Kind == Array:
			if fr := g.free(t.Elem, fmt.Sprintf("v->%s[i]", n)); fr != "" {
				w.p("    for (size_t i = 0; v->%s && i < v->%s_len; i++) %s", n, n, fr)
			}
			w.p("    free(v->%s);", n)
		case t.Kind == Map:
			w.p("    for (size_t i = 0; v->%s_keys && i < v->%s_len; i++) free(v->%s_keys[i]);", n, n, n)
			if fr := g.free(t.Elem, fmt.Sprintf("v->%s_values[i]", n)); fr != "" {
				w.p("    for (size_t i = 0; v->%s_values && i < v->%s_len; i++) %s", n, n, fr)
			}
			w.p("    free(v->%s_keys);", n)
			w.p("    free(v->%s_values);", n)
		case byPointer(f):
			w.p("    if (v->%s) %s_free(v->%s);", n, g.sname(t.Struct), n)
			w.p("    free(v->%s);", n)
		default:
			if fr := g.free(t, "v->"+n); fr != "" {
				w.p("    %s", fr)
			}
		}
	}
	w.p("    memset(v, 0, sizeof *v);")
	w.p("}")
	w.p("")
}

// inParam and outParam are the C parameters of a top-level value.
func (g *cEmitter) inParam(t *Type) string {
	switch t.Kind {
	case Object:
		return "const " + g.sname(t.Struct) + " *in"
	case String, Raw:
		return "const char *in"
	}
	return g.elemType(t) + " in"
}

func (g *cEmitter) outParam(t *Type) string {
	return cStar(g.elemType(t)) + "*out"
}

// emitIn is a statement appending the top-level input in to b.
func (g *cEmitter) emitIn(t *Type) string {
	switch t.Kind {
	case Object:
		if t.Nullable {
			return fmt.Sprintf("if (in) %s_emit(b, in); else airlock_json_raw(b, \"null\");", g.sname(t.Struct))
		}
		return fmt.Sprintf("%s_emit(b, in);", g.sname(t.Struct))
	}
	return g.emit(t, "in")
}

func (g *cEmitter) hooks(h, src *writer) {
	p := g.pkg
	for _, hk := range g.c.Hooks {
		fn := p + "_" + Snake(hk.Name) + "_fn"
		h.p("/* A handler of the hook %q: phase is \"before\" or \"define\". It fills", hk.Name)
		h.p(" * out and returns 0, or fails the call with airlock_error and returns")
		h.p(" * non-zero. */")
		h.p("typedef int (*%s)(const char *phase, %s, %s);", fn, g.inParam(hk.In), g.outParam(hk.Out))
		h.p("")
		if hk.Collect {
			h.p("/* An after handler of the hook %q: its input, and the answers that", hk.Name)
			h.p(" * succeeded as JSON text (an array). It returns 0, or fails the call with")
		} else {
			h.p("/* An after handler of the hook %q: its input and output. It returns 0,", hk.Name)
			h.p(" * or fails the call with")
		}
		h.p(" * airlock_error and returns non-zero (the host logs it; it cannot change")
		h.p(" * the result). */")
		h.p("typedef int (*%s_after_fn)(%s, %s);", p+"_"+Snake(hk.Name), g.inParam(hk.In), g.afterParam(afterOut(hk)))
		h.p("")
	}
	h.p("/* The plugin's handlers of the host's hooks; NULL for one it does not implement. */")
	h.p("typedef struct %s_hooks {", p)
	for _, hk := range g.c.Hooks {
		h.p("    %s_%s_fn %s;", p, Snake(hk.Name), Snake(hk.Name))
		h.p("    %s_%s_after_fn %s_after; /* for the manifest's [hook.%q] phase = \"after\" */", p, Snake(hk.Name), Snake(hk.Name), hk.Name)
	}
	if len(g.c.Hooks) == 0 {
		h.p("    char unused_;")
	}
	h.p("} %s_hooks;", p)
	h.p("")
	h.p("/* %s_handle runs the handler of hooks for the hook name, if it has one:", p)
	h.p(" * it decodes input (a missing required field or a value of the wrong type")
	h.p(" * is answered AIRLOCK_INVALID_INPUT without calling the handler), calls it")
	h.p(" * and sends its output. It returns 1, or 0 when hooks has no handler of")
	h.p(" * name. An _after handler runs in the after phase, and in any phase when")
	h.p(" * the hook has no other handler (a plugin takes part in a hook in one")
	h.p(" * phase: its manifest's). Call it from airlock_handle. */")
	h.p("int %s_handle(const %s_hooks *hooks, const char *name, const char *phase, const char *input);", p, p)
	h.p("")

	src.p("int %s_handle(const %s_hooks *hooks, const char *name, const char *phase, const char *input) {", p, p)
	src.p("    char err[GEN_ERR_MAX], msg[GEN_ERR_MAX + 128];")
	src.p("    size_t size = sizeof err;")
	src.p("    (void)hooks, (void)name, (void)phase, (void)input, (void)err, (void)msg, (void)size;")
	for _, hk := range g.c.Hooks {
		g.afterDispatch(src, hk)
		field := Snake(hk.Name)
		src.p("    if (strcmp(name, %s) == 0 && hooks->%s) {", cString(hk.Name), field)
		src.p("        airlock_json *v = airlock_json_parse(input, err, sizeof err);")
		src.p("        %s; ", g.topDecl(hk.In, "in"))
		src.p("        %s;", g.topDecl(hk.Out, "out"))
		src.p("        int rc = v ? 0 : -1;")
		g.parseTop(src, hk.In, "in", "        ")
		src.p("        airlock_json_free(v);")
		src.p("        if (rc != 0) {")
		src.p("            snprintf(msg, sizeof msg, \"%%s: invalid input: %%s\", name, err);")
		src.p("            airlock_error(AIRLOCK_INVALID_INPUT, msg);")
		src.p("            return 1;")
		src.p("        }")
		src.p("        if (hooks->%s(phase, %s, &out) == 0) {", field, g.topArg(hk.In, "in"))
		src.p("            airlock_json_buf buf = {0};")
		src.p("            airlock_json_buf *b = &buf;")
		src.p("            %s", g.emit(hk.Out, "out"))
		src.p("            if (buf.failed) airlock_error(AIRLOCK_FAILED, \"out of memory\");")
		src.p("            else airlock_result(buf.data);")
		src.p("            free(buf.data);")
		src.p("        }")
		g.freeTop(src, hk.In, "in", "        ")
		g.freeTop(src, hk.Out, "out", "        ")
		src.p("        return 1;")
		src.p("    }")
	}
	src.p("    return 0;")
	src.p("}")
	src.p("")
}

// topDecl declares a local holding a top-level value.
func (g *cEmitter) topDecl(t *Type, name string) string {
	switch t.Kind {
	case Object:
		return fmt.Sprintf("%s %s = {0}, *%s_ptr = NULL; (void)%s_ptr", g.sname(t.Struct), name, name, name)
	case String, Raw:
		return fmt.Sprintf("char *%s = NULL", name)
	}
	return fmt.Sprintf("%s %s = 0", g.elemType(t), name)
}

// parseTop decodes the airlock_json v into the local name, setting rc.
func (g *cEmitter) parseTop(w *writer, t *Type, name, ind string) {
	g.parseTopAt(w, t, name, "v", `""`, ind)
}

// parseTopAt decodes the airlock_json v, at the JSON pointer path (a C
// string literal), into the local name, setting rc.
func (g *cEmitter) parseTopAt(w *writer, t *Type, name, v, path, ind string) {
	if t.Kind == Object && t.Nullable {
		w.p("%sif (rc == 0 && %s->kind != AIRLOCK_JSON_NULL) {", ind, v)
		w.p("%s    rc = %s;", ind, g.parse(t, v, path, "&"+name))
		w.p("%s    %s_ptr = &%s;", ind, name, name)
		w.p("%s}", ind)
		return
	}
	if t.Kind == Raw {
		w.p("%sif (rc == 0) rc = %s;", ind, g.parse(t, v, path, "&"+name))
		return
	}
	w.p("%sif (rc == 0 && %s->kind == AIRLOCK_JSON_NULL) rc = gen_fail(%s, \"got null, want a value\", err, sizeof err);", ind, v, path)
	w.p("%sif (rc == 0) rc = %s;", ind, g.parse(t, v, path, "&"+name))
}

// afterOut is the type of the output a C after handler gets: a collect
// hook's answers as JSON text (C holds no array at the top).
func afterOut(h Op) *Type {
	if h.Collect {
		return &Type{Kind: Raw}
	}
	return h.Out
}

// afterParam is the C parameter of an after handler's output.
func (g *cEmitter) afterParam(t *Type) string {
	switch t.Kind {
	case Object:
		return "const " + g.sname(t.Struct) + " *out"
	case String, Raw:
		return "const char *out"
	}
	return g.elemType(t) + " out"
}

// afterDispatch writes the part of PREFIX_handle that runs hk's after
// handler: it decodes {"input": ..., "output": ...} and calls it.
func (g *cEmitter) afterDispatch(src *writer, hk Op) {
	field := Snake(hk.Name) + "_after"
	out := afterOut(hk)
	src.p("    if (strcmp(name, %s) == 0 && hooks->%s && (!hooks->%s || (phase && strcmp(phase, \"after\") == 0))) {", cString(hk.Name), field, Snake(hk.Name))
	src.p("        airlock_json *all = airlock_json_parse(input, err, sizeof err);")
	src.p("        const airlock_json *v = NULL;")
	src.p("        %s;", g.topDecl(hk.In, "in"))
	src.p("        %s;", g.topDecl(out, "out"))
	src.p("        int rc = all ? 0 : -1;")
	src.p("        if (rc == 0 && all->kind != AIRLOCK_JSON_OBJECT) rc = gen_want(all, \"\", \"object\", err, size);")
	src.p("        if (rc == 0 && !(v = airlock_json_get(all, \"input\"))) rc = gen_fail(\"/input\", \"missing\", err, size);")
	g.parseTopAt(src, hk.In, "in", "v", `"/input"`, "        ")
	src.p("        if (rc == 0 && !(v = airlock_json_get(all, \"output\"))) rc = gen_fail(\"/output\", \"missing\", err, size);")
	g.parseTopAt(src, out, "out", "v", `"/output"`, "        ")
	src.p("        airlock_json_free(all);")
	src.p("        if (rc != 0) {")
	src.p("            snprintf(msg, sizeof msg, \"%%s: invalid input: %%s\", name, err);")
	src.p("            airlock_error(AIRLOCK_INVALID_INPUT, msg);")
	src.p("        } else if (hooks->%s(%s, %s) == 0) {", field, g.topArg(hk.In, "in"), g.topArg(out, "out"))
	src.p("            airlock_result(\"null\");")
	src.p("        }")
	g.freeTop(src, hk.In, "in", "        ")
	g.freeTop(src, out, "out", "        ")
	src.p("        return 1;")
	src.p("    }")
}

// topArg passes the top-level input local name to a handler.
func (g *cEmitter) topArg(t *Type, name string) string {
	switch {
	case t.Kind == Object && t.Nullable:
		return name + "_ptr"
	case t.Kind == Object:
		return "&" + name
	}
	return name
}

func (g *cEmitter) freeTop(w *writer, t *Type, name, ind string) {
	if fr := g.free(t, name); fr != "" {
		w.p("%s%s", ind, fr)
	}
}

func (g *cEmitter) functions(h, src *writer) {
	taken := map[string]bool{g.pkg + "_load_settings": true}
	for _, f := range g.c.Functions {
		name := g.pkg + "_" + Snake(f.Name)
		for k := 2; taken[name] || strings.HasSuffix(name, "_handle"); k++ {
			name = fmt.Sprintf("%s_%s%d", g.pkg, Snake(f.Name), k)
		}
		taken[name] = true
		h.p("/* %s calls the host function %q (capability %q) and decodes its", name, f.Name, f.Capability)
		h.p(" * result into out. It returns 0, or the host's error code with its message")
		h.p(" * (AIRLOCK_DENIED: the capability is not granted), or AIRLOCK_FAILED when")
		h.p(" * the result does not fit the contract; the message goes to *message")
		h.p(" * (malloc'ed; free it) unless message is NULL. */")
		h.p("int %s(%s, %s, char **message);", name, g.inParam(f.In), g.outParam(f.Out))
		h.p("")

		src.p("int %s(%s, %s, char **message) {", name, g.inParam(f.In), g.outParam(f.Out))
		src.p("    airlock_json_buf buf = {0};")
		src.p("    airlock_json_buf *b = &buf;")
		src.p("    char *result = NULL, err[GEN_ERR_MAX];")
		src.p("    size_t size = sizeof err;")
		src.p("    %s", g.emitIn(f.In))
		src.p("    if (buf.failed) { free(buf.data); return gen_message(message, AIRLOCK_FAILED, \"out of memory\"); }")
		src.p("    int code = airlock_call_host(%s, buf.data, &result);", cString(f.Name))
		src.p("    free(buf.data);")
		src.p("    if (code != 0) {")
		src.p("        if (message) *message = result; else free(result);")
		src.p("        return code;")
		src.p("    }")
		src.p("    airlock_json *v = airlock_json_parse(result, err, sizeof err);")
		src.p("    free(result);")
		src.p("    int rc = v ? 0 : -1;")
		switch f.Out.Kind {
		case Object, Raw:
			src.p("    if (rc == 0) rc = %s;", g.parse(f.Out, "v", `""`, "out"))
		default:
			src.p("    if (rc == 0 && v->kind == AIRLOCK_JSON_NULL) rc = gen_fail(\"\", \"got null, want a value\", err, sizeof err);")
			src.p("    if (rc == 0) rc = %s;", g.parse(f.Out, "v", `""`, "out"))
		}
		src.p("    airlock_json_free(v);")
		src.p("    if (rc != 0) {")
		src.p("        char msg[GEN_ERR_MAX + 64];")
		src.p("        snprintf(msg, sizeof msg, \"host call %%s: result: %%s\", %s, err);", cString(f.Name))
		src.p("        return gen_message(message, AIRLOCK_FAILED, msg);")
		src.p("    }")
		src.p("    return 0;")
		src.p("}")
		src.p("")
	}
}

const cHelpers = `
/* A contract without host functions (or hooks) leaves some helpers unused. */
#define GEN_UNUSED __attribute__((unused))
#define GEN_PATH_MAX 256
#define GEN_ERR_MAX 384

static GEN_UNUSED int gen_fail(const char *path, const char *msg, char *err, size_t size) {
    if (size > 0) snprintf(err, size, "%s: %s", *path ? path : "(root)", msg);
    return -1;
}

static GEN_UNUSED int gen_want(const airlock_json *v, const char *path, const char *want, char *err, size_t size) {
    char msg[64];
    snprintf(msg, sizeof msg, "got %s, want %s", v ? airlock_json_kind_name(v->kind) : "nothing", want);
    return gen_fail(path, msg, err, size);
}

/* gen_sub writes path/key (a JSON pointer) to out, cut to GEN_PATH_MAX. */
static GEN_UNUSED void gen_sub(char *out, const char *path, const char *key) {
    size_t n = (size_t)snprintf(out, GEN_PATH_MAX, "%s/", path);
    for (; *key && n + 3 < GEN_PATH_MAX; key++) {
        if (*key == '~') out[n++] = '~', out[n++] = '0';
        else if (*key == '/') out[n++] = '~', out[n++] = '1';
        else out[n++] = *key;
    }
    out[n < GEN_PATH_MAX ? n : GEN_PATH_MAX - 1] = 0;
}

static GEN_UNUSED void gen_index(char *out, const char *path, size_t i) {
    snprintf(out, GEN_PATH_MAX, "%s/%zu", path, i);
}

static GEN_UNUSED char *gen_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static GEN_UNUSED int gen_message(char **message, int code, const char *msg) {
    if (message) *message = gen_strdup(msg);
    return code;
}

static GEN_UNUSED void gen_key(airlock_json_buf *b, int *first, const char *key) {
    if (!*first) airlock_json_raw(b, ",");
    *first = 0;
    airlock_json_string_value(b, key);
    airlock_json_raw(b, ":");
}

static GEN_UNUSED int gen_bool(const airlock_json *v, const char *path, int *out, char *err, size_t size) {
    if (v->kind != AIRLOCK_JSON_BOOL) return gen_want(v, path, "boolean", err, size);
    *out = v->boolean;
    return 0;
}

static GEN_UNUSED int gen_integer(const airlock_json *v, const char *path, long long *out, char *err, size_t size) {
    if (v->kind != AIRLOCK_JSON_NUMBER || !v->is_integer) return gen_want(v, path, "integer", err, size);
    *out = v->integer;
    return 0;
}

static GEN_UNUSED int gen_number(const airlock_json *v, const char *path, double *out, char *err, size_t size) {
    if (v->kind != AIRLOCK_JSON_NUMBER) return gen_want(v, path, "number", err, size);
    *out = v->number;
    return 0;
}

static GEN_UNUSED int gen_string(const airlock_json *v, const char *path, char **out, char *err, size_t size) {
    if (v->kind != AIRLOCK_JSON_STRING) return gen_want(v, path, "string", err, size);
    *out = gen_strdup(v->string);
    return *out ? 0 : gen_fail(path, "out of memory", err, size);
}

static GEN_UNUSED int gen_enum(const airlock_json *v, const char *path, char **out, const char *const *allowed, char *err, size_t size) {
    if (v->kind != AIRLOCK_JSON_STRING) return gen_want(v, path, "string", err, size);
    for (; *allowed; allowed++) {
        if (strcmp(*allowed, v->string) == 0) return gen_string(v, path, out, err, size);
    }
    return gen_fail(path, "not one of the values the contract allows", err, size);
}

/* gen_raw keeps any value as JSON text. */
static GEN_UNUSED int gen_raw(const airlock_json *v, const char *path, char **out, char *err, size_t size) {
    airlock_json_buf b = {0};
    airlock_json_write(&b, v);
    if (b.failed) {
        free(b.data);
        return gen_fail(path, "out of memory", err, size);
    }
    *out = b.data;
    return 0;
}

`
