package sandbox

import (
	"fmt"
	"os"
	"strconv"
)

// The bound on a plugin's inotify instances and watches.
//
// Threat: taking the user's inotify instances. The kernel counts them per
// user (128 by default), not per process, and no rlimit covers them: a
// plugin with no grant held all 128 of the host user's (root's, for a root
// host), after which the host (`airlock run --watch`), and every other
// program of that user, could make no new one until the plugin ended.
// Watches cost kernel memory in the same way.
//
// In the plugin's own user namespace (a host that is not root) the kernel
// counts them per namespace first, against limits the namespace's owner
// may set: the launcher sets them low, before its mounts turn read-only
// and it drops its capabilities. Elsewhere (a root host, or no user
// namespace) nothing can count them for one plugin, and the system call
// filter refuses inotify altogether.
const (
	inotifyInstances = 16
	inotifyWatches   = 8192
)

// boundInotify sets the inotify limits of the launcher's user namespace.
// It needs CAP_SYS_RESOURCE there and /proc writable.
func boundInotify(rep *Report) error {
	for _, s := range []struct {
		file  string
		value int
	}{
		{"/proc/sys/user/max_inotify_instances", inotifyInstances},
		{"/proc/sys/user/max_inotify_watches", inotifyWatches},
	} {
		if err := os.WriteFile(s.file, []byte(strconv.Itoa(s.value)), 0); err != nil {
			return fmt.Errorf("bound inotify: %w", err)
		}
	}
	rep.Enforced = append(rep.Enforced, fmt.Sprintf("inotify<=%d instances, %d watches (the plugin's user namespace)", inotifyInstances, inotifyWatches))
	return nil
}
