package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/airlock-go/airlock"
)

const (
	runUsage   = "HOST.toml list [--json] | serve [--watch] [--metrics ADDR] | hook NAME [--input JSON|@FILE|-] [--default JSON|@FILE] | call PLUGIN FN [--input JSON|@FILE|-] [--stub FN[:CAP]=JSON|@FILE]... [--sandbox off] [--explain] [--timeout D] [-v|-q]"
	runSummary = "Load a host configuration (host.toml) as a host would; list its plugins, run a hook through them, or call one plugin."
	runMore    = `Forms:
  airlock run HOST.toml list                     the plugins loaded, their state, hooks and functions
  airlock run HOST.toml serve [--watch]          keep the host running until interrupted; with --watch,
                                                 reload it (Host.Reload) when host.toml or a plugin changes;
                                                 with --metrics :9464, serve its metrics for Prometheus
                                                 at http://ADDR/metrics (docs/OBSERVABILITY.md)
  airlock run HOST.toml hook NAME [--input ...]  run hook NAME: before, define, after, in the operator's order
  airlock run HOST.toml call PLUGIN FN [...]     call hook or function FN of one plugin directly

The result is printed as compact JSON on standard output; logs go to
standard error. Builtin plugins ([[plugin]] builtin = ...) are Go code
compiled into a host application: they are skipped, with a warning.
`
)

var runCommand = command{
	summary: runSummary,
	usage:   runUsage,
	setup: func(fs *flag.FlagSet) runFunc {
		input := fs.String("input", "null", "the input of the hook or call: "+inputHelp)
		def := fs.String("default", "", "for a hook: its output when no plugin defines it, as the host application's default would give (JSON or @FILE); without it, such a hook fails")
		var stubs multiFlag
		fs.Var(&stubs, "stub", "a stand-in for a host application's function, FN=VALUE or FN:CAP=VALUE: it answers VALUE ("+inputHelp+") to plugins granted CAP (by default FN) (repeatable)")
		kv := fs.String("kv", "-", `the kv store's file, kept across runs ("-": in memory, lost at exit)`)
		explain := fs.Bool("explain", false, "log why the sandbox refuses each call or path, and which grant would allow it (Linux; slower)")
		sandbox := fs.String("sandbox", "", `"off" turns the sandbox off for every plugin (development only: plugins run with your user's full access)`)
		timeout := fs.Duration("timeout", 0, "a deadline for the whole hook or call (default: none beyond each call's call_timeout)")
		asJSON := fs.Bool("json", false, "for list: print the plugins as JSON")
		watch := fs.Bool("watch", false, "for serve: reload when host.toml or a plugin's files change, without dropping calls")
		metrics := fs.String("metrics", "", "for serve: serve the host's metrics for Prometheus at http://ADDR/metrics (e.g. :9464, or localhost:9464 to keep them on this machine)")
		verbose := fs.Bool("v", false, "show the host's and the plugins' debug logs")
		quiet := fs.Bool("q", false, "show only warnings and errors from the logs")
		help := helpFlags(fs)
		return func(ctx context.Context, c *cli, args []string) error {
			if *help {
				printHelp(c.stdout, "run", runUsage, runSummary, runMore, fs)
				return nil
			}
			o := runOptions{asJSON: *asJSON, timeout: *timeout, level: slog.LevelInfo, explain: *explain, watch: *watch, kvPath: *kv, metrics: *metrics}
			if *verbose {
				o.level = slog.LevelDebug
			}
			if *quiet {
				o.level = slog.LevelWarn
			}
			if len(args) < 2 {
				return usagef("want a host configuration and list, hook NAME or call PLUGIN FN")
			}
			o.config, o.verb = args[0], args[1]
			switch {
			case o.verb == "list" && len(args) == 2:
			case o.verb == "serve" && len(args) == 2:
			case o.verb == "hook" && len(args) == 3:
				o.hook = args[2]
			case o.verb == "call" && len(args) == 4:
				o.plugin, o.fn = args[2], args[3]
			case o.verb == "list", o.verb == "serve", o.verb == "hook", o.verb == "call":
				return usagef("wrong arguments for %s: want list, serve, hook NAME or call PLUGIN FN", o.verb)
			default:
				return usagef("unknown action %q: want list, serve, hook NAME or call PLUGIN FN", o.verb)
			}
			if *watch && o.verb != "serve" {
				return usagef("--watch is for serve")
			}
			if *metrics != "" && o.verb != "serve" {
				return usagef("--metrics is for serve")
			}
			switch *sandbox {
			case "":
			case string(airlock.SandboxOff):
				o.sandboxOff = true
			default:
				return usagef("--sandbox %q: the only value is off (the host configuration says how each plugin is confined)", *sandbox)
			}
			if o.verb != "hook" && *def != "" {
				return usagef("--default is for hooks")
			}
			if (o.verb == "list" || o.verb == "serve") && flagGiven(fs, "input") {
				return usagef("--input is for hook and call")
			}
			var err error
			if o.verb == "hook" || o.verb == "call" {
				if o.input, err = readJSONArg("--input", *input); err != nil {
					return err
				}
			}
			if *def != "" {
				if o.def, err = readJSONArg("--default", *def); err != nil {
					return err
				}
			}
			for _, s := range stubs {
				st, err := parseStub(s)
				if err != nil {
					return err
				}
				o.stubs = append(o.stubs, st)
			}
			return c.runHost(ctx, o)
		}
	},
}

type runOptions struct {
	config, verb     string
	hook, plugin, fn string
	input, def       json.RawMessage
	stubs            []stub
	sandboxOff       bool
	explain          bool
	watch            bool
	metrics          string // serve --metrics ADDR (metrics.go)
	kvPath           string
	asJSON           bool
	timeout          time.Duration
	level            slog.Level
}

// runHost loads the configuration with the standard host functions and
// the stubs, and does what o asks.
func (c *cli) runHost(ctx context.Context, o runOptions) error {
	// What serve --watch compares with: taken before the configuration is
	// read, so that a change made while the host starts is not missed.
	var seen uint64
	if o.watch {
		seen = snapshot(o)
	}
	cfg, err := c.readRunConfig(o)
	if err != nil {
		return err
	}
	if o.sandboxOff {
		fmt.Fprintln(c.stderr, "airlock run: WARNING: --sandbox off: every plugin runs UNCONFINED, with your user's full file system and network access. Development only: never with plugins you do not trust.")
	}
	var funcs []airlock.Function
	for _, s := range o.stubs {
		f, err := s.function()
		if err != nil {
			return usagef("--stub %s: %v", s.name, err)
		}
		funcs = append(funcs, f)
	}
	log := slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: o.level}))
	opts := airlock.Options{Logger: log, Functions: funcs, KVPath: o.kvPath}
	if o.metrics != "" { // metrics.go
		m, err := startMetrics(o.metrics)
		if err != nil {
			return err
		}
		defer m.close(context.WithoutCancel(ctx))
		opts.MeterProvider = m.provider
		fmt.Fprintf(c.stdout, "metrics at http://%s/metrics\n", m.addr)
	}
	h, err := airlock.Open(ctx, cfg, opts)
	if err != nil {
		return err
	}
	defer h.Close(context.WithoutCancel(ctx))
	if o.verb == "serve" {
		return c.serve(ctx, h, o, seen)
	}
	if o.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.timeout)
		defer cancel()
	}
	var res json.RawMessage
	switch o.verb {
	case "list":
		return printPlugins(c.stdout, h.Plugins(), o.asJSON)
	case "hook":
		var def func(context.Context, json.RawMessage) (json.RawMessage, error)
		if o.def != nil {
			out := o.def
			def = func(context.Context, json.RawMessage) (json.RawMessage, error) { return out, nil }
		}
		res, err = airlock.NewHook(o.hook, def).Run(ctx, h, o.input)
	case "call":
		res, err = h.Call(ctx, o.plugin, o.fn, o.input)
	}
	if err != nil {
		return err
	}
	var out bytes.Buffer
	if err := json.Compact(&out, res); err != nil {
		return fmt.Errorf("the result is not valid JSON: %w", err)
	}
	out.WriteByte('\n')
	_, err = c.stdout.Write(out.Bytes())
	return err
}

// readRunConfig reads the host configuration, without its builtins (Go
// code of a host application), with the command line's overrides.
func (c *cli) readRunConfig(o runOptions) (*airlock.Config, error) {
	cfg, err := airlock.ReadConfig(o.config)
	if err != nil {
		return nil, err
	}
	var kept []airlock.PluginConfig
	for _, pc := range cfg.Plugins {
		if pc.Builtin != "" {
			if !pc.Disabled {
				fmt.Fprintf(c.stderr, "airlock run: skipping builtin plugin %s: builtins are Go code compiled into a host application\n", pc.Builtin)
			}
			continue
		}
		if o.sandboxOff {
			pc.Sandbox = airlock.SandboxOff
		}
		if o.explain {
			pc.Explain = true
		}
		kept = append(kept, pc)
	}
	cfg.Plugins = kept
	return cfg, nil
}

// listedPlugin is one plugin in "run list --json"; its field names are
// stable for scripts.
type listedPlugin struct {
	Name      string   `json:"name"`
	Version   string   `json:"version"`
	Tier      string   `json:"tier"`
	State     string   `json:"state"`
	Dir       string   `json:"dir,omitempty"`
	Priority  int      `json:"priority"`
	Hooks     []string `json:"hooks"`
	Functions []string `json:"functions"`
	Grants    []string `json:"grants"`
}

func printPlugins(w io.Writer, plugins []airlock.PluginInfo, asJSON bool) error {
	list := make([]listedPlugin, 0, len(plugins))
	for _, p := range plugins {
		list = append(list, listedPlugin{
			Name: p.Name, Version: p.Version, Tier: string(p.Tier), State: string(p.State), Dir: p.Dir, Priority: p.Priority,
			Hooks: orEmpty(p.Hooks), Functions: orEmpty(p.Functions), Grants: orEmpty(p.Grants),
		})
	}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(list)
	}
	if len(list) == 0 {
		fmt.Fprintln(w, "no plugins loaded")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PLUGIN\tVERSION\tTIER\tSTATE\tPRIORITY\tHOOKS\tFUNCTIONS\tGRANTS")
	for _, p := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", p.Name, p.Version, p.Tier, p.State, p.Priority, dash(p.Hooks), dash(p.Functions), dash(p.Grants))
	}
	return tw.Flush()
}

func dash(items []string) string {
	if len(items) == 0 {
		return "-"
	}
	return strings.Join(items, ",")
}

// flagGiven reports whether flag name was set on the command line.
func flagGiven(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			given = true
		}
	})
	return given
}
