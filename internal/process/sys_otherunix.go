//go:build unix && !linux

package process

import "syscall"

// setParentDeathSignal does nothing where the kernel has no parent-death
// signal; the plugin notices the host's death when its input closes.
func setParentDeathSignal(*syscall.SysProcAttr) {}

// signalText names the signal that ended a plugin.
func signalText(sig syscall.Signal) string { return "signal " + sig.String() }
