package rpc

import (
	"context"
	"encoding/json"
	"testing"
)

// A request that runs long on the reading worker hands the reading over:
// the next request is answered while the first still runs, however many
// short requests ran before it.
func TestSlowRequestHandsReadingOver(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	h := handler(map[string]Handler{
		"echo": echo,
		"block": func(ctx context.Context, _ string, _ json.RawMessage) (json.RawMessage, error) {
			close(started)
			<-release
			return json.RawMessage(`"released"`), nil
		},
	})
	a, _ := pair(t, nil, h, Options{}, Options{})
	ctx := testCtx(t)
	for range 100 { // requests in a row, so that the watch's ticks see them change
		if _, err := a.Call(ctx, "echo", json.RawMessage(`1`)); err != nil {
			t.Fatal(err)
		}
	}
	blocked := make(chan error, 1)
	go func() {
		_, err := a.Call(ctx, "block", nil)
		blocked <- err
	}()
	recv(t, started, "the blocking request to start")
	// Answered only if another worker reads while "block" runs.
	if got, err := a.Call(ctx, "echo", json.RawMessage(`2`)); err != nil || string(got) != "2" {
		t.Fatalf("echo while a request blocks = %s, %v", got, err)
	}
	close(release)
	if err := recv(t, blocked, "the blocking call to end"); err != nil {
		t.Fatal(err)
	}
}
