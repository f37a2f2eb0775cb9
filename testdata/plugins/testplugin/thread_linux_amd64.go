package main

// cloneThread starts a thread that runs no Go code and only waits, with
// its stack at stack; it returns the thread's ID or a negative errno
// (thread_linux_amd64.s).
func cloneThread(stack uintptr) uintptr

const haveCloneThread = true
