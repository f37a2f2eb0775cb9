package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// contractEnv is the variable that makes airlock.New write the host's
// contract to the file it names and end the process (the root package's
// contractEnv; docs/CONTRACT.md).
const contractEnv = "AIRLOCK_CONTRACT_OUT"

var contractCommand = command{
	summary: "Print a host application's contract (its hooks and host functions with their JSON Schemas, and its capabilities) as JSON, without loading plugins.",
	usage:   "PACKAGE [--timeout DURATION] [-- HOST-ARGS...]",
	setup: func(fs *flag.FlagSet) runFunc {
		timeout := fs.Duration("timeout", time.Minute, "how long the host program may take to reach airlock.New or airlock.Open, once built")
		return func(ctx context.Context, c *cli, args []string) error {
			if len(args) == 0 {
				return usagef("want the host program's Go package: a directory (./cmd/myhost) or an import path")
			}
			return c.contract(ctx, args[0], args[1:], *timeout)
		}
	},
}

// contract builds the host program pkg, runs it with args and contractEnv
// set, and prints the contract its first airlock.New writes. The program
// runs in pkg's directory when pkg is one, so that it finds its files as
// "go run" would.
func (c *cli) contract(ctx context.Context, pkg string, args []string, timeout time.Duration) error {
	tmp, err := os.MkdirTemp("", "airlock-contract-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "host")
	if runtime.GOOS == "windows" {
		bin += ".exe"
	}
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, pkg)
	dir := ""
	if st, err := os.Stat(pkg); err == nil && st.IsDir() {
		// Build from the package's own directory, so that its module is
		// the one used whatever the current directory.
		dir = pkg
		build.Args[len(build.Args)-1] = "."
		build.Dir = dir
	}
	var buildOut bytes.Buffer
	build.Stdout, build.Stderr = &buildOut, &buildOut
	if err := build.Run(); err != nil {
		return fmt.Errorf("building the host program %s: %v\n%s", pkg, err, strings.TrimSpace(buildOut.String()))
	}

	out := filepath.Join(tmp, "contract.json")
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	host := exec.CommandContext(rctx, bin, args...)
	host.Dir = dir
	host.Env = append(os.Environ(), contractEnv+"="+out)
	tail := &tailWriter{max: 2048}
	host.Stdout, host.Stderr = tail, tail
	host.WaitDelay = time.Second
	runErr := host.Run()

	data, err := os.ReadFile(out)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			return err
		}
		why := fmt.Sprintf("exited (%v)", runErr)
		switch {
		case rctx.Err() != nil && ctx.Err() == nil:
			why = fmt.Sprintf("was still running after %v", timeout)
		case runErr == nil:
			why = "exited with status 0"
		}
		return fmt.Errorf("the host program %s %s without calling airlock.New or airlock.Open, so it wrote no contract. "+
			"Give it the arguments it needs to get there after --, e.g. airlock contract %s -- --config host.toml; "+
			"and create the Host before slow work (see docs/CONTRACT.md)%s", pkg, why, pkg, tail.quote())
	}
	if !json.Valid(data) {
		return fmt.Errorf("the host program %s wrote a contract that is not valid JSON", pkg)
	}
	_, err = c.stdout.Write(data)
	return err
}

// tailWriter keeps the last max bytes written to it.
type tailWriter struct {
	max int
	buf []byte
}

func (t *tailWriter) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = t.buf[over:]
	}
	return len(p), nil
}

// quote returns the output kept, indented, for an error message.
func (t *tailWriter) quote() string {
	s := strings.TrimSpace(strings.ToValidUTF8(string(t.buf), "?"))
	if s == "" {
		return "; it printed nothing"
	}
	return "; the end of its output:\n    " + strings.ReplaceAll(s, "\n", "\n    ")
}
