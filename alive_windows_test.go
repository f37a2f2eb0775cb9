package airlock_test

import "golang.org/x/sys/windows"

// alive reports whether process pid is still running.
func alive(pid int) bool {
	h, err := windows.OpenProcess(windows.SYNCHRONIZE|windows.PROCESS_QUERY_LIMITED_INFORMATION, false, uint32(pid))
	if err != nil {
		return false
	}
	defer windows.CloseHandle(h)
	ev, err := windows.WaitForSingleObject(h, 0)
	return err == nil && ev == uint32(windows.WAIT_TIMEOUT)
}

// childAlive reports whether a plugin's child is still running: on
// Windows, by its PID.
func childAlive(pid int, _ string) bool { return alive(pid) }
