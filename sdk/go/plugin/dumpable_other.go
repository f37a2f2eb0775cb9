//go:build !linux

package plugin

// protectProcess does nothing where the OS has no such switch.
func protectProcess() {}
