package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime"
	"strings"
	"time"

	"github.com/airlock-go/airlock/internal/sandbox"
	"github.com/airlock-go/airlock/internal/tier"
)

var doctorCommand = command{
	summary: "Show which sandbox layers a process plugin gets on this machine (Landlock, seccomp, namespaces, privileges).",
	usage:   "[--json]",
	setup: func(fs *flag.FlagSet) runFunc {
		asJSON := fs.Bool("json", false, "print the report as JSON")
		return func(ctx context.Context, c *cli, args []string) error {
			if len(args) != 0 {
				return usagef("doctor takes no arguments")
			}
			d := diagnose()
			if *asJSON {
				enc := json.NewEncoder(c.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(d)
			}
			d.print(c.stdout)
			return nil
		}
	},
}

// diagnosis is what doctor reports; its JSON form is stable for scripts.
type diagnosis struct {
	Platform string         `json:"platform"`
	Facts    sandbox.Facts  `json:"facts"`
	Plugin   sandbox.Report `json:"plugin"` // what a plugin with no grants gets, from a real confined start
	// NamespaceFallback says why the namespace layer is not in force,
	// when the probe had to start without it.
	NamespaceFallback string `json:"namespace_fallback,omitempty"`
	ProbeError        string `json:"probe_error,omitempty"`
}

// diagnose starts a confined probe the way a plugin with no grants is
// started, and reports what the launcher enforced.
func diagnose() diagnosis {
	d := diagnosis{Platform: runtime.GOOS + "/" + runtime.GOARCH, Facts: sandbox.MachineFacts()}
	def := tier.DefaultLimits
	p := sandbox.Policy{ReadOnly: sandbox.DefaultReadOnly(), ReadWrite: sandbox.DefaultReadWrite(),
		Memory: def.MaxMemory, Files: def.MaxOpenFiles, FileSize: def.MaxFileBytes, Tasks: def.MaxTasks}
	rep, err := sandbox.Probe(p, 10*time.Second)
	if errors.Is(err, sandbox.ErrNamespaces) {
		d.NamespaceFallback = err.Error()
		p.NoNamespaces = true
		rep, err = sandbox.Probe(p, 10*time.Second)
	}
	d.Plugin = rep
	if err != nil {
		d.ProbeError = err.Error()
	}
	return d
}

func (d diagnosis) print(w io.Writer) {
	f := d.Facts
	who := "an ordinary user"
	if f.Root {
		who = "root (plugins are dropped to no capabilities; run_as names a user for them)"
	}
	fmt.Fprintf(w, "platform:   %s", d.Platform)
	if f.Kernel != "" {
		fmt.Fprintf(w, ", kernel %s", f.Kernel)
	}
	fmt.Fprintf(w, "\nhost runs as: %s\n", who)
	if f.OS == "linux" {
		fmt.Fprintf(w, "landlock:   %s\n", landlockSummary(f.LandlockABI))
		fmt.Fprintf(w, "seccomp:    %s\n", yesNo(f.Seccomp, "available", "NOT available"))
	}
	if !f.Launcher {
		fmt.Fprintln(w, "launcher:   none on this platform (Windows: job objects bound memory and processes, and kill the tree)")
	}
	if d.NamespaceFallback != "" {
		fmt.Fprintf(w, "namespaces: refused here (%s); the system call filter guards other processes alone\n", d.NamespaceFallback)
	}
	if d.ProbeError != "" {
		fmt.Fprintf(w, "probe:      FAILED: %s\n", d.ProbeError)
		return
	}
	fmt.Fprintln(w, "\nA process plugin with no grants gets:")
	for _, e := range d.Plugin.Enforced {
		fmt.Fprintf(w, "  + %s\n", e)
	}
	for _, m := range d.Plugin.Missing {
		fmt.Fprintf(w, "  - NOT enforced: %s\n", m)
	}
	fmt.Fprintln(w, "\nWasm plugins run in wazero's memory-safe sandbox on every platform; builtin plugins are trusted Go code.")
}

func landlockSummary(abi int) string {
	if abi <= 0 {
		return "NOT available (no file system rules for plugins)"
	}
	parts := []string{"file system"}
	if abi >= 4 {
		parts = append(parts, "TCP ports")
	}
	if abi >= 6 {
		parts = append(parts, "signal and abstract-socket scopes")
	}
	return fmt.Sprintf("ABI %d (%s)", abi, strings.Join(parts, ", "))
}

func yesNo(ok bool, yes, no string) string {
	if ok {
		return yes
	}
	return no
}
