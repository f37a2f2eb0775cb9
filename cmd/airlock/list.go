package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/airlock-go/airlock"
	"github.com/airlock-go/airlock/internal/manifest"
)

var listCommand = command{
	summary: "List the plugins in directories and packages, and whether the host's policy would load each, or exactly why not.",
	usage:   "DIR... [--config HOST.TOML] [--trust PUBKEY]... [--grant CAP]... [--json]",
	setup: func(fs *flag.FlagSet) runFunc {
		config := fs.String("config", "", "judge with this host configuration: its trust policy, and each plugin's grants and settings when it names the plugin")
		var trust, grants multiFlag
		fs.Var(&trust, "trust", "a trusted publisher key (repeatable; added to the configuration's)")
		fs.Var(&grants, "grant", "grant a capability to plugins the configuration does not name (repeatable)")
		asJSON := fs.Bool("json", false, "print JSON")
		return func(ctx context.Context, c *cli, args []string) error {
			if len(args) == 0 {
				return usagef("want at least one directory")
			}
			return c.list(ctx, listOptions{dirs: args, config: *config, trust: trust, grants: grants, asJSON: *asJSON})
		}
	},
}

type listOptions struct {
	dirs          []string
	config        string
	trust, grants []string
	asJSON        bool
}

// errRefused is list's error when a plugin would be refused: exit status
// 1, the table already says why.
var errRefused = errors.New("some plugins would not be loaded")

func (c *cli) list(ctx context.Context, o listOptions) error {
	cfg := &airlock.Config{}
	if o.config != "" {
		var err error
		if cfg, err = airlock.ReadConfig(o.config); err != nil {
			return err
		}
	}
	cfg.Trust.Keys = append(cfg.Trust.Keys, o.trust...)
	named := byName(cfg.Plugins)
	cfg.Plugins = nil // judged, not loaded
	h, err := airlock.Open(ctx, cfg, airlock.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return err
	}
	defer h.Close(context.WithoutCancel(ctx))
	cands, err := h.Discover(ctx, func(name string) airlock.PluginConfig {
		if pc, ok := named[name]; ok {
			return pc
		}
		return airlock.PluginConfig{Grants: o.grants}
	}, o.dirs...)
	if err != nil {
		return err
	}
	if err := printCandidates(c.stdout, cands, o.asJSON); err != nil {
		return err
	}
	for _, cand := range cands {
		if cand.Err != nil {
			return errRefused
		}
	}
	return nil
}

// byName indexes the configuration's plugins by name: the name key, or
// the manifest's name for a directory.
func byName(plugins []airlock.PluginConfig) map[string]airlock.PluginConfig {
	out := map[string]airlock.PluginConfig{}
	for _, pc := range plugins {
		name := pc.Name
		if name == "" && pc.Path != "" {
			if man, err := manifest.Load(pc.Path); err == nil {
				name = man.Name
			}
		}
		if name != "" {
			out[name] = pc
		}
	}
	return out
}

// listed is one line of list's output; its JSON form is stable for scripts.
type listed struct {
	Location string `json:"location"`
	Name     string `json:"name,omitempty"`
	Version  string `json:"version,omitempty"`
	Tier     string `json:"tier,omitempty"`
	Loadable bool   `json:"loadable"`
	Reason   string `json:"reason,omitempty"`
}

func printCandidates(w io.Writer, cands []airlock.Candidate, asJSON bool) error {
	rows := make([]listed, 0, len(cands))
	for _, c := range cands {
		r := listed{Location: c.Config.Path + c.Config.Package, Name: c.Name, Version: c.Version, Tier: string(c.Tier), Loadable: c.Err == nil}
		if c.Err != nil {
			r.Reason = reason(c.Err)
		}
		rows = append(rows, r)
	}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PLUGIN\tVERSION\tTIER\tLOADS\tWHERE")
	for _, r := range rows {
		name := r.Name
		if name == "" {
			name = "?"
		}
		loads := "yes"
		if !r.Loadable {
			loads = "no"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", name, orDash(r.Version), orDash(r.Tier), loads, filepath.Base(r.Location))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range rows {
		if !r.Loadable {
			fmt.Fprintf(w, "\n%s: %s", filepath.Base(r.Location), r.Reason)
		}
	}
	if len(rows) > 0 && !allLoadable(rows) {
		fmt.Fprintln(w)
	}
	return nil
}

// reason is why a plugin would be refused, without the "plugin X: load:"
// that the table already shows.
func reason(err error) string {
	var pe *airlock.PluginError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

func allLoadable(rows []listed) bool {
	for _, r := range rows {
		if !r.Loadable {
			return false
		}
	}
	return true
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return strings.TrimSpace(s)
}
