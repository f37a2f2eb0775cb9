package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/airlock-go/airlock"
	"github.com/airlock-go/airlock/internal/build"
	"github.com/airlock-go/airlock/internal/bundle"
	"github.com/airlock-go/airlock/internal/manifest"
)

var callCommand = command{
	summary: "Load one plugin with the given grants and settings, call a hook or function, print its JSON result.",
	usage:   "DIR|PKG HOOK [--input JSON|@FILE|-] [--grant CAP]... [--set KEY=VALUE]... [--timeout DURATION] [--trust PUBKEY]...",
	setup: func(fs *flag.FlagSet) runFunc {
		input := fs.String("input", "null", "the input: "+inputHelp)
		var grants, sets multiFlag
		fs.Var(&grants, "grant", "grant a capability (repeatable); without any --grant, the manifest's required capabilities are granted")
		fs.Var(&sets, "set", "set a plugin setting, KEY=VALUE (repeatable)")
		timeout := fs.Duration("timeout", 10*time.Second, "deadline for the call")
		verbose := fs.Bool("v", false, "show the host's and the plugin's debug logs")
		quiet := fs.Bool("q", false, "show only warnings and errors from the logs")
		var trust multiFlag
		fs.Var(&trust, "trust", "for a package: a trusted publisher key (repeatable)")
		unsigned := fs.Bool("allow-unsigned", false, "for a package: run it even if it is not signed (development only)")
		return func(ctx context.Context, c *cli, args []string) error {
			if len(args) != 2 {
				return usagef("want a plugin directory and a hook or function name")
			}
			o := callOptions{dir: args[0], name: args[1], input: *input, grants: grants, sets: sets, timeout: *timeout, explicitGrants: grantsGiven(fs), trust: trust, allowUnsigned: *unsigned}
			o.level = slog.LevelInfo
			if *verbose {
				o.level = slog.LevelDebug
			}
			if *quiet {
				o.level = slog.LevelWarn
			}
			return c.call(ctx, o)
		}
	},
}

type callOptions struct {
	dir, name, input string
	grants, sets     []string
	explicitGrants   bool
	trust            []string
	allowUnsigned    bool
	timeout          time.Duration
	level            slog.Level
}

func grantsGiven(fs *flag.FlagSet) bool {
	given := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "grant" {
			given = true
		}
	})
	return given
}

func (c *cli) call(ctx context.Context, o callOptions) error {
	input, err := readJSONArg("--input", o.input)
	if err != nil {
		return err
	}
	pc := airlock.PluginConfig{Path: o.dir}
	var man *manifest.Manifest
	if st, err := os.Stat(o.dir); err == nil && st.Mode().IsRegular() {
		data, err := os.ReadFile(o.dir)
		if err != nil {
			return err
		}
		b, err := bundle.Open(data, bundle.Limits{})
		if err != nil {
			return err
		}
		man = b.Manifest
		pc = airlock.PluginConfig{Package: o.dir, AllowUnsigned: o.allowUnsigned}
	} else {
		if man, err = manifest.Load(o.dir); err != nil {
			return err
		}
		if err := build.IfMissing(ctx, man, c.stderr); err != nil {
			return err
		}
	}
	grants := o.grants
	if !o.explicitGrants {
		grants = man.Capabilities.Required
		if len(grants) > 0 {
			fmt.Fprintf(c.stderr, "airlock: granting %s its required capabilities: %s (use --grant to choose)\n", man.Name, strings.Join(grants, ", "))
		}
	}
	settings, err := parseSettings(man, o.sets)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: o.level}))
	policy := &airlock.Config{Trust: airlock.Trust{Keys: o.trust}}
	// One call: kv data lives in memory, and never collides with a host's file.
	h, err := airlock.Open(ctx, policy, airlock.Options{Logger: log, KVPath: "-"})
	if err != nil {
		return err
	}
	defer h.Close(context.WithoutCancel(ctx))
	limits := airlock.Limits{CallTimeout: airlock.Duration(o.timeout)}
	pc.Grants, pc.Config, pc.Limits = grants, settings, limits
	if _, err := h.Load(ctx, pc); err != nil {
		return err
	}
	res, err := h.Call(ctx, man.Name, o.name, input)
	if err != nil {
		return err
	}
	var out bytes.Buffer
	if err := json.Compact(&out, res); err != nil {
		return fmt.Errorf("plugin %s returned invalid JSON: %w", man.Name, err)
	}
	out.WriteByte('\n')
	_, err = c.stdout.Write(out.Bytes())
	return err
}

// parseSettings turns KEY=VALUE flags into typed settings, using the
// manifest's declared type for each.
func parseSettings(man *manifest.Manifest, sets []string) (map[string]any, error) {
	out := map[string]any{}
	for _, kv := range sets {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, usagef("--set %q: want KEY=VALUE", kv)
		}
		s, known := man.Config[k]
		if !known {
			out[k] = v // the host reports the unknown setting with the list of known ones
			continue
		}
		val, err := settingValue(s.Type, v)
		if err != nil {
			return nil, fmt.Errorf("plugin %s: setting %q: %w", man.Name, k, err)
		}
		out[k] = val
	}
	return out, nil
}

func settingValue(typ, v string) (any, error) {
	switch typ {
	case manifest.TypeNumber:
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a number", v)
		}
		return f, nil
	case manifest.TypeInteger:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not an integer", v)
		}
		return n, nil
	case manifest.TypeBool:
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("%q is not true or false", v)
		}
		return b, nil
	case manifest.TypeList:
		if strings.HasPrefix(v, "[") {
			var list []any
			if err := json.Unmarshal([]byte(v), &list); err != nil {
				return nil, fmt.Errorf("%q is not a JSON list", v)
			}
			return list, nil
		}
		if v == "" {
			return []any{}, nil
		}
		var list []any
		for _, item := range strings.Split(v, ",") {
			list = append(list, item)
		}
		return list, nil
	}
	return v, nil
}

// multiFlag collects a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
