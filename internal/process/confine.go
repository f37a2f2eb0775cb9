package process

import (
	"bytes"

	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/airlock-go/airlock/internal/sandbox"
	"github.com/airlock-go/airlock/internal/tier"
)

// policy derives the plugin's sandbox policy from its grants and limits:
// it may read its own directory, the system's libraries and its
// interpreter, read and write what fs.read and fs.write grants name, use
// the network only with a net or http grant, and start processes only with
// the spawn grant.
func policy(spec tier.Spec, interpreter string) sandbox.Policy {
	p := sandbox.Policy{
		ReadOnly:     append(sandbox.DefaultReadOnly(), spec.Dir),
		ReadWrite:    sandbox.DefaultReadWrite(),
		Network:      spec.Grants.AllowsString("net") || len(spec.Grants.Scopes("http")) > 0,
		Unix:         spec.Grants.AllowsString("unix"),
		Spawn:        spec.Grants.AllowsString("spawn"),
		NoNamespaces: spec.NoNamespaces,
		RunAs:        spec.RunAs,
		Memory:       spec.Limits.MaxMemory,
		Files:        spec.Limits.MaxOpenFiles,
		FileSize:     spec.Limits.MaxFileBytes,
		CPU:          spec.Limits.MaxCPU,
		Processes:    spec.Limits.MaxProcesses,
		Tasks:        spec.Limits.MaxTasks,
		Require:      spec.Sandbox == tier.SandboxRequired,
		Explain:      spec.Explain,
	}
	if interpreter != "" {
		p.ReadOnly = append(p.ReadOnly, sandbox.InterpreterDirs(interpreter)...)
	}
	if spec.Entry != "" {
		p.ReadOnly = append(p.ReadOnly, spec.Entry)
	}
	p.ReadOnly = append(p.ReadOnly, spec.Grants.Scopes("fs.read")...)
	p.ReadWrite = append(p.ReadWrite, spec.Grants.Scopes("fs.write")...)
	return p
}

// findInterpreter looks name up in the host's PATH, skipping version
// manager shims (pyenv, rbenv, asdf: shell scripts that re-dispatch with
// the user's environment): a plugin runs with an empty environment and a
// confined file system, so its interpreter must be a real executable.
func findInterpreter(name string) (string, error) {
	if strings.ContainsRune(name, filepath.Separator) {
		return exec.LookPath(name)
	}
	first, err := exec.LookPath(name)
	if err != nil {
		return "", err
	}
	if !isScript(first) {
		return first, nil
	}
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		cand := filepath.Join(dir, name)
		if cand == first {
			continue
		}
		if p, err := exec.LookPath(cand); err == nil && !isScript(p) {
			return p, nil
		}
	}
	return first, nil
}

// isScript reports whether the file starts with "#!".
func isScript(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, 2)
	_, err = io.ReadFull(f, head)
	return err == nil && bytes.Equal(head, []byte("#!"))
}

// confinement is how one plugin's command is started in the sandbox.
type confinement struct {
	// start starts the command and returns the one that runs (the
	// sandbox may start a copy without namespaces the kernel refused).
	start func(*exec.Cmd) (*exec.Cmd, error)
	// started waits for the sandbox's report once the command runs.
	started func() error
	// abort releases what the sandbox holds if start failed.
	abort func()
	// end releases what the sandbox holds once the plugin has ended
	// (explain mode's loop).
	end func()
}

// confine wraps cmd in the sandbox unless the operator turned it off.
func confine(cmd *exec.Cmd, spec tier.Spec, interpreter string) (confinement, error) {
	if spec.Sandbox == tier.SandboxOff {
		spec.Log.Warn("sandbox is OFF for this plugin: it runs with the host user's full file system and network access")
		if spec.Explain {
			spec.Log.Warn("sandbox explain mode has nothing to explain: the sandbox is off")
		}
		return confinement{
			start:   func(c *exec.Cmd) (*exec.Cmd, error) { return c, c.Start() },
			started: func() error { return nil },
			abort:   func() {},
			end:     func() {},
		}, nil
	}
	launch, err := sandbox.Wrap(cmd, policy(spec, interpreter))
	if err != nil {
		return confinement{}, fmt.Errorf("sandbox: %w", err)
	}
	launch.ExplainTo(spec.Log, spec.Name)
	started := func() error {
		rep, err := launch.Started(spec.Limits.StartTimeout)
		if err != nil {
			return err
		}
		// The layers in force, so that an operator knows what this
		// machine gives each plugin.
		if len(rep.Missing) > 0 {
			spec.Log.Warn("sandbox: some confinement is not available here", "not_enforced", strings.Join(rep.Missing, "; "), "enforced", strings.Join(rep.Enforced, ", "))
		} else {
			spec.Log.Info("sandbox applied", "enforced", strings.Join(rep.Enforced, ", "))
		}
		return nil
	}
	return confinement{start: launch.Start, started: started, abort: launch.Abort, end: launch.Close}, nil
}
