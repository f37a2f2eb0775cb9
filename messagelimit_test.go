package airlock_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/airlock-go/airlock"
)

// The message size limit holds in both directions (docs/PROTOCOL.md,
// Framing): neither the host nor the Go SDK sends a message the other side
// would refuse to read. (A host call over the limit from the plugin is
// internal/rpc's TestSendRespectsMaxMessage: the Go SDK sends through the
// same Conn.) Each case fails if its sender's check is removed:
// the reader then ends the connection with a violation, and the plugin is
// stopped (or stops) instead of running on.
func TestMessageLimitBothWays(t *testing.T) {
	const limit = 4 << 20 // the default, which the Go SDK shares
	// big answers a string of n bytes: near the limit, the host's answer
	// fits and the plugin's result wrapping it ({"result": ...}) does not.
	big := airlock.NewFunc("big", "secret.read", func(_ context.Context, _ airlock.Caller, in struct {
		N int `json:"n"`
	}) (string, error) {
		return strings.Repeat("b", in.N), nil
	})
	h, _ := newHost(t, airlock.Options{Functions: []airlock.Function{big}})
	load(t, h, airlock.PluginConfig{Path: testPlugin(t), Grants: []string{"secret.read"}})
	before, _ := h.Plugin("testplugin")
	ctx := ctxT(t, 60*time.Second)
	callhost := func(in map[string]any) (map[string]any, error) {
		return airlock.CallFunc[map[string]any](ctx, h, "testplugin", "callhost", map[string]any{"fn": "big", "input": in})
	}

	t.Run("host input over the limit", func(t *testing.T) {
		_, err := h.Call(ctx, "testplugin", "echo", strings.Repeat("x", limit))
		if !errors.Is(err, airlock.ErrResourceLimit) || !strings.Contains(err.Error(), "exceeds the limit of 4194304") || !strings.Contains(err.Error(), "testplugin") {
			t.Errorf("err = %v, want ErrResourceLimit naming the plugin and the limit", err)
		}
	})
	t.Run("host function answer over the limit", func(t *testing.T) {
		out, err := callhost(map[string]any{"n": limit})
		if err != nil {
			t.Fatal(err)
		}
		if out["code"] != float64(-32603) || !strings.Contains(out["error"].(string), "exceeds the limit") {
			t.Errorf("plugin saw %v, want error -32603 saying the answer exceeds the limit", out)
		}
	})
	t.Run("plugin result over the limit", func(t *testing.T) {
		_, err := callhost(map[string]any{"n": limit - 40})
		var re *airlock.RemoteError
		if !errors.As(err, &re) || re.Code != -32603 || !strings.Contains(re.Message, "exceeds the limit") {
			t.Errorf("err = %v, want the plugin's error -32603 saying its answer exceeds the limit", err)
		}
	})
	// Nobody broke the protocol: the same process answers.
	if got, err := airlock.CallFunc[string](ctx, h, "testplugin", "echo", "still here"); err != nil || got != "still here" {
		t.Fatalf("echo after the refusals = %q, %v", got, err)
	}
	if after, _ := h.Plugin("testplugin"); after.PID != before.PID {
		t.Errorf("plugin restarted (PID %d, then %d)", before.PID, after.PID)
	}
}
