//go:build linux && !amd64

package main

const (
	i386Keyctl = 0
	i386Socket = 0
)

// No foreign ABI can be reached from Go on this architecture without a
// 32-bit binary; the attacks say so.
func int80(nr, a1, a2, a3 uintptr) uintptr { return ^uintptr(37) } // -ENOSYS
func int80fork() uintptr                   { return ^uintptr(37) }

const haveInt80 = false
