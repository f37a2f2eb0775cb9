package airlock

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"golang.org/x/sync/semaphore"
)

// A check that waits for room past its caller's deadline is a deadline,
// not a refused answer; one that runs refuses what does not fit.
func TestCheckValueWaitsWithinContext(t *testing.T) {
	type verdict struct {
		Approved bool `json:"approved"`
	}
	s := mustSchema(reflect.TypeFor[verdict](), false, "test")
	p := &loadedPlugin{checks: semaphore.NewWeighted(16), checkRoom: 16}
	bad := json.RawMessage(`{"approved":"yes"}`) // 18 bytes: takes all the room

	if err := badResult(p.checkValue(context.Background(), s, bad)); !errors.Is(err, ErrBadResult) {
		t.Fatalf("with room: %v, want ErrBadResult", err)
	}
	if err := p.checks.Acquire(context.Background(), 1); err != nil { // another check running
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err := badResult(p.checkValue(ctx, s, bad))
	if !errors.Is(err, ErrDeadline) || errors.Is(err, ErrBadResult) {
		t.Fatalf("waiting past the deadline: %v, want ErrDeadline and not ErrBadResult", err)
	}
	p.checks.Release(1)
	if err := p.checkValue(context.Background(), s, json.RawMessage(`{"approved":true}`)); err != nil {
		t.Fatalf("after the other check: %v", err)
	}
}
