package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"
)

const (
	checkUsage   = "DIR|PKG [--json] [--timeout D] [--set KEY=VALUE]... [--sample NAME=JSON|@FILE]... [--stub FN[:CAP]=JSON|@FILE]... [--trust PUBKEY]... [--allow-unsigned] [-v]"
	checkSummary = "Check a plugin against the protocol or the wasm ABI, driving it as a host would: a conformance suite for plugin authors' CI."
	checkMore    = `Exit status: 0 when every check passes or is skipped, 1 when one fails,
2 when the command is called wrongly. docs/CLI.md says what each check
does, what it cannot check, and how --sample lets it exercise more.
`
)

var checkCommand = command{
	summary: checkSummary,
	usage:   checkUsage,
	setup: func(fs *flag.FlagSet) runFunc {
		asJSON := fs.Bool("json", false, "print the report as JSON (stable field names)")
		timeout := fs.Duration("timeout", 10*time.Second, "the deadline of each call the checks make (the host's default call_timeout)")
		var sets, samples, stubs, trust multiFlag
		fs.Var(&sets, "set", "a setting for the plugin, KEY=VALUE (repeatable); required settings without one get a value made up from the manifest")
		fs.Var(&samples, "sample", "the input to call hook or function NAME with, NAME=VALUE, the value being "+inputHelp+" (repeatable; default {})")
		fs.Var(&stubs, "stub", "a stand-in for a host application's function, FN=VALUE or FN:CAP=VALUE: it answers VALUE ("+inputHelp+"); CAP, by default FN, guards it (repeatable)")
		fs.Var(&trust, "trust", "for a package: a trusted publisher key (repeatable)")
		unsigned := fs.Bool("allow-unsigned", false, "for a package: check it even if it is not signed (development only)")
		verbose := fs.Bool("v", false, "show the plugin's log and the host's on standard error")
		help := helpFlags(fs)
		return func(ctx context.Context, c *cli, args []string) error {
			if *help {
				printHelp(c.stdout, "check", checkUsage, checkSummary, checkMore, fs)
				return nil
			}
			if len(args) != 1 {
				return usagef("want one plugin directory or package")
			}
			if *timeout <= 0 {
				return usagef("--timeout must be positive")
			}
			o := checkOptions{target: args[0], timeout: *timeout, sets: sets, trust: trust, allowUnsigned: *unsigned, samples: map[string]json.RawMessage{}, level: slog.LevelError}
			if *verbose {
				o.level = slog.LevelDebug
			}
			for _, s := range samples {
				nv, err := parseNamedJSON("--sample", s)
				if err != nil {
					return err
				}
				o.samples[nv.name] = nv.value
			}
			for _, s := range stubs {
				st, err := parseStub(s)
				if err != nil {
					return err
				}
				o.stubs = append(o.stubs, st)
			}
			r, err := runChecks(ctx, c, o)
			if err != nil {
				return err
			}
			if *asJSON {
				enc := json.NewEncoder(c.stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(r); err != nil {
					return err
				}
			} else {
				r.print(c.stdout)
			}
			if !r.Conforms {
				return &checkFailed{plugin: r.label(), failed: r.Failed}
			}
			return nil
		}
	},
}

// checkFailed is the command's error when a check fails: exit status 1,
// with the report already printed.
type checkFailed struct {
	plugin string
	failed int
}

func (e *checkFailed) Error() string {
	return fmt.Sprintf("%s does not conform: %d %s failed", e.plugin, e.failed, plural(e.failed, "check", "checks"))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// Check statuses.
const (
	statusPass = "pass"
	statusFail = "fail"
	statusSkip = "skip"
)

// checkReport is what check prints; its JSON form is stable for scripts.
type checkReport struct {
	Plugin   string        `json:"plugin"` // the manifest's name; empty if it could not be read
	Version  string        `json:"version"`
	Tier     string        `json:"tier"`
	Target   string        `json:"target"` // the directory or package, as given
	Conforms bool          `json:"conforms"`
	Passed   int           `json:"passed"`
	Failed   int           `json:"failed"`
	Skipped  int           `json:"skipped"`
	Checks   []checkResult `json:"checks"`
}

// checkResult is one check's outcome.
type checkResult struct {
	ID     string `json:"id"`
	Title  string `json:"title"`  // what the check checks
	Status string `json:"status"` // pass, fail or skip
	Detail string `json:"detail"` // what happened
	// Requires is what the documentation requires, and Doc and Section
	// where it says so.
	Requires string `json:"requires"`
	Doc      string `json:"doc"`
	Section  string `json:"section"`
}

func (r *checkReport) label() string {
	if r.Plugin != "" {
		return r.Plugin
	}
	return r.Target
}

func (r *checkReport) print(w io.Writer) {
	if r.Plugin != "" {
		fmt.Fprintf(w, "airlock check: %s %s (%s tier) from %s\n\n", r.Plugin, r.Version, r.Tier, r.Target)
	} else {
		fmt.Fprintf(w, "airlock check: %s\n\n", r.Target)
	}
	width := 0
	for _, c := range r.Checks {
		width = max(width, len(c.ID))
	}
	for _, c := range r.Checks {
		fmt.Fprintf(w, "%-4s  %-*s  %s\n", strings.ToUpper(c.Status), width, c.ID, c.Detail)
		if c.Status == statusFail {
			pad := strings.Repeat(" ", 6+width+2)
			fmt.Fprintf(w, "%srequires: %s\n", pad, c.Requires)
			fmt.Fprintf(w, "%ssee: %s, section %q\n", pad, c.Doc, c.Section)
		}
	}
	verdict := "conforms"
	if !r.Conforms {
		verdict = "does NOT conform"
	}
	fmt.Fprintf(w, "\n%s: %d passed, %d failed, %d skipped: %s\n", r.label(), r.Passed, r.Failed, r.Skipped, verdict)
}

// Check identifiers, in the order they run and are reported.
const (
	ckManifest    = "manifest"
	ckSignature   = "signature"
	ckABI         = "abi"
	ckHandshake   = "handshake"
	ckSettings    = "settings"
	ckUnknown     = "unknown-name"
	ckCalls       = "calls"
	ckConcurrency = "concurrency"
	ckHostCalls   = "host-calls"
	ckMessageSize = "message-size"
	ckCancel      = "cancel"
	ckShutdown    = "shutdown"
	ckStdout      = "stdout"
)

// docRef is what a check holds a plugin to, and where the documentation
// says so.
type docRef struct {
	requires, doc, section string
}

// checkDef describes one check. process and wasm are its references for
// each tier; nil means that the check does not apply to that tier, and
// notFor says why.
type checkDef struct {
	id, title     string
	process, wasm *docRef
	notFor        string
	packageOnly   bool
	wasmOnly      bool
}

const (
	protocolDoc = "docs/PROTOCOL.md"
	abiDoc      = "docs/ABI.md"
)

// checkDefs lists every check. The sections named here are headings of
// the documents; a test keeps them so.
var checkDefs = []checkDef{
	{id: ckManifest, title: "plugin.toml is valid",
		process: &docRef{"a plugin.toml whose every key is known and valid", "docs/MANIFEST.md", "plugin.toml: the plugin's manifest"},
		wasm:    &docRef{"a plugin.toml whose every key is known and valid", "docs/MANIFEST.md", "plugin.toml: the plugin's manifest"}},
	{id: ckSignature, title: "the package's signature verifies against the trusted keys", packageOnly: true,
		process: &docRef{"a package signed by a trusted key, for this package's name and version", "docs/PACKAGES.md", "The signature"},
		wasm:    &docRef{"a package signed by a trusted key, for this package's name and version", "docs/PACKAGES.md", "The signature"}},
	{id: ckABI, title: "the module's exports and imports follow the wasm contract", wasmOnly: true,
		wasm: &docRef{"a core module exporting memory, airlock_alloc, airlock_free, airlock_init and airlock_call with the documented signatures, and importing only airlock.host_call, airlock.host_result and WASI", abiDoc, "Exports the guest provides"}},
	{id: ckHandshake, title: "starts and answers the handshake with the manifest's name, version and hooks",
		process: &docRef{"answer initialize within the start timeout with protocol 1, the manifest's name and version, and as hooks exactly the manifest's hooks plus functions", protocolDoc, "`initialize` (host → plugin, request)"},
		wasm:    &docRef{"airlock_init answers protocol 1, the manifest's name and version, and as hooks exactly the manifest's hooks plus functions", abiDoc, "`airlock_init`"}},
	{id: ckSettings, title: "starts with every configuration its manifest's schema allows",
		process: &docRef{"accept in initialize any config that the manifest's [config] schema allows (the host refuses the rest before the plugin starts)", protocolDoc, "`initialize` (host → plugin, request)"},
		wasm:    &docRef{"accept in airlock_init any config that the manifest's [config] schema allows (the host refuses the rest before the plugin starts)", abiDoc, "`airlock_init`"}},
	{id: ckUnknown, title: "answers a call for a name it does not implement with code -32004",
		process: &docRef{"a call naming a hook or function the plugin does not implement is answered with error code -32004", protocolDoc, "`call` (host → plugin, request)"},
		wasm:    &docRef{"airlock_call for a name the guest does not implement answers an error envelope with code -32004", abiDoc, "`airlock_call`"}},
	{id: ckCalls, title: "answers a call of each declared hook and function",
		process: &docRef{"every call of a declared hook or function is answered exactly once, with a result or an error (not -32004), without crashing", protocolDoc, "`call` (host → plugin, request)"},
		wasm:    &docRef{"airlock_call answers every declared hook or function with a result or an error envelope (not -32004), without trapping", abiDoc, "`airlock_call`"}},
	{id: ckConcurrency, title: "answers several calls in flight at once",
		process: &docRef{"several calls may be in flight at once (up to 64 by default); each is answered, in any order, as it would be alone", protocolDoc, "Messages"},
		wasm:    &docRef{"concurrent calls run in separate instances; each is answered as it would be alone", abiDoc, "Instances"}},
	{id: ckHostCalls, title: "calls the host while other calls are in flight, and gets the answers right",
		process: &docRef{"while handling calls, a plugin's own requests to the host get answers in any order, matched by id, and the plugin keeps reading its input meanwhile", protocolDoc, "Calling the host"},
		wasm:    &docRef{"host_call and host_result work while other calls run in other instances", abiDoc, "Imports the host provides"}},
	{id: ckMessageSize, title: "reads a message at the size limit, and writes none over it",
		process: &docRef{"messages up to the limit (4 MiB by default) are read; a message over it is a violation", protocolDoc, "Framing"},
		wasm:    &docRef{"inputs up to max_message_bytes (4 MiB by default) are handled; a larger output fails the call", abiDoc, "Limits"}},
	{id: ckCancel, title: "answers a call that was cancelled, or whose deadline passed, within the grace period",
		process: &docRef{"after $/cancel (sent when a call's deadline passes), answer the call within the grace period (1 second by default), or be killed", protocolDoc, "`$/cancel` (either way, notification)"},
		notFor:  "the wasm tier has no $/cancel: the host stops a guest at its deadline itself"},
	{id: ckShutdown, title: "answers shutdown and exits at the end of its input",
		process: &docRef{"answer shutdown, then exit when standard input reaches end of file, within 3 seconds (by default)", protocolDoc, "`shutdown` (host → plugin, request)"},
		notFor:  "a wasm guest has no process: the host discards its instances"},
	{id: ckStdout, title: "writes only valid protocol messages to standard output",
		process: &docRef{"standard output carries only protocol messages, one JSON-RPC 2.0 object a line; anything else (a stray print) is a violation and stops the plugin", protocolDoc, "Framing"},
		notFor:  "a wasm guest's standard output goes to the host's log"},
}

// runChecks runs every check that applies to the plugin at o.target.
func runChecks(ctx context.Context, c *cli, o checkOptions) (*checkReport, error) {
	k := newChecker(c, o)
	defer k.close()
	if err := k.run(ctx); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("interrupted: %w", err)
	}
	return k.report(), nil
}

func (k *checker) report() *checkReport {
	r := &checkReport{Target: k.o.target, Checks: []checkResult{}}
	if k.man != nil {
		r.Plugin, r.Version, r.Tier = k.man.Name, k.man.Version, k.man.Tier
	}
	wasm := r.Tier == "wasm"
	for _, d := range checkDefs {
		if (d.packageOnly && !k.isPackage) || (d.wasmOnly && !wasm) {
			continue
		}
		ref := d.process
		if wasm {
			ref = d.wasm
		}
		res, ok := k.results[d.id]
		switch {
		case ref == nil:
			ref = d.process
			res = checkResult{Status: statusSkip, Detail: "does not apply: " + d.notFor}
		case !ok:
			res = checkResult{Status: statusSkip, Detail: k.skipReason}
		}
		res.ID, res.Title = d.id, d.title
		res.Requires, res.Doc, res.Section = ref.requires, ref.doc, ref.section
		switch res.Status {
		case statusPass:
			r.Passed++
		case statusFail:
			r.Failed++
		default:
			r.Skipped++
		}
		r.Checks = append(r.Checks, res)
	}
	r.Conforms = r.Failed == 0
	return r
}
