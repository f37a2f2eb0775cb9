package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strings"
	"text/tabwriter"

	"aead.dev/minisign"

	"github.com/airlock-go/airlock/internal/bundle"
	"github.com/airlock-go/airlock/internal/manifest"
	"github.com/airlock-go/airlock/internal/signing"
)

var inspectCommand = command{
	summary: "Show what a plugin is and what it asks for (hooks, capabilities, settings), before anyone grants it.",
	usage:   "DIR|PKG [--json] [--trust PUBKEY]...",
	setup: func(fs *flag.FlagSet) runFunc {
		asJSON := fs.Bool("json", false, "print the report as JSON")
		var trust multiFlag
		fs.Var(&trust, "trust", "for a package: a trusted public key to verify its signature with (repeatable)")
		return func(ctx context.Context, c *cli, args []string) error {
			if len(args) != 1 {
				return usagef("want one plugin directory or package")
			}
			var r report
			if st, err := os.Stat(args[0]); err == nil && st.Mode().IsRegular() {
				if r, err = packageReport(args[0], trust); err != nil {
					return err
				}
			} else {
				man, err := manifest.Load(args[0])
				if err != nil {
					return err
				}
				r = reportOf(man)
			}
			if *asJSON {
				enc := json.NewEncoder(c.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(r)
			}
			r.print(c.stdout)
			return nil
		}
	},
}

// report is what inspect shows; its JSON form is stable for scripts.
type report struct {
	Name        string          `json:"name"`
	Version     string          `json:"version"`
	Description string          `json:"description,omitempty"`
	Tier        string          `json:"tier"`
	Protocol    int             `json:"protocol"`
	Contract    string          `json:"contract,omitempty"` // the host contract's version it was built against
	Dir         string          `json:"dir"`
	Entry       string          `json:"entry,omitempty"`
	Interpreter []string        `json:"interpreter,omitempty"`
	Hooks       []reportHook    `json:"hooks"`
	Functions   []string        `json:"functions"`
	Required    []string        `json:"required_capabilities"`
	Optional    []string        `json:"optional_capabilities"`
	Settings    []reportSetting `json:"settings"`
	Build       []string        `json:"build,omitempty"`
	Package     *reportPackage  `json:"package,omitempty"`
}

// reportPackage describes a package file and its signature.
type reportPackage struct {
	File      string `json:"file"`
	SHA256    string `json:"sha256"`
	Files     int    `json:"files"`
	Signed    bool   `json:"signed"`
	KeyID     string `json:"key_id,omitempty"`
	Verified  bool   `json:"verified"`
	Signature string `json:"signature"` // what the check said
}

type reportHook struct {
	Name              string `json:"name"`
	Phase             string `json:"phase"`
	RequestedPriority *int   `json:"requested_priority,omitempty"`
}

type reportSetting struct {
	Name        string `json:"name"`
	Type        string `json:"type"`
	Required    bool   `json:"required"`
	Default     any    `json:"default,omitempty"`
	Description string `json:"description,omitempty"`
}

func reportOf(m *manifest.Manifest) report {
	run := m.RunFor(runtime.GOOS, runtime.GOARCH)
	r := report{
		Name: m.Name, Version: m.Version, Description: m.Description, Tier: m.Tier,
		Protocol: m.Protocol, Contract: m.Contract, Dir: m.Dir, Entry: run.Entry, Interpreter: run.Interpreter,
		Hooks: []reportHook{}, Functions: orEmpty(m.Functions),
		Required: orEmpty(m.Capabilities.Required), Optional: orEmpty(m.Capabilities.Optional),
		Settings: []reportSetting{},
	}
	for _, h := range m.Hooks {
		r.Hooks = append(r.Hooks, reportHook{Name: h, Phase: m.Phase(h), RequestedPriority: m.Hook[h].Priority})
	}
	names := make([]string, 0, len(m.Config))
	for n := range m.Config {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		s := m.Config[n]
		r.Settings = append(r.Settings, reportSetting{Name: n, Type: s.Type, Required: s.Required, Default: s.Default, Description: s.Description})
	}
	if m.Build != nil {
		r.Build = m.Build.Command
	}
	return r
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (r report) print(w io.Writer) {
	fmt.Fprintf(w, "%s %s (%s tier, protocol %d)\n", r.Name, r.Version, r.Tier, r.Protocol)
	if r.Contract != "" {
		fmt.Fprintf(w, "  built against contract %s\n", r.Contract)
	}
	if r.Description != "" {
		fmt.Fprintf(w, "  %s\n", r.Description)
	}
	if p := r.Package; p != nil {
		fmt.Fprintf(w, "  package: %s (%d files, sha256:%s)\n", p.File, p.Files, p.SHA256)
		fmt.Fprintf(w, "  signature: %s\n", p.Signature)
	} else {
		fmt.Fprintf(w, "  directory: %s\n", r.Dir)
	}
	if r.Entry != "" {
		run := r.Entry
		if len(r.Interpreter) > 0 {
			run = strings.Join(r.Interpreter, " ") + " " + r.Entry
		}
		fmt.Fprintf(w, "  runs: %s\n", run)
	}
	if len(r.Build) > 0 {
		fmt.Fprintf(w, "  builds with: %s\n", strings.Join(r.Build, " "))
	}
	fmt.Fprintln(w, "\nHooks:")
	if len(r.Hooks) == 0 {
		fmt.Fprintln(w, "  (none)")
	}
	for _, h := range r.Hooks {
		line := fmt.Sprintf("  %s (%s)", h.Name, h.Phase)
		if h.RequestedPriority != nil {
			line += fmt.Sprintf(", asks for priority %d (the operator decides)", *h.RequestedPriority)
		}
		fmt.Fprintln(w, line)
	}
	if len(r.Functions) > 0 {
		fmt.Fprintf(w, "\nFunctions: %s\n", strings.Join(r.Functions, ", "))
	}
	fmt.Fprintln(w, "\nCapabilities it requires (it will not start without them):")
	printList(w, r.Required)
	fmt.Fprintln(w, "\nCapabilities it can use if granted:")
	printList(w, r.Optional)
	fmt.Fprintln(w, "\nSettings:")
	if len(r.Settings) == 0 {
		fmt.Fprintln(w, "  (none)")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, s := range r.Settings {
		req := ""
		switch {
		case s.Required:
			req = "required"
		case s.Default != nil:
			req = fmt.Sprintf("default %v", s.Default)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", s.Name, s.Type, req, s.Description)
	}
	tw.Flush()
}

func printList(w io.Writer, items []string) {
	if len(items) == 0 {
		fmt.Fprintln(w, "  (none)")
	}
	for _, it := range items {
		fmt.Fprintf(w, "  %s\n", it)
	}
}

// packageReport describes a package without running anything, and checks
// its signature when trusted keys are given.
func packageReport(path string, trust []string) (report, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return report{}, err
	}
	b, err := bundle.Open(data, bundle.Limits{})
	if err != nil {
		return report{}, err
	}
	r := reportOf(b.Manifest)
	r.Dir = ""
	p := &reportPackage{File: path, SHA256: b.Digest, Files: len(b.Files)}
	r.Package = p
	sig, err := os.ReadFile(path + ".minisig")
	switch {
	case errors.Is(err, os.ErrNotExist):
		p.Signature = "none: the package is not signed"
		return r, nil
	case err != nil:
		return r, err
	}
	p.Signed = true
	var s minisign.Signature
	if err := s.UnmarshalText(sig); err != nil {
		p.Signature = "unreadable: " + err.Error()
		return r, nil
	}
	p.KeyID = signing.KeyID(s.KeyID)
	if len(trust) == 0 {
		p.Signature = fmt.Sprintf("by key %s, not checked (give --trust PUBKEY to verify)", p.KeyID)
		return r, nil
	}
	if _, _, err := verifyPackage(path, "", trust); err != nil {
		p.Signature = fmt.Sprintf("by key %s: DOES NOT VERIFY: %v", p.KeyID, err)
		return r, nil
	}
	p.Verified = true
	p.Signature = fmt.Sprintf("by key %s: verified", p.KeyID)
	return r, nil
}
