//go:build !linux

package rpc

import "io"

// newPollInput: only Linux waits in poll(2); elsewhere read deadlines
// interrupt reads.
func newPollInput(io.Reader, func() bool) interruptible { return nil }
