//go:build !linux

package sandbox

import (
	"log/slog"
	"os"
	"time"
)

// explainLink is explain mode's host side; only Linux has a system call
// filter to explain, so here it does nothing.
type explainLink struct{}

// ExplainTo does nothing on this platform: it has no system call filter
// whose refusals could be explained.
func (l *Launch) ExplainTo(*slog.Logger, string) {}

func (x *explainLink) wrap() (*os.File, error) { return os.Open(os.DevNull) }

func (x *explainLink) start(Policy, time.Duration) error { return nil }

func (x *explainLink) close() {}
