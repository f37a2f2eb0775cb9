package wasm

import "syscall"

// ctime is a file's change time, in nanoseconds.
func ctime(st *syscall.Stat_t) (int64, bool) { return st.Ctimespec.Nano(), true }
