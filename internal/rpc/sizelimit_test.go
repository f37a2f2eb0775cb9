package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/airlock-go/airlock/protocol"
)

// A string param whose notification, encoded, is exactly n bytes.
func noteOfSize(n int) json.RawMessage {
	over := len(`{"jsonrpc":"2.0","method":"m","params":""}`)
	return json.RawMessage(`"` + strings.Repeat("x", n-over) + `"`)
}

// The limit holds for what a Conn sends: a message over it is refused
// before it leaves, with ErrTooLarge, and the connection goes on. Without
// the sender's check the peer would end the connection with a violation.
func TestSendRespectsMaxMessage(t *testing.T) {
	const max = 1000
	got := make(chan int, 4)
	h := func(_ context.Context, method string, p json.RawMessage) (json.RawMessage, error) {
		switch method {
		case "m":
			got <- len(p)
			return nil, nil
		case "big":
			return json.RawMessage(`"` + strings.Repeat("y", max) + `"`), nil
		case "bigerr":
			return nil, errors.New(strings.Repeat("z", max))
		}
		return json.RawMessage(`"ok"`), nil
	}
	opts := Options{MaxMessage: max}
	a, b := pair(t, h, h, opts, opts)
	ctx := testCtx(t)

	// Exactly the limit is sent and read.
	if err := a.Notify(ctx, "m", noteOfSize(max)); err != nil {
		t.Fatalf("Notify of exactly MaxMessage bytes: %v", err)
	}
	if n := recv(t, got, "the notification of MaxMessage bytes"); n != max-len(`{"jsonrpc":"2.0","method":"m","params":}`) {
		t.Errorf("peer got %d bytes of params", n)
	}
	cases := []struct {
		name string
		send func() error
		what string
	}{
		{"notification", func() error { return a.Notify(ctx, "m", noteOfSize(max+1)) }, fmt.Sprintf("m of %d bytes exceeds the limit of %d", max+1, max)},
		{"request", func() error {
			_, err := a.Call(ctx, "m", json.RawMessage(`"`+strings.Repeat("x", max)+`"`))
			return err
		}, "exceeds the limit of 1000"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.send()
			if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), c.what) {
				t.Errorf("send = %v, want ErrTooLarge saying %q", err, c.what)
			}
		})
	}
	// An answer over the limit becomes an error the caller can read, and
	// so does an error whose message is over it.
	for _, method := range []string{"big", "bigerr"} {
		_, err := b.Call(ctx, method, nil)
		var re *protocol.Error
		if !errors.As(err, &re) || re.Code != protocol.CodeInternalError || !strings.Contains(re.Message, "answer not sent: message too large: response of") {
			t.Errorf("Call(%s) = %v, want a %d error saying the answer was too large", method, err, protocol.CodeInternalError)
		}
	}
	// Nothing over the limit left, and the connection goes on.
	if res, err := a.Call(ctx, "ping", nil); err != nil || string(res) != `"ok"` {
		t.Errorf("Call after the refusals = %s, %v", res, err)
	}
	if a.Err() != nil || b.Err() != nil {
		t.Errorf("connection ended: %v, %v", a.Err(), b.Err())
	}
}
