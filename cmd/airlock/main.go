// Command airlock makes, inspects, builds, calls, packs and signs Airlock
// plugins, and runs the demo. Run "airlock help" for the list of commands;
// docs/CLI.md describes each.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
)

// command is one subcommand. setup defines the command's flags and returns
// the function that runs it with the positional arguments; it reports usage
// mistakes as a usageError.
type command struct {
	summary string
	usage   string // the arguments, e.g. "DIR [--json]"
	setup   func(fs *flag.FlagSet) runFunc
}

type runFunc func(ctx context.Context, c *cli, args []string) error

// cli is what every command needs: where to write, and the environment.
type cli struct {
	stdout, stderr io.Writer
	getenv         func(string) string
	// noNotify has serve --watch ignore the file system's change
	// notifications, as on a file system that loses them: tests of its
	// polling.
	noNotify bool
}

// usageError is a mistake in how a command was called; main prints the
// command's usage after it.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// commands lists every subcommand; each lives in its own file.
func commands() map[string]command {
	return map[string]command{
		"inspect": inspectCommand,
		"call":    callCommand,
		"build":   buildCommand,
		"demo":    demoCommand,
		"pack":    packCommand,
		"keygen":  keygenCommand,
		"sign":    signCommand,
		"verify":  verifyCommand,
		"doctor":  doctorCommand,
		"check":   checkCommand,
		"new":     newCommand,
		"run":     runCommand,
		"list":    listCommand,
		"push":    pushCommand, // oci: docs/DISTRIBUTION.md
		"pull":    pullCommand,

		"contract": contractCommand,
		"gen":      genCommand,
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	c := &cli{stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}
	os.Exit(c.main(ctx, os.Args[1:]))
}

// main runs one command line and returns the exit status.
func (c *cli) main(ctx context.Context, args []string) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		if len(args) == 0 {
			c.printHelp(c.stderr, cmds) // not asked for: a usage error
			return 2
		}
		if len(args) > 1 {
			if cmd, ok := cmds[args[1]]; ok {
				c.printUsage(c.stdout, args[1], cmd)
				return 0
			}
		}
		c.printHelp(c.stdout, cmds)
		return 0
	}
	name := args[0]
	cmd, ok := cmds[name]
	if !ok {
		fmt.Fprintf(c.stderr, "airlock: unknown command %q\n\n", name)
		c.printHelp(c.stderr, cmds)
		return 2
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	run := cmd.setup(fs)
	positional, err := parseInterspersed(fs, args[1:])
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		err = &usageError{msg: err.Error()}
	}
	if err == nil {
		err = run(ctx, c, positional)
	}
	var ue *usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		c.printUsage(c.stdout, name, cmd)
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(c.stderr, "airlock %s: %v\n", name, err)
		c.printUsage(c.stderr, name, cmd)
		return 2
	default:
		fmt.Fprintf(c.stderr, "airlock %s: %v\n", name, err)
		return 1
	}
}

// printHelp lists the commands on w: standard output when help was asked
// for, standard error with a usage error.
func (c *cli) printHelp(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "airlock: load, inspect and call plugins at several levels of trust.")
	fmt.Fprintln(w, "\nUsage: airlock COMMAND [ARGS]\n\nCommands:")
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-9s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'airlock COMMAND --help' for a command's options; docs/CLI.md has more.")
}

// printUsage prints one command's usage on w.
func (c *cli) printUsage(w io.Writer, name string, cmd command) {
	fmt.Fprintf(w, "Usage: airlock %s %s\n\n%s\n", name, cmd.usage, cmd.summary)
	fs := cmd.flags()
	if fs != nil {
		var b strings.Builder
		fs.SetOutput(&b)
		fs.PrintDefaults()
		if b.Len() > 0 {
			fmt.Fprintf(w, "\nOptions:\n%s", b.String())
		}
	}
}

// flags returns the command's flag set, for printing its usage.
func (cmd command) flags() *flag.FlagSet {
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	cmd.setup(fs)
	return fs
}

// parseInterspersed parses flags that may come before, between or after
// positional arguments ("airlock call DIR greet --input ..." as well as
// "airlock call --input ... DIR greet").
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		if rest[0] == "--" {
			return append(positional, rest[1:]...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}
