//go:build unix

package airlock_test

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// alive reports whether process pid exists and is not a zombie.
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err == nil {
		fields := strings.Fields(string(stat))
		if len(fields) > 2 && fields[2] == "Z" {
			return false
		}
	}
	return true
}

// childAlive reports whether a plugin's child is still running. The PID a
// plugin reports is its own namespace's, which the host does not share, so
// on Linux the child is found by the tag on its command line instead.
func childAlive(pid int, tag string) bool {
	if _, err := os.Stat("/proc"); err != nil {
		return alive(pid)
	}
	for _, p := range taggedPIDs(tag) {
		if alive(p) {
			return true
		}
	}
	return false
}

// taggedPIDs lists the processes whose command line has the argument
// -tag=TAG (the test plugin's sleepers).
func taggedPIDs(tag string) []int {
	entries, _ := os.ReadDir("/proc")
	want := "-tag=" + tag
	var pids []int
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p))
		if err == nil && slices.Contains(strings.Split(string(cmdline), "\x00"), want) {
			pids = append(pids, p)
		}
	}
	return pids
}
