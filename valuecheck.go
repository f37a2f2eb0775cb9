package airlock

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// checkValue checks raw, a value of p's (its answer to a call of a typed
// hook, or its input to a host function), against s.
//
// Threat: values that make the host hold far more memory than they take,
// many at once. The schema validator decodes a value into a tree before
// it checks it: an array of small numbers takes about 27 times its size
// (113 MB for 4 MiB) and a second or so of the host's CPU time, whether
// it is then refused or not. A plugin answering 64 calls at once with such
// arrays would make the host hold 7 GB. At most max_message_bytes of a
// plugin's values are checked at once (a larger one alone); a caller
// waits for room within ctx.
func (p *loadedPlugin) checkValue(ctx context.Context, s *typeSchema, raw json.RawMessage) error {
	if s == nil || s.any {
		return nil
	}
	n := min(int64(len(raw)), p.checkRoom)
	if err := p.checks.Acquire(ctx, n); err != nil {
		err = fmt.Errorf("waiting to check a value of %d bytes: %w", len(raw), err)
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("%w: %w", ErrDeadline, err)
		}
		return err
	}
	defer p.checks.Release(n)
	return s.check(raw)
}

// neverChecked reports whether checkValue's err says the value was never
// checked: the caller's context ended while it waited for room.
func neverChecked(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// badResult is the error of a plugin's answer that checkValue refused:
// ErrBadResult, unless the check never ran.
func badResult(err error) error {
	if neverChecked(err) {
		return err
	}
	return fmt.Errorf("%w: %v", ErrBadResult, err)
}
