package native

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/airlock-go/airlock/sdk/go/plugin"
)

// A ctx stops working when its call returns: a library that kept it (or a
// thread of its own) cannot call the host afterwards.
func TestHostCallOutsideCall(t *testing.T) {
	fn := cBytes("log")
	host := testHost(nil, nil, nil, nil)
	for _, tc := range []struct {
		name string
		live bool
	}{{"live call", true}, {"ended call", false}} {
		t.Run(tc.name, func(t *testing.T) {
			id := liveCalls.add(&callState{ctx: context.Background(), host: host})
			if !tc.live {
				liveCalls.remove(id)
			} else {
				defer liveCalls.remove(id)
				// A canceled context: the host call ends at once, without
				// reaching a host, with CodeCancelled rather than NO_CALL.
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				liveCalls.get(id).ctx = ctx
				liveCalls.get(id).host = testHost(canceled{}, nil, nil, nil)
			}
			var out *byte
			var n uintptr
			got := int32(hostCall(id, &fn[0], nil, 0, &out, &n))
			want := int32(statusNoCall)
			if tc.live {
				want = plugin.CodeCancelled
			}
			if got != want {
				t.Errorf("host_call: %d, want %d", got, want)
			}
			// NULL out pointers are refused, not written through.
			if got := int32(hostCall(id, &fn[0], nil, 0, nil, nil)); got != plugin.CodeInvalidInput {
				t.Errorf("host_call with NULL out: %d, want %d", got, plugin.CodeInvalidInput)
			}
		})
	}
}

type canceled struct{}

func (canceled) CallHost(ctx context.Context, _ string, _ json.RawMessage) (json.RawMessage, error) {
	return nil, ctx.Err()
}
