package sandbox

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// The namespace layer. The launcher starts in new namespaces, so that the
// plugin cannot even name what it must not touch:
//
//   - PID: other processes are not visible or addressable (threat: a plugin
//     renicing, rescheduling, re-limiting or signalling the host and the
//     user's other processes: prlimit(RLIMIT_CPU=0) on the host made the
//     kernel kill it). The plugin is the namespace's init, so when it ends
//     the kernel kills every process left in it (threat: descendants that
//     call setsid and outlive the plugin and the host).
//   - mount: the whole file system is read-only except the plugin's write
//     grants (threat: chmod, chown, xattrs and timestamps, which Landlock
//     does not cover: a plugin made the user's ssh key world-readable).
//   - network, without a network grant: no interface but a loopback of its
//     own, and abstract unix sockets of its own.
//   - IPC and UTS: System V IPC objects and the host name are its own.
//   - user, for a host not running as root: the unprivileged way to make
//     the others. The plugin keeps the host user's uid and gid (mapped to
//     themselves) and holds no capability once it runs. A root host gets no
//     user namespace (its mapped root would keep power over root's files);
//     it drops every capability instead (caps_linux.go).

const (
	nsBase = syscall.CLONE_NEWPID | syscall.CLONE_NEWNS | syscall.CLONE_NEWIPC | syscall.CLONE_NEWUTS
)

// isolate sets cmd to start the launcher in new namespaces and returns the
// clone flags it set.
func isolate(cmd *exec.Cmd, p Policy) uintptr {
	flags := uintptr(nsBase)
	if !p.Network {
		flags |= syscall.CLONE_NEWNET
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	a := cmd.SysProcAttr
	if os.Geteuid() != 0 {
		flags |= syscall.CLONE_NEWUSER
		uid, gid := os.Geteuid(), os.Getegid()
		a.UidMappings = []syscall.SysProcIDMap{{ContainerID: uid, HostID: uid, Size: 1}}
		a.GidMappings = []syscall.SysProcIDMap{{ContainerID: gid, HostID: gid, Size: 1}}
		a.GidMappingsEnableSetgroups = false
		// The launcher is executed as the user it was, which would clear
		// the capabilities the new user namespace gives it: it keeps the
		// three it needs to set up its mounts and its namespace's inotify
		// limits (inotify_linux.go) and then to drop them all
		// (dropPrivileges) before the plugin runs.
		a.AmbientCaps = []uintptr{unix.CAP_SYS_ADMIN, unix.CAP_SETPCAP, unix.CAP_SYS_RESOURCE}
	}
	a.Cloneflags |= flags
	return flags
}

// withoutNamespaces copies cmd, which failed to start, without the
// namespaces isolate added.
func withoutNamespaces(cmd *exec.Cmd) *exec.Cmd {
	c := &exec.Cmd{
		Path: cmd.Path, Args: cmd.Args, Env: cmd.Env, Dir: cmd.Dir,
		Stdin: cmd.Stdin, Stdout: cmd.Stdout, Stderr: cmd.Stderr,
		ExtraFiles: cmd.ExtraFiles,
	}
	if cmd.SysProcAttr != nil {
		a := *cmd.SysProcAttr
		a.Cloneflags &^= nsBase | syscall.CLONE_NEWNET | syscall.CLONE_NEWUSER
		a.UidMappings, a.GidMappings, a.AmbientCaps = nil, nil, nil
		c.SysProcAttr = &a
	}
	return c
}

// namespaceReport describes, in the launcher, the namespaces it runs in.
func namespaceReport(req request, rep *Report) {
	if req.Namespaces == 0 {
		why := "turned off by the operator, or after the kernel refused to set them up"
		if req.NamespaceError != "" {
			why = "the kernel refused them: " + req.NamespaceError
		}
		rep.Missing = append(rep.Missing, "namespaces ("+why+"; other processes are guarded by the system call filter's argument checks alone, and descendants by the process group)")
		return
	}
	names := []struct {
		flag uintptr
		name string
	}{
		{syscall.CLONE_NEWUSER, "user"}, {syscall.CLONE_NEWPID, "pid"}, {syscall.CLONE_NEWNS, "mount"},
		{syscall.CLONE_NEWNET, "net"}, {syscall.CLONE_NEWIPC, "ipc"}, {syscall.CLONE_NEWUTS, "uts"},
	}
	var in []string
	for _, n := range names {
		if req.Namespaces&n.flag != 0 {
			in = append(in, n.name)
		}
	}
	rep.Enforced = append(rep.Enforced, "namespaces("+strings.Join(in, ",")+")")
}

// readOnlyExceptWrites makes, in the launcher's own mount namespace, every
// mount read-only and without devices, except the policy's write grants,
// which are bound back writable but without devices or set-user-ID, and
// the device nodes the policy names (/dev/null, /dev/urandom, ...), bound
// back as they were. Threats: metadata changes outside the write grants;
// device nodes made inside them; and, where Landlock is missing, device
// nodes the user may open: the terminal the host was started from
// (/dev/pts/N, where a plugin would read the user's keystrokes), a root
// plugin's raw disks. It keeps nothing from propagating back to the
// host's mounts: mountProc, which runs first, made every mount private.
func readOnlyExceptWrites(p Policy) error {
	// Detached copies of the write grants and of the granted devices,
	// taken before the tree they come from turns read-only and
	// device-less.
	var writes, devices []detached
	defer func() {
		for _, d := range append(writes, devices...) {
			unix.Close(d.fd)
		}
	}()
	for _, path := range p.ReadWrite {
		st, err := os.Stat(path)
		if err != nil || !(st.IsDir() || st.Mode().IsRegular()) {
			continue // missing, or a device such as /dev/null: bound back below
		}
		d, err := detach(path)
		if err != nil {
			return fmt.Errorf("copy write grant %s: %w", path, err)
		}
		writes = append(writes, d)
	}
	for _, path := range append(slices.Clone(p.ReadOnly), p.ReadWrite...) {
		if !grantsDevices(path) {
			continue
		}
		d, err := detach(path)
		if err != nil {
			return fmt.Errorf("copy granted device %s: %w", path, err)
		}
		devices = append(devices, d)
	}
	ro := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV}
	if err := unix.MountSetattr(unix.AT_FDCWD, "/", unix.AT_RECURSIVE, ro); err != nil {
		return fmt.Errorf("make the file system read-only: %w", err)
	}
	rw := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOSUID}
	for _, d := range writes {
		if err := d.attach(rw); err != nil {
			return fmt.Errorf("write grant %s: %w", d.path, err)
		}
	}
	// Writes to a device pass a read-only mount: /dev/null stays writable.
	dev := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID}
	for _, d := range devices {
		if err := d.attach(dev); err != nil {
			return fmt.Errorf("granted device %s: %w", d.path, err)
		}
	}
	return nil
}

// detached is a detached copy of the mount tree at path.
type detached struct {
	path string
	fd   int
}

func detach(path string) (detached, error) {
	fd, err := unix.OpenTree(unix.AT_FDCWD, path, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE)
	return detached{path, fd}, err
}

// attach sets attr on the copy and mounts it back over its path.
func (d detached) attach(attr *unix.MountAttr) error {
	if err := unix.MountSetattr(d.fd, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, attr); err != nil {
		return err
	}
	return unix.MoveMount(d.fd, "", unix.AT_FDCWD, d.path, unix.MOVE_MOUNT_F_EMPTY_PATH)
}

// grantsDevices reports whether a granted path is a device node, or a
// directory of /dev the operator granted (a plugin granted
// fs.read:/dev/input reads the devices in it).
func grantsDevices(path string) bool {
	st, err := os.Stat(path)
	switch {
	case err != nil:
		return false
	case st.Mode()&os.ModeDevice != 0:
		return true
	}
	return st.IsDir() && (path == "/dev" || strings.HasPrefix(path, "/dev/"))
}

// mountProc mounts, in the launcher's mount namespace, a /proc of its own
// PID namespace: the host's /proc names processes by the host's PIDs,
// which the plugin neither has nor may see (threat: reading the host's
// /proc entries), and which confuse code that looks up /proc/PID for its
// own PID (the thread-listing of libpsx, used to apply Landlock to every
// thread, looped forever on the host's /proc/1/task).
func mountProc() error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mount /proc of the PID namespace: %w", err)
	}
	return nil
}

// reenterWorkDir changes to the working directory again by its path, so
// that a directory under a write grant is the writable copy mounted over
// it, not the read-only one beneath.
func reenterWorkDir() error {
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	return os.Chdir(wd)
}
