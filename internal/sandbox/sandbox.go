// Package sandbox confines process plugins with what the operating system
// offers, before any of the plugin's code runs.
//
// On Linux and macOS, the plugin is started through a launcher: the host's
// own executable, re-executed in launcher mode (see launcher_unix.go). The
// launcher reads the policy from a pipe, applies what the system offers to
// itself (confine_linux.go: resource limits, no_new_privs, a Landlock file
// system policy and a seccomp filter; confine_darwin.go: resource limits),
// closes every descriptor beyond stdio, and then executes the plugin, which
// inherits all of it. Go's os/exec runs no code between fork and exec,
// which is why a launcher is needed; docs/RATIONALE.md says why this one
// was chosen.
//
// Elsewhere, Wrap leaves the command as it is and Report says that nothing
// beyond the process tier's own measures is enforced.
package sandbox

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Policy says what one plugin process may do.
type Policy struct {
	// ReadOnly lists paths the plugin may read (and execute) beneath.
	ReadOnly []string `json:"read_only"`
	// ReadWrite lists paths the plugin may read and write beneath.
	ReadWrite []string `json:"read_write"`
	// Network allows sockets. Without it, the plugin can create no socket
	// at all (socketpair, which has no address, stays allowed).
	Network bool `json:"network"`
	// Unix allows unix-domain sockets reached by path or abstract name
	// (the "unix" capability). Network alone does not: Landlock's network
	// rules do not cover them, so a socket by path would otherwise reach
	// any local service the host user can.
	Unix bool `json:"unix"`
	// Spawn allows the plugin to start processes. Without it, fork, vfork
	// and clone without CLONE_THREAD fail.
	Spawn bool `json:"spawn"`
	// NoNamespaces skips the namespace layer (Linux: user, PID, mount,
	// IPC, UTS and, without Network, network namespaces), leaving the
	// system call filter's argument checks as the only guard of other
	// processes. The launcher falls back to that by itself where the
	// kernel refuses namespaces; this turns the attempt off.
	NoNamespaces bool `json:"no_namespaces"`
	// RunAs, for a host running as root, names the user and group the
	// plugin runs as (its files must be readable by them). Empty keeps
	// root's identity, but with no capabilities.
	RunAs *Credential `json:"run_as,omitempty"`
	// Memory caps the plugin's data segment (RLIMIT_DATA: heap and private
	// writable mappings), in bytes; 0 leaves it unlimited. On Linux, a cap
	// also refuses the memory RLIMIT_DATA does not count (shared anonymous
	// mappings, memfds, System V shared memory: seccomp_linux.go).
	Memory int64 `json:"memory"`
	// Files caps open descriptors (RLIMIT_NOFILE); 0 means the default, 256.
	Files int `json:"files"`
	// FileSize caps the size of a file the plugin writes (RLIMIT_FSIZE);
	// 0 means the default, 64 MiB.
	FileSize int64 `json:"file_size"`
	// CPU caps the plugin's total CPU time (RLIMIT_CPU); 0 leaves it
	// unlimited (each call has its own deadline regardless).
	CPU time.Duration `json:"cpu"`
	// Processes caps the processes and threads of the plugin's user
	// (RLIMIT_NPROC); 0 leaves it unset. The kernel counts every process of
	// the user and exempts root, so it is off unless set explicitly.
	Processes int `json:"processes"`
	// Tasks caps the processes and threads of this plugin alone, spawn
	// grant or not (Linux: a pids cgroup for a root host, RLIMIT_NPROC in
	// the plugin's own user namespace otherwise; tasks_linux.go); 0 leaves
	// them unbounded. The launcher, a few threads of its own, is counted
	// too. Processes, if set and lower, is the bound in a user namespace,
	// where the two count the same tasks.
	Tasks int `json:"tasks"`
	// Require makes a missing mechanism an error instead of a warning.
	Require bool `json:"require"`
	// Explain (Linux; explain mode, issue 14) has the host log every
	// system call the filter refuses and every path Landlock will refuse,
	// with the rule and the grant that would allow it (explain_linux.go).
	// It costs a round trip to the host for each such call and each path
	// the plugin opens; without it nothing changes.
	Explain bool `json:"explain,omitempty"`
}

// ErrNamespaces says that the launcher started in new namespaces but
// could not set them up (a container may refuse a new /proc, for
// example); starting again with Policy.NoNamespaces may succeed.
var ErrNamespaces = errors.New("sandbox: namespaces could not be set up")

// Credential is a numeric user and group.
type Credential struct {
	UID uint32 `json:"uid"`
	GID uint32 `json:"gid"`
}

// Defaults for limits left at zero. The host fills them in before the
// sandbox sees them, from the table of limits in internal/tier
// (max_open_files, max_file_bytes), whose tests check that the two agree;
// these hold for a Policy built without it.
const (
	DefaultFiles    = 256
	DefaultFileSize = 64 << 20
)

// Report says what was and was not enforced for one plugin.
type Report struct {
	Enforced []string `json:"enforced"`
	Missing  []string `json:"missing"`
}

func (r Report) String() string {
	var b strings.Builder
	if len(r.Enforced) > 0 {
		fmt.Fprintf(&b, "enforced: %s", strings.Join(r.Enforced, ", "))
	}
	if len(r.Missing) > 0 {
		if b.Len() > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "NOT enforced: %s", strings.Join(r.Missing, ", "))
	}
	return b.String()
}

// Facts are what this machine's kernel offers the sandbox, as far as can
// be seen without starting a process (Probe shows the rest).
type Facts struct {
	OS          string `json:"os"`
	Kernel      string `json:"kernel,omitempty"`
	Root        bool   `json:"root"`
	LandlockABI int    `json:"landlock_abi"` // 0: none
	Seccomp     bool   `json:"seccomp"`
	Launcher    bool   `json:"launcher"` // process plugins start through the launcher
}
