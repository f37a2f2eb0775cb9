//go:build !(linux || darwin || freebsd || netbsd || openbsd || wasip1)

package plugin

import "os"

// privateStdout keeps the protocol on standard output where descriptors
// cannot be duplicated portably; os.Stdout is pointed at standard error so
// that fmt.Print from Go code still lands in the log.
func privateStdout() (*os.File, error) {
	out := os.Stdout
	os.Stdout = os.Stderr
	return out, nil
}
