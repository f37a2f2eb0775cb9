// Command timerguest is a test plugin for the "timer" capability, built
// both as a process plugin and as a wasm module (GOOS=wasip1): "arm" asks
// the host for a timer, "tick" is the function timers call, and logs the
// timer's input through the host so that the test sees every run.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"time"

	"github.com/airlock-go/airlock/sdk/go/plugin"
)

func newPlugin() *plugin.Plugin {
	p := plugin.New("timerguest", "1.0.0")
	// arm calls timer.after, timer.every or timer.cancel with args and
	// returns the host's answer.
	plugin.Handle(p, "arm", func(ctx context.Context, h *plugin.Host, in struct {
		Fn   string          `json:"fn"`
		Args json.RawMessage `json:"args"`
	}) (json.RawMessage, error) {
		var out json.RawMessage
		err := h.Call(ctx, in.Fn, in.Args, &out)
		return out, err
	})
	// tick logs "tick INPUT"; an input starting with "slow" makes it take
	// 300ms, one starting with "fail" makes it fail.
	plugin.Handle(p, "tick", func(ctx context.Context, h *plugin.Host, in string) (any, error) {
		if err := h.Call(ctx, "log", map[string]string{"msg": "tick " + in}, nil); err != nil {
			return nil, err
		}
		switch {
		case strings.HasPrefix(in, "slow"):
			time.Sleep(300 * time.Millisecond)
		case strings.HasPrefix(in, "fail"):
			return nil, errors.New("tick failed on purpose")
		}
		return nil, nil
	})
	plugin.Handle(p, "crash", func(context.Context, *plugin.Host, any) (any, error) {
		os.Exit(3)
		return nil, nil
	})
	return p
}

func init() { plugin.Reactor(newPlugin) }

func main() { newPlugin().Main() }
