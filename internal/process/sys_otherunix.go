//go:build unix && !linux

package process

import "syscall"

// setParentDeathSignal does nothing where the kernel has no parent-death
// signal; the plugin notices the host's death when its input closes.
func setParentDeathSignal(*syscall.SysProcAttr) {}
