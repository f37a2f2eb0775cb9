//go:build !linux

package rpc

import (
	"errors"
	"os"
)

// platformModes are the caller-reads modes TestCallerReadsMode runs
// beside poll and deadline: none here.
var platformModes []string

// blockingPipe is used on Linux only (platformModes).
func blockingPipe() (r, w *os.File, err error) {
	return nil, nil, errors.New("no blocking-pipe mode on this platform")
}
