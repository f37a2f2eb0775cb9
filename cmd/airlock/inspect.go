package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"runtime"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/airlock-go/airlock/internal/manifest"
)

var inspectCommand = command{
	summary: "Show what a plugin is and what it asks for (hooks, capabilities, settings), before anyone grants it.",
	usage:   "DIR [--json]",
	setup: func(fs *flag.FlagSet) runFunc {
		asJSON := fs.Bool("json", false, "print the report as JSON")
		return func(ctx context.Context, c *cli, args []string) error {
			if len(args) != 1 {
				return usagef("want one plugin directory")
			}
			man, err := manifest.Load(args[0])
			if err != nil {
				return err
			}
			r := reportOf(man)
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
	Dir         string          `json:"dir"`
	Entry       string          `json:"entry,omitempty"`
	Interpreter []string        `json:"interpreter,omitempty"`
	Hooks       []reportHook    `json:"hooks"`
	Functions   []string        `json:"functions"`
	Required    []string        `json:"required_capabilities"`
	Optional    []string        `json:"optional_capabilities"`
	Settings    []reportSetting `json:"settings"`
	Build       []string        `json:"build,omitempty"`
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
		Protocol: m.Protocol, Dir: m.Dir, Entry: run.Entry, Interpreter: run.Interpreter,
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
	if r.Description != "" {
		fmt.Fprintf(w, "  %s\n", r.Description)
	}
	fmt.Fprintf(w, "  directory: %s\n", r.Dir)
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
