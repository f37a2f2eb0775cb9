package airlock

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/Masterminds/semver/v3"

	"github.com/airlock-go/airlock/internal/capability"
	"github.com/airlock-go/airlock/internal/manifest"
)

// contractEnv names the file New writes the contract to before ending the
// process ("airlock contract" sets it).
const contractEnv = "AIRLOCK_CONTRACT_OUT"

// declareContract records the hooks and version of opts.
func (h *Host) declareContract(opts Options) error {
	if opts.ContractVersion != "" {
		v, err := semver.StrictNewVersion(opts.ContractVersion)
		if err != nil {
			return fmt.Errorf("%w: ContractVersion %q is not a semantic version (like 1.2.0)", ErrInvalidConfig, opts.ContractVersion)
		}
		h.version = v
	}
	for i, k := range opts.Hooks {
		d := (*hookDecl)(nil)
		if k != nil {
			d = k.declaration()
		}
		switch {
		case d == nil:
			return fmt.Errorf("%w: Options.Hooks[%d] is nil", ErrInvalidConfig, i)
		case !manifest.ValidHookName(d.name):
			return fmt.Errorf("%w: hook %q: a hook's name is a lower-case identifier, optionally dotted (greet, payment.approve), so that a manifest can list it", ErrInvalidConfig, d.name)
		case h.hooks[d.name] != nil:
			return fmt.Errorf("%w: hook %q declared twice in Options.Hooks", ErrInvalidConfig, d.name)
		}
		h.hooks[d.name] = d
	}
	h.declared = h.version != nil || len(h.hooks) > 0
	return nil
}

// declares checks that a host with a declared contract declares hook k,
// with k's types.
func (h *Host) declares(k *hookDecl) error {
	if !h.declared {
		return nil
	}
	d := h.hooks[k.name]
	switch {
	case d == nil:
		return fmt.Errorf("%w: hook %q is not in Options.Hooks%s", ErrContract, k.name, didYouMean(k.name, h.hookNames()))
	case d.in.typ != k.in.typ || d.out.typ != k.out.typ || d.collect != k.collect:
		return fmt.Errorf("%w: hook %q is declared in Options.Hooks as %s, not %s", ErrContract, k.name, d.goType(), k.goType())
	}
	return nil
}

// goType names the hook's Go type, for messages.
func (d *hookDecl) goType() string {
	kind := "Hook"
	if d.collect {
		kind = "CollectHook"
	}
	return fmt.Sprintf("%s[%v, %v]", kind, d.in.typ, d.out.typ)
}

func (h *Host) hookNames() []string {
	names := make([]string, 0, len(h.hooks))
	for n := range h.hooks {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// checkContract checks a plugin's manifest against the host's declared
// contract: every hook it implements must be one of the host's, and the
// contract version it was built against must be compatible. Functions are
// the plugin's own and are not checked.
//
// Threat: a plugin implementing a hook the host has not got (a typo, or a
// plugin built for another host) would sit loaded and never run, and the
// operator would believe it guards something.
func (h *Host) checkContract(man *manifest.Manifest) error {
	if !h.declared {
		return nil
	}
	var probs []string
	for _, hook := range man.Hooks {
		if h.hooks[hook] == nil {
			probs = append(probs, fmt.Sprintf("it implements hook %q, which this host does not have%s", hook, didYouMean(hook, h.hookNames())))
		}
	}
	if msg := compatible(h.version, man.ContractVersion()); msg != "" {
		probs = append(probs, msg)
	}
	if len(probs) > 0 {
		return fmt.Errorf("%w: %s", ErrContract, strings.Join(probs, "; "))
	}
	return nil
}

// compatible says why a plugin built against contract version plugin
// cannot run on a host of contract version host, or "" if it can: same
// major version, and the plugin's minor version no newer than the host's.
// Either side may be absent (nil), and then nothing is checked.
func compatible(host, plugin *semver.Version) string {
	switch {
	case host == nil || plugin == nil:
		return ""
	case plugin.Major() != host.Major():
		return fmt.Sprintf("it was built against contract %s (key \"contract\" of its manifest) and this host's contract is %s: a different major version, whose hooks and types may have changed (use a build of the plugin for %d.x)",
			plugin, host, host.Major())
	case plugin.Minor() > host.Minor():
		return fmt.Sprintf("it was built against contract %s (key \"contract\" of its manifest), newer than this host's %s: it may rely on hooks, functions or fields this host does not have (upgrade the host, or use a build of the plugin for %d.%d)",
			plugin, host, host.Major(), host.Minor())
	}
	return ""
}

// checkGrants checks that every grant names a capability the host knows:
// one of Airlock's own (with a scope where it takes one) or one guarding a
// host function. Malformed grants are left to capability.NewSet.
//
// Threat: a grant with a typo ("ledger.raed") is silently narrowed away,
// and the operator believes they granted what they did not.
func (h *Host) checkGrants(grants []string) error {
	if !h.declared {
		return nil
	}
	var probs []string
	for _, g := range grants {
		c, err := capability.Parse(g)
		if err != nil {
			continue
		}
		if msg := h.unknownGrant(c); msg != "" {
			probs = append(probs, msg)
		}
	}
	if len(probs) > 0 {
		return fmt.Errorf("%w: grants: %s", ErrInvalidConfig, strings.Join(probs, "; "))
	}
	return nil
}

func (h *Host) unknownGrant(c capability.Cap) string {
	if spec, ok := capability.LookupStandard(c.Name); ok {
		switch {
		case spec.Scoped && c.Scope == "":
			return fmt.Sprintf("%q needs a scope: %s (%s)", c, spec.Form, spec.Description)
		case !spec.Scoped && c.Scope != "":
			return fmt.Sprintf("%q: %s takes no scope (grant %q)", c, c.Name, c.Name)
		}
		return ""
	}
	names := h.capabilityNames()
	if slices.Contains(names, c.Name) {
		return ""
	}
	if near := closest(c.Name, names); near != "" {
		if c.Scope != "" {
			near += ":" + c.Scope
		}
		return fmt.Sprintf("%q is no capability this host knows (did you mean %q?)", c, near)
	}
	return fmt.Sprintf("%q is no capability this host knows (its contract lists them: airlock contract)", c)
}

// capabilityNames returns the names of every capability the host knows,
// sorted: Airlock's own and those guarding its host functions.
func (h *Host) capabilityNames() []string {
	var names []string
	for _, s := range capability.Standard() {
		names = append(names, s.Name)
	}
	for _, f := range h.funcs {
		names = append(names, f.capability.Name)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// didYouMean returns ` (did you mean "x"?)` for the name among names
// nearest to name, or, with none near, a list of the names when there are
// few.
func didYouMean(name string, names []string) string {
	if near := closest(name, names); near != "" {
		return fmt.Sprintf(" (did you mean %q?)", near)
	}
	switch {
	case len(names) == 0:
		return " (it declares none)"
	case len(names) <= 8:
		return " (it has " + strings.Join(names, ", ") + ")"
	}
	return ""
}

// closest returns the candidate nearest to name by edit distance, if it is
// near enough to be a likely typo: at most a third of name's length (and
// at least 1) edits away. Ties go to the first in candidates.
func closest(name string, candidates []string) string {
	best, bestD := "", max(1, len([]rune(name))/3)+1
	for _, c := range candidates {
		if d := editDistance(name, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the optimal string alignment distance between a and b,
// in runes: the insertions, deletions, substitutions and transpositions of
// two neighbours ("lgo" for "log") that turn one into the other.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	// d[i][j] is the distance between ra[:i] and rb[:j].
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

// The contract document (docs/CONTRACT.md describes it).
type (
	contractDoc struct {
		Version      string         `json:"version,omitempty"`
		Enforced     bool           `json:"enforced"`
		Protocol     int            `json:"protocol"`
		Hooks        []contractHook `json:"hooks"`
		Functions    []contractFunc `json:"functions"`
		Capabilities []contractCap  `json:"capabilities"`
	}
	contractHook struct {
		Name    string          `json:"name"`
		Phases  []string        `json:"phases"`
		Default bool            `json:"default"`
		Collect bool            `json:"collect,omitempty"` // every definer answers (CollectHook)
		Input   json.RawMessage `json:"input"`
		Output  json.RawMessage `json:"output"`
	}
	contractFunc struct {
		Name       string          `json:"name"`
		Capability string          `json:"capability"`
		Input      json.RawMessage `json:"input"`
		Output     json.RawMessage `json:"output"`
	}
	contractCap struct {
		Name        string   `json:"name"`
		Form        string   `json:"form"`
		Description string   `json:"description,omitempty"`
		Functions   []string `json:"functions,omitempty"`
	}
)

var anySchema = json.RawMessage("true")

func (s *typeSchema) document() json.RawMessage {
	if s == nil {
		return anySchema
	}
	return s.doc
}

// Contract returns the host's contract as one JSON document: its
// version, its hooks (name, phases, whether it has a default, input and
// output JSON Schemas), its host functions (name, capability, input and
// output schemas) and the capabilities it knows. The schemas are JSON
// Schema draft 2020-12, generated from the Go types. docs/CONTRACT.md
// describes the document; "airlock contract" prints it for a host
// program without running its plugins.
//
// The document lists hooks only when the host declares them
// (Options.Hooks); "enforced" says whether the host checks plugins against
// it (docs/CONTRACT.md).
func (h *Host) Contract() json.RawMessage {
	doc := contractDoc{
		Enforced:     h.declared,
		Protocol:     manifest.ProtocolVersion,
		Hooks:        []contractHook{},
		Functions:    []contractFunc{},
		Capabilities: []contractCap{},
	}
	if h.version != nil {
		doc.Version = h.version.String()
	}
	for _, name := range h.hookNames() {
		d := h.hooks[name]
		doc.Hooks = append(doc.Hooks, contractHook{
			Name:    name,
			Phases:  []string{manifest.PhaseBefore, manifest.PhaseDefine, manifest.PhaseAfter},
			Default: d.hasDefault,
			Collect: d.collect,
			Input:   d.in.document(),
			Output:  d.out.document(),
		})
	}
	guards := map[string][]string{} // capability name → functions
	fnames := make([]string, 0, len(h.funcs))
	for name := range h.funcs {
		fnames = append(fnames, name)
	}
	slices.Sort(fnames)
	for _, name := range fnames {
		f := h.funcs[name]
		doc.Functions = append(doc.Functions, contractFunc{Name: name, Capability: f.capability.String(), Input: f.in.document(), Output: f.out.document()})
		guards[f.capability.Name] = append(guards[f.capability.Name], name)
	}
	for _, s := range capability.Standard() {
		doc.Capabilities = append(doc.Capabilities, contractCap{Name: s.Name, Form: s.Form, Description: s.Description, Functions: guards[s.Name]})
		delete(guards, s.Name)
	}
	for _, name := range h.capabilityNames() {
		if fns, ok := guards[name]; ok {
			doc.Capabilities = append(doc.Capabilities, contractCap{Name: name, Form: name, Functions: fns})
		}
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		panic(fmt.Sprintf("airlock: encoding the contract: %v", err)) // every part is JSON already
	}
	return append(out, '\n')
}

// exportContract writes the contract to path and ends the process. The
// file is created, never overwritten, with the host user's permissions
// only.
func exportContract(h *Host, path string) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		_, err = f.Write(h.Contract())
		err = errors.Join(err, f.Close())
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "airlock: writing the contract to %s=%s: %v\n", contractEnv, path, err)
		os.Exit(3)
	}
	os.Exit(0)
}
