package sandbox

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// dropPrivileges leaves the launcher, and so the plugin it executes, with
// no capability in any set, and for a root host with run_as, with the
// operator's user and group. Threat: a host running as root handing root
// to its plugins (an attack run set the host name and made a device node
// to read the kernel log). The securebits keep uid 0, if it stays, from
// regaining capabilities at exec.
//
// Capabilities are per thread; the launcher runs on one locked thread
// (launcher_unix.go) and executes the plugin from it.
func dropPrivileges(runAs *Credential, rep *Report) error {
	if !hasAnyCapability() {
		rep.Enforced = append(rep.Enforced, "capabilities(none held)")
		return nil
	}
	// SECBIT_NOROOT, NO_SETUID_FIXUP, KEEP_CAPS and NO_CAP_AMBIENT_RAISE,
	// each with its lock (linux/securebits.h).
	const secure = 1<<0 | 1<<1 | 1<<2 | 1<<3 | 1<<5 | 1<<6 | 1<<7
	if err := unix.Prctl(unix.PR_SET_SECUREBITS, secure, 0, 0, 0); err != nil {
		return fmt.Errorf("securebits: %w", err)
	}
	for c := 0; c <= 63; c++ {
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("drop capability %d from the bounding set: %w", c, err)
		}
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		return fmt.Errorf("clear ambient capabilities: %w", err)
	}
	if runAs != nil && os.Getuid() == 0 {
		if err := becomeUser(*runAs); err != nil {
			return err
		}
		rep.Enforced = append(rep.Enforced, fmt.Sprintf("run_as(uid %d, gid %d)", runAs.UID, runAs.GID))
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var none [2]unix.CapUserData
	if err := unix.Capset(&hdr, &none[0]); err != nil {
		return fmt.Errorf("clear capabilities: %w", err)
	}
	rep.Enforced = append(rep.Enforced, "capabilities(all dropped)")
	return nil
}

// becomeUser takes the operator's user and group, with no supplementary
// groups. The raw calls act on the calling thread only, the one that
// executes the plugin.
func becomeUser(c Credential) error {
	if _, _, e := unix.RawSyscall(unix.SYS_SETGROUPS, 0, 0, 0); e != 0 {
		return fmt.Errorf("run_as: setgroups: %w", e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, uintptr(c.GID), uintptr(c.GID), uintptr(c.GID)); e != 0 {
		return fmt.Errorf("run_as: setresgid %d: %w", c.GID, e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(c.UID), uintptr(c.UID), uintptr(c.UID)); e != 0 {
		return fmt.Errorf("run_as: setresuid %d: %w", c.UID, e)
	}
	return nil
}

// hasAnyCapability reports whether the calling thread holds a capability
// in its permitted or effective set.
func hasAnyCapability() bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return true // assume the worst, and drop
	}
	for _, d := range data {
		if d.Permitted != 0 || d.Effective != 0 || d.Inheritable != 0 {
			return true
		}
	}
	return false
}
