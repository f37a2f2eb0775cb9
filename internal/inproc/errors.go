package inproc

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/airlock-go/airlock/internal/sdkcore"
	"github.com/airlock-go/airlock/internal/tier"
	"github.com/airlock-go/airlock/protocol"
)

// hostCaller carries the plugin's host calls to the host, which checks the
// plugin's grants as for any other tier. The host's *protocol.Error reaches the
// plugin as the SDK's *plugin.Error (errors.Is(err, plugin.ErrDenied)).
type hostCaller struct{ host tier.HostFunc }

func (c hostCaller) CallHost(ctx context.Context, fn string, input json.RawMessage) (json.RawMessage, error) {
	res, err := c.host(ctx, fn, input)
	var re *protocol.Error
	if errors.As(err, &re) {
		return nil, &sdkcore.Error{Code: re.Code, Message: re.Message}
	}
	return res, err
}

// toRPC turns a handler's error into the *protocol.Error every tier returns for
// a plugin's own error: a *plugin.Error keeps its code, anything else (a
// panic's error included) is CodeFailed with its message.
func toRPC(err error) error {
	var pe *sdkcore.Error
	if errors.As(err, &pe) {
		return &protocol.Error{Code: pe.Code, Message: pe.Message}
	}
	return &protocol.Error{Code: protocol.CodeFailed, Message: err.Error()}
}
