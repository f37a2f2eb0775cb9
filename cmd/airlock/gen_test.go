package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/airlock-go/airlock"
	"github.com/airlock-go/airlock/internal/gen"
	"github.com/airlock-go/airlock/internal/testutil"
	"github.com/airlock-go/airlock/testdata/gen/hostdef"
)

var updateGen = flag.Bool("update-gen", false, "rewrite testdata/gen's contract.json and generated bindings")

// genContract is the contract document of testdata/gen/hostdef.
func genContract(t *testing.T) []byte {
	t.Helper()
	h, err := airlock.New(hostdef.Options())
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	return h.Contract()
}

func genDir() string { return filepath.Join(testutil.Root(), "testdata", "gen") }

// genManifestFile is the manifest whose settings the test bindings type.
func genManifestFile() string { return filepath.Join(genDir(), "plugin.toml") }

// genWithSettings parses a contract document and adds the settings of
// testdata/gen/plugin.toml, as gen --manifest does.
func genWithSettings(t *testing.T, doc []byte) *gen.Contract {
	t.Helper()
	c, err := gen.Parse(doc)
	if err != nil {
		t.Fatal(err)
	}
	m, err := readManifest(genManifestFile())
	if err != nil {
		t.Fatal(err)
	}
	if err := gen.AddSettings(c, m.Config); err != nil {
		t.Fatal(err)
	}
	return c
}

// genConfigTable is the [config] table of testdata/gen/plugin.toml, which
// every test plugin's manifest ends with.
func genConfigTable(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(genManifestFile())
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(b), "\n[config]\n")
	if i < 0 {
		t.Fatal("testdata/gen/plugin.toml has no [config] table")
	}
	return string(b[i:])
}

// golden compares got with the file at path, or rewrites it with -update-gen.
func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *updateGen {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run TestGen ./cmd/airlock -update-gen)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from what is generated now (run go test -run TestGen ./cmd/airlock -update-gen, and review the diff):\n%s", path, firstDiff(string(want), string(got)))
	}
}

func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range min(len(al), len(bl)) {
		if al[i] != bl[i] {
			return fmt.Sprintf("line %d:\n  file: %s\n  now:  %s", i+1, al[i], bl[i])
		}
	}
	return fmt.Sprintf("lengths %d and %d lines", len(al), len(bl))
}

// The bindings of the test contract (testdata/gen/contract.json), in every
// language, are what testdata/gen/bindings holds (reviewed there), and the
// same when generated twice: generation is deterministic. The bindings
// include the settings of testdata/gen/plugin.toml (gen --manifest). The file is
// testdata/gen/hostdef's contract: its hook and host function are checked
// against the host's contract now (its standard functions may change
// without making the bindings' tests fail: -update-gen brings them in).
func TestGenGolden(t *testing.T) {
	path := filepath.Join(genDir(), "contract.json")
	if *updateGen {
		golden(t, path, genContract(t))
	}
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, lang := range gen.Languages() {
		t.Run(lang, func(t *testing.T) {
			var first []gen.File
			for range 2 {
				c := genWithSettings(t, doc)
				files, err := gen.Generate(c, lang, "contract")
				if err != nil {
					t.Fatal(err)
				}
				if first == nil {
					first = files
					continue
				}
				if fmt.Sprint(files) != fmt.Sprint(first) {
					t.Fatal("two generations from one contract differ")
				}
			}
			for _, f := range first {
				if !bytes.Contains(f.Data, []byte(gen.Header)) {
					t.Errorf("%s lacks the header %q", f.Name, gen.Header)
				}
				golden(t, filepath.Join(genDir(), "bindings", lang, f.Name), f.Data)
			}
		})
	}
}

// testdata/gen/contract.json still describes hostdef's hook and host
// function as the host does now.
func TestGenContractCurrent(t *testing.T) {
	type doc struct {
		Version   string            `json:"version"`
		Hooks     []json.RawMessage `json:"hooks"`
		Functions []struct {
			Name string `json:"name"`
		} `json:"functions"`
	}
	own := func(data []byte) string {
		var d doc
		var full struct {
			Functions []json.RawMessage `json:"functions"`
		}
		if err := json.Unmarshal(data, &d); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(data, &full); err != nil {
			t.Fatal(err)
		}
		parts := []string{d.Version}
		for _, h := range d.Hooks {
			parts = append(parts, string(h))
		}
		for i, f := range d.Functions {
			if f.Name == "rates.lookup" {
				parts = append(parts, string(full.Functions[i]))
			}
		}
		return strings.Join(parts, "\n")
	}
	file, err := os.ReadFile(filepath.Join(genDir(), "contract.json"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := own(genContract(t)), own(file); got != want {
		t.Errorf("the host's contract for invoice.check and rates.lookup is not testdata/gen/contract.json's (run go test -run TestGen ./cmd/airlock -update-gen):\n%s", firstDiff(want, got))
	}
}

// The command: from a contract file or a host program's package, to
// standard output or a directory; its usage errors.
func TestGenCommand(t *testing.T) {
	file := filepath.Join(genDir(), "contract.json")
	doc, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	want := func(lang, name string) string {
		b, err := os.ReadFile(filepath.Join(genDir(), "bindings", lang, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}

	code, stdout, stderr := run(t, "gen", "--lang", "python", "--manifest", genManifestFile(), file)
	if code != 0 || stdout != want("python", "contract.py") {
		t.Errorf("gen --lang python --manifest FILE FILE: exit %d, stderr %s; stdout is the golden file: %v", code, stderr, stdout == want("python", "contract.py"))
	}
	code, stdout, stderr = run(t, "gen", "--lang", "python", file)
	if code != 0 || strings.Contains(stdout, "Settings") || !strings.Contains(stdout, "def decode_invoice(") {
		t.Errorf("gen --lang python FILE (no manifest): exit %d, stderr %s; want the bindings without Settings", code, stderr)
	}

	out := filepath.Join(t.TempDir(), "out") + string(filepath.Separator)
	// --manifest DIR: the plugin.toml in it.
	if code, _, stderr := run(t, "gen", "--lang", "c", "--manifest", genDir(), "-o", out, file); code != 0 {
		t.Fatalf("gen --lang c -o DIR: exit %d: %s", code, stderr)
	}
	for _, name := range []string{"contract.h", "contract.c"} {
		if b, err := os.ReadFile(filepath.Join(out, name)); err != nil || string(b) != want("c", name) {
			t.Errorf("%s: %v; or it is not the golden file", name, err)
		}
	}

	badSettings := filepath.Join(t.TempDir(), "plugin.toml")
	if err := os.WriteFile(badSettings, []byte("name = \"x\"\nversion = \"1.0.0\"\ntier = \"process\"\nprotocol = 1\nentry = \"x\"\n[config]\nworkers = { type = \"int\" }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"gen", file}, 2, "want --lang"},
		{[]string{"gen", "--lang", "cobol", file}, 1, `unknown language "cobol"`},
		{[]string{"gen", "--lang", "go"}, 2, "want a contract document"},
		{[]string{"gen", "--lang", "c", file}, 2, "give -o a directory"},
		{[]string{"gen", "--lang", "go", "--package", "My-Pkg", file}, 1, `package name "My-Pkg"`},
		{[]string{"gen", "--lang", "go", "--manifest", t.TempDir(), file}, 1, "no plugin.toml here"},
		{[]string{"gen", "--lang", "go", "--manifest", badSettings, file}, 1, `key "config.workers.type": "int": must be string, number, integer`},
	}
	for _, c := range cases {
		code, _, stderr := run(t, c.args...)
		if code != c.code || !strings.Contains(stderr, c.msg) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", c.args, code, stderr, c.code, c.msg)
		}
	}

	// A schema that typed code cannot represent is an error naming the
	// hook and the JSON path; it is never turned into "any".
	bad := strings.Replace(string(doc), `"type": "integer"`, `"type": ["integer", "string"]`, 1)
	if bad == string(doc) {
		t.Fatal("the test contract has no integer")
	}
	badFile := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(badFile, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = run(t, "gen", "--lang", "go", badFile)
	if code != 1 || !strings.Contains(stderr, `hook "invoice.check": input: #/$defs/InvoiceLine/properties/quantity: unsupported schema: type integer, string`) {
		t.Errorf("unsupported schema: exit %d, stderr %s", code, stderr)
	}

	t.Run("package", func(t *testing.T) {
		noToolchainUnderWine(t)
		c, err := gen.Parse(genContract(t))
		if err != nil {
			t.Fatal(err)
		}
		files, err := gen.Generate(c, "go", "contract")
		if err != nil {
			t.Fatal(err)
		}
		code, stdout, stderr := run(t, "gen", "--lang", "go", filepath.Join(genDir(), "host"))
		if code != 0 || stdout != string(files[0].Data) {
			t.Errorf("gen --lang go PACKAGE: exit %d, stderr %s; stdout is the bindings of the host's contract: %v", code, stderr, stdout == string(files[0].Data))
		}
	})
}

// genInvoice is a hook input: every kind of field set.
func genInvoice(name string) map[string]any {
	return map[string]any{
		"id":       "inv-1",
		"customer": map[string]any{"name": name},
		"lines": []any{
			map[string]any{"sku": "a", "quantity": 2, "price": 10.5},
			map[string]any{"sku": "b", "quantity": 1, "price": 4},
		},
		"tags":     map[string]string{"vip": "1", "rush": "y"},
		"note":     nil,
		"priority": 3,
		"currency": "EUR",
		"discount": 5,
		"meta":     map[string]any{"k": []int{1}},
	}
}

// genPlugin is a plugin built from testdata/gen/plugins on bindings
// generated for one language.
type genPlugin struct {
	lang string
	dir  func(t *testing.T, bindings []gen.File) string
	// misspells: the plugin can return a result with a misspelled field
	// (languages whose types are not checked when it runs).
	misspells bool
}

// Bindings in each language, generated from the test contract, compiled
// into a real plugin that runs against a real host: typed values both
// ways, a missing field the host sends refused by the plugin's side, a
// host function whose result lost a field refused by the plugin's side,
// and a misspelled result refused by the host.
func TestGenPlugins(t *testing.T) {
	noToolchainUnderWine(t)
	c := genWithSettings(t, genContract(t))
	plugins := []genPlugin{
		{lang: "go", dir: goGenPlugin},
		{lang: "typescript", dir: tsGenPlugin, misspells: true},
		{lang: "python", dir: pythonGenPlugin, misspells: true},
		{lang: "rust", dir: rustGenPlugin},
		{lang: "c", dir: cGenPlugin, misspells: true},
	}
	for _, p := range plugins {
		t.Run(p.lang, func(t *testing.T) {
			t.Parallel() // the builds (cargo, tsc, clang, go) overlap
			files, err := gen.Generate(c, p.lang, "contract")
			if err != nil {
				t.Fatal(err)
			}
			dir := p.dir(t, files)
			runGenPlugin(t, p, dir)
			runGenSettings(t, p, dir)
		})
	}
}

func genHost(t *testing.T, rates ...airlock.Function) *airlock.Host {
	t.Helper()
	return genHostLogging(t, io.Discard, rates...)
}

// genHostLogging is genHost, logging to w.
func genHostLogging(t *testing.T, w io.Writer, rates ...airlock.Function) *airlock.Host {
	t.Helper()
	opts := hostdef.Options()
	opts.Logger = slog.New(slog.NewTextHandler(w, nil))
	if len(rates) > 0 {
		opts.Functions = append(rates, hostdef.Echo)
	}
	h, err := airlock.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	return h
}

func runGenPlugin(t *testing.T, p genPlugin, dir string) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	name := "gen-" + p.lang
	var log lockedBuffer
	h := genHostLogging(t, &log)
	if _, err := h.Load(ctx, airlock.PluginConfig{Path: dir, Grants: genGrants, Config: genConfig}); err != nil {
		t.Fatal(err)
	}

	got, err := hostdef.Check.Run(ctx, h, decodeInvoice(t, genInvoice("ada")))
	if err != nil {
		t.Fatal(err)
	}
	if !got.Approved || got.Total != 45 || got.Reason != "hey:ada/EUR/p3" || got.Score != nil ||
		!slices.Equal(got.Flags, []string{"rush", "vip", "no-note", "meta", "h2", "w3", "r2"}) {
		t.Errorf("verdict = %+v (score %v), want approved, total 45, reason hey:ada/EUR/p3, flags [rush vip no-note meta h2 w3 r2], no score", got, got.Score)
	}

	in := genInvoice("bob")
	in["note"], in["currency"], in["lines"] = "hi", "USD", nil
	for _, k := range []string{"tags", "discount", "meta"} {
		delete(in, k)
	}
	got, err = hostdef.Check.Run(ctx, h, decodeInvoice(t, in))
	if err != nil {
		t.Fatal(err)
	}
	if !got.Approved || got.Total != 0 || got.Reason != "hey:bob/USD/p3" || got.Score == nil || *got.Score != 30 || !slices.Equal(got.Flags, []string{"h2", "w3", "r2"}) {
		t.Errorf("verdict without the optional fields = %+v (score %v), want total 0, reason hey:bob/USD/p3, flags [h2 w3 r2], score 30", got, got.Score)
	}
	// The typed after handler of note.add gets the hook's input and the
	// host's default answer, decoded; what does not fit is refused.
	if _, err := hostdef.Note.Run(ctx, h, "paid"); err != nil {
		t.Fatal(err)
	}
	if want := "after note.add: paid -> false"; !strings.Contains(log.String(), want) {
		t.Errorf("the after handler logged no %q; the host's log:\n%s", want, log.String())
	}
	afterBad := []struct {
		input any
		want  string
	}{
		{map[string]any{"input": 1, "output": true}, "note.add: invalid input: /input: "},
		{map[string]any{"input": "x"}, "note.add: invalid input: /output: missing"},
	}
	for _, b := range afterBad {
		_, err := h.Call(ctx, name, "note.add", b.input)
		var re *airlock.RemoteError
		if !errors.As(err, &re) || re.Code != -32602 || !strings.Contains(re.Message, b.want) {
			t.Errorf("after handler given %v: err = %v, want the plugin's -32602 %q", b.input, err, b.want)
		}
	}

	// What the host sends, missing a required field: refused by the
	// plugin's side before its handler runs.
	in = genInvoice("ada")
	delete(in, "customer")
	_, err = h.Call(ctx, name, "invoice.check", in)
	var re *airlock.RemoteError
	if !errors.As(err, &re) || re.Code != -32602 || !strings.Contains(re.Message, "invoice.check: invalid input: /customer: missing") {
		t.Errorf("input without customer: err = %v, want the plugin's -32602 \"invoice.check: invalid input: /customer: missing\"", err)
	}
	bad := []struct {
		what   string
		change func(in map[string]any)
		want   string
	}{
		{"a nullable field left out", func(in map[string]any) { delete(in, "note") }, "/note: missing"},
		{"a string quantity", func(in map[string]any) { in["lines"].([]any)[1].(map[string]any)["quantity"] = "one" }, "/lines/1/quantity: "},
		{"a fractional integer", func(in map[string]any) { in["priority"] = 1.5 }, "/priority: "},
		{"a currency not in the enum", func(in map[string]any) { in["currency"] = "GBP" }, "/currency: "},
		{"null for an object", func(in map[string]any) { in["customer"] = nil }, "/customer: "},
		{"a number in a map", func(in map[string]any) { in["tags"] = map[string]any{"vip": 1} }, "/tags/vip: "},
	}
	for _, b := range bad {
		in := genInvoice("ada")
		b.change(in)
		if _, err = h.Call(ctx, name, "invoice.check", in); !errors.As(err, &re) || re.Code != -32602 || !strings.Contains(re.Message, b.want) {
			t.Errorf("input with %s: err = %v, want the plugin's -32602 naming %s", b.what, err, b.want)
		}
	}

	// A host whose rates.lookup renamed "rate": the plugin's typed caller
	// refuses the result instead of reading a zero rate.
	renamed := airlock.NewFunc("rates.lookup", "rates.read", func(context.Context, airlock.Caller, hostdef.RateQuery) (struct {
		Rat     float64   `json:"rat"`
		Source  string    `json:"source"`
		History []float64 `json:"history"`
	}, error) {
		return struct {
			Rat     float64   `json:"rat"`
			Source  string    `json:"source"`
			History []float64 `json:"history"`
		}{Rat: 2, Source: "old"}, nil
	})
	h2 := genHost(t, renamed)
	if _, err := h2.Load(ctx, airlock.PluginConfig{Path: dir, Grants: genGrants, Config: genConfig}); err != nil {
		t.Fatal(err)
	}
	if _, err := hostdef.Check.Run(ctx, h2, decodeInvoice(t, genInvoice("ada"))); err == nil || !strings.Contains(err.Error(), "host call rates.lookup: result: /rate: missing") {
		t.Errorf("a result without rate: err = %v, want the plugin's \"host call rates.lookup: result: /rate: missing\"", err)
	}

	if p.misspells {
		_, err := hostdef.Check.Run(ctx, h, decodeInvoice(t, genInvoice("misspell")))
		if !errors.Is(err, airlock.ErrBadResult) || !strings.Contains(err.Error(), "/aproved: unknown field") || !strings.Contains(err.Error(), "/approved: missing") {
			t.Errorf("misspelled result: err = %v, want ErrBadResult naming /aproved and /approved", err)
		}
	}
}

// genGrants are the test plugins' grants: rates.lookup, and log for the
// after handler.
var genGrants = []string{"rates.read", "log"}

// genConfig is the operator's settings of the test plugins (host.toml's
// [plugin.config]): ratio unset, strict left at its default.
var genConfig = map[string]any{"greeting": "hey", "workers": int64(3), "regions": []any{"eu", "us"}}

// runGenSettings checks the plugin's typed settings: other values reach
// it typed (a default filled in, a number, a bool); an operator's value of
// the wrong type or an unknown setting is refused at load naming the
// plugin and the setting; and a manifest that changed since the bindings
// were generated is refused by the plugin's decoder naming the setting,
// never read as a zero value.
func runGenSettings(t *testing.T, p genPlugin, dir string) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	name := "gen-" + p.lang
	cfg := map[string]any{"greeting": "yo", "ratio": 0.5, "strict": true}
	h := genHost(t)
	if _, err := h.Load(ctx, airlock.PluginConfig{Path: dir, Grants: genGrants, Config: cfg}); err != nil {
		t.Fatal(err)
	}
	got, err := hostdef.Check.Run(ctx, h, decodeInvoice(t, genInvoice("ada")))
	if err != nil {
		t.Fatal(err)
	}
	if got.Total != 22.5 || got.Reason != "yo:ada/EUR/p3" || !slices.Equal(got.Flags, []string{"rush", "vip", "no-note", "meta", "h2", "w2", "strict"}) {
		t.Errorf("with ratio 0.5, strict, workers by default: verdict = %+v, want total 22.5, reason yo:ada/EUR/p3, flags [... h2 w2 strict]", got)
	}

	operator := []struct {
		config map[string]any
		want   string
	}{
		{map[string]any{"greeting": "x", "workers": "3"}, `setting "workers": `},
		{map[string]any{"greeting": "x", "workers": 1.5}, `setting "workers": `},
		{map[string]any{"greeting": "x", "wrokers": 3}, `setting "wrokers": unknown setting`},
		{map[string]any{"workers": 3}, "greeting"},
	}
	for _, o := range operator {
		_, err := genHost(t).Load(ctx, airlock.PluginConfig{Path: dir, Grants: genGrants, Config: o.config})
		if err == nil || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), o.want) {
			t.Errorf("config %v: err = %v, want one naming %s and %s", o.config, err, name, o.want)
		}
	}

	// The manifest changed (workers became a number, a setting was added)
	// and the bindings were not regenerated: the host accepts the values,
	// the plugin's decoder does not. (One host: a wasm load costs seconds
	// under -race. Go reports every problem, the others the first: the
	// unknown setting. A fractional integer is refused by the same decoder
	// function as the contract's, which runGenPlugin checks.)
	stale := map[string]any{"greeting": "x", "workers": 1.5, "extra": "y"}
	want := []string{"settings: /extra: unknown setting (these bindings know: greeting, ratio, regions, strict, workers;"}
	if p.lang == "go" {
		want = append(want, "/workers: got number 1.5, want int64")
	}
	h = genHost(t)
	if _, err := h.Load(ctx, airlock.PluginConfig{Path: genDrifted(t, dir), Grants: genGrants, Config: stale}); err != nil {
		t.Fatal(err)
	}
	_, err = hostdef.Check.Run(ctx, h, decodeInvoice(t, genInvoice("ada")))
	for _, w := range append(want, name) {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("stale bindings, config %v: err = %v, want one naming %q", stale, err, w)
		}
	}
}

// genDrifted copies the plugin directory dir, with a manifest whose
// settings are no longer those the bindings were generated from.
func genDrifted(t *testing.T, dir string) string {
	t.Helper()
	out := t.TempDir()
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		copyTo(t, path, filepath.Join(out, rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(out, "plugin.toml")
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	m := strings.Replace(string(b), `workers = { type = "integer"`, `workers = { type = "number"`, 1)
	m += "extra = { type = \"string\" }\n"
	if m == string(b)+"extra = { type = \"string\" }\n" {
		t.Fatal("the test manifest has no integer workers")
	}
	if err := os.WriteFile(file, []byte(m), 0o644); err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" {
		// Keep the executables executable.
		_ = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				if st, err := os.Stat(path); err == nil && st.Mode()&0o111 != 0 {
					rel, _ := filepath.Rel(dir, path)
					_ = os.Chmod(filepath.Join(out, rel), st.Mode())
				}
			}
			return nil
		})
	}
	return out
}

// decodeInvoice makes the host's Invoice of a map, through JSON.
func decodeInvoice(t *testing.T, m map[string]any) hostdef.Invoice {
	t.Helper()
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var inv hostdef.Invoice
	if err := json.Unmarshal(raw, &inv); err != nil {
		t.Fatal(err)
	}
	return inv
}

const genManifest = `name = "gen-%s"
version = "1.0.0"
tier = %q
protocol = 1
entry = %q
%s
contract = "1.2.0"
hooks = ["invoice.check", "note.add"]

[hook."note.add"]
phase = "after"

[capabilities]
required = ["rates.read", "log"]
`

// genManifestText is a test plugin's manifest, with the settings of
// testdata/gen/plugin.toml.
func genManifestText(t *testing.T, lang, tier, entry, extra string) string {
	return fmt.Sprintf(genManifest, lang, tier, entry, extra) + genConfigTable(t)
}

// writeFiles writes the generated files into dir.
func writeFiles(t *testing.T, dir string, files []gen.File) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f.Name), f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func genSource(name string) string { return filepath.Join(genDir(), "plugins", name) }

// goGenPlugin builds the Go plugin in a module of its own that uses this
// repository's SDK (a replace directive), offline.
func goGenPlugin(t *testing.T, files []gen.File) string {
	root := testutil.Root()
	mod := t.TempDir()
	writeFiles(t, filepath.Join(mod, "contract"), files)
	gomod := fmt.Sprintf("module genplugin\n\ngo 1.26\n\nrequire github.com/airlock-go/airlock v0.0.0\n\nreplace github.com/airlock-go/airlock => %s\n", filepath.ToSlash(root))
	if err := os.WriteFile(filepath.Join(mod, "go.mod"), []byte(gomod), 0o644); err != nil {
		t.Fatal(err)
	}
	copyTo(t, filepath.Join(root, "go.sum"), filepath.Join(mod, "go.sum"))
	copyTo(t, genSource("go/main.go"), filepath.Join(mod, "main.go"))
	bin := filepath.Join(t.TempDir(), exeName("gen-go"))
	cmd := exec.Command("go", "build", "-mod=mod", "-o", bin, ".")
	cmd.Dir = mod
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build of the Go plugin: %v\n%s", err, out)
	}
	m := genManifestText(t, "go", "process", exeName("gen-go"), "")
	return testutil.PluginDir(t, m, map[string]string{exeName("gen-go"): bin})
}

func exeName(name string) string {
	if runtime.GOOS == "windows" {
		return name + ".exe"
	}
	return name
}

func copyTo(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// needTool finds a program, or skips the test outside CI (CI installs
// every one: .ci/run, .ci/sdk-tests).
func needTool(t *testing.T, name, why string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if home, err := os.UserHomeDir(); err == nil {
		if p := filepath.Join(home, ".cargo", "bin", exeName(name)); fileExists(p) {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is required in CI: %s", name, why)
	}
	t.Skipf("%s not installed: %s", name, why)
	return ""
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func pythonGenPlugin(t *testing.T, files []gen.File) string {
	needTool(t, "python3", "the Python plugin runs on it")
	root := testutil.Root()
	m := genManifestText(t, "python", "process", "main.py", `interpreter = ["python3"]`)
	dir := testutil.PluginDir(t, m, map[string]string{
		"main.py":           genSource("python/main.py"),
		"airlock_plugin.py": filepath.Join(root, "sdk", "python", "airlock_plugin.py"),
	})
	writeFiles(t, dir, files)
	return dir
}

// tsGenPlugin compiles the TypeScript plugin with the SDK's tsc (npm ci
// in sdk/typescript, as .ci/sdk-tests runs), strictly, and checks that tsc
// refuses a misspelled field.
func tsGenPlugin(t *testing.T, files []gen.File) string {
	needTool(t, "node", "the TypeScript plugin runs on it")
	root := testutil.Root()
	ts := filepath.Join(root, "sdk", "typescript")
	tsc := filepath.Join(ts, "node_modules", "typescript", "bin", "tsc")
	if !fileExists(tsc) {
		if os.Getenv("CI") != "" {
			t.Fatal("sdk/typescript/node_modules has no tsc in CI: run bash .ci/sdk-tests first")
		}
		t.Skip("no tsc: run npm ci in sdk/typescript")
	}
	m := genManifestText(t, "typescript", "process", "main.js", `interpreter = ["node"]`)
	dir := testutil.PluginDir(t, m, map[string]string{
		"main.ts":       genSource("typescript/main.ts"),
		"misspelled.ts": genSource("typescript/misspelled.ts"),
		"node_modules/@airlock-go/plugin/package.json": filepath.Join(ts, "package.json"),
		"node_modules/@airlock-go/plugin/index.js":     filepath.Join(ts, "index.js"),
		"node_modules/@airlock-go/plugin/index.d.ts":   filepath.Join(ts, "index.d.ts"),
	})
	writeFiles(t, dir, files)
	if err := os.WriteFile(filepath.Join(dir, "package.json"), []byte(`{"type": "module"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tsconfig := `{"compilerOptions": {"strict": true, "exactOptionalPropertyTypes": true, "noUnusedLocals": true,
  "noUnusedParameters": true, "noImplicitOverride": true, "target": "es2022", "lib": ["es2023"], "module": "nodenext",
  "moduleResolution": "nodenext", "types": ["node"], "typeRoots": [%q], "outDir": "."},
  "files": ["main.ts", "contract.ts", "misspelled.ts"]}`
	tsconfig = fmt.Sprintf(tsconfig, filepath.ToSlash(filepath.Join(ts, "node_modules", "@types")))
	if err := os.WriteFile(filepath.Join(dir, "tsconfig.json"), []byte(tsconfig), 0o644); err != nil {
		t.Fatal(err)
	}
	// One run (tsc is slow): it emits main.js and contract.js, and must
	// refuse misspelled.ts, and nothing else.
	cmd := exec.Command("node", tsc, "-p", ".")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	var errs []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if strings.Contains(line, "error TS") {
			errs = append(errs, line)
		}
	}
	if err == nil || len(errs) != 1 || !strings.HasPrefix(errs[0], "misspelled.ts") || !strings.Contains(errs[0], "aproved") {
		t.Fatalf("tsc: %v; want exactly one error, in misspelled.ts, naming aproved; output:\n%s", err, out)
	}
	return dir
}

// rustGenPlugin builds the Rust plugin with cargo, offline, on the SDK in
// sdk/rust.
func rustGenPlugin(t *testing.T, files []gen.File) string {
	cargo := needTool(t, "cargo", "the Rust plugin is built with it")
	root := testutil.Root()
	crate := t.TempDir()
	writeFiles(t, filepath.Join(crate, "src"), files)
	copyTo(t, genSource("rust/main.rs"), filepath.Join(crate, "src", "main.rs"))
	toml := fmt.Sprintf("[package]\nname = \"gen-rust\"\nversion = \"1.0.0\"\nedition = \"2021\"\n\n[dependencies]\nairlock-plugin = { path = %q }\n",
		filepath.ToSlash(filepath.Join(root, "sdk", "rust")))
	if err := os.WriteFile(filepath.Join(crate, "Cargo.toml"), []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(cargo, "build", "--offline", "--quiet")
	cmd.Dir = crate
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(cargo)+string(os.PathListSeparator)+os.Getenv("PATH"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cargo build of the Rust plugin: %v\n%s", err, out)
	}
	m := genManifestText(t, "rust", "process", exeName("gen-rust"), "")
	return testutil.PluginDir(t, m, map[string]string{exeName("gen-rust"): filepath.Join(crate, "target", "debug", exeName("gen-rust"))})
}

// cGenPlugin builds the C plugin for the wasm tier with clang and
// wasi-libc (CI installs them; testutil.CWasm fails there without them).
func cGenPlugin(t *testing.T, files []gen.File) string {
	root := testutil.Root()
	src := t.TempDir()
	writeFiles(t, src, files)
	// Warnings are errors: the bindings must compile cleanly.
	wasm := testutil.CWasm(t, "gen-c", []string{"-Wall", "-Wextra", "-Werror", "-I", filepath.Join(root, "sdk", "c"), "-I", src},
		genSource("c/main.c"), filepath.Join(src, "contract.c"), filepath.Join(root, "sdk", "c", "airlock.c"), filepath.Join(root, "sdk", "c", "airlock_json.c"))
	m := genManifestText(t, "c", "wasm", "plugin.wasm", "")
	return testutil.PluginDir(t, m, map[string]string{"plugin.wasm": wasm})
}
