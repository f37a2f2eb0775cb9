package main

// i386 system call numbers (arch/x86/entry/syscalls/syscall_32.tbl).
const (
	i386Keyctl = 288
	i386Socket = 359
)

// int80 makes a system call through the i386 ABI.
func int80(nr, a1, a2, a3 uintptr) uintptr

// int80fork forks through the i386 ABI and returns the child's PID (or a
// negative errno); the child exits at once.
func int80fork() uintptr

const haveInt80 = true
