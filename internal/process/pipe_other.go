//go:build !linux

package process

import "os"

// outputPipe makes the pipe the plugin writes its messages to; the
// connection reads it through Go's poller, interrupted by read deadlines.
func outputPipe() (r, w *os.File, err error) { return os.Pipe() }
