package airlock

import (
	"encoding/json"

	"github.com/airlock-go/airlock/internal/rpc"
)

// encodeJSON encodes an application value (a call's or hook's input) for a
// plugin with encoding/json. A json.RawMessage is checked and passed on as
// it is rather than re-encoded, which would cost several passes over it: a
// large payload the application already holds as JSON travels at the
// speed of the pipe. A string that encoding/json would write as it is
// (rpc.PlainString) is copied between quotes, in a third of
// encoding/json's time for a short one.
func encodeJSON(v any) (json.RawMessage, error) {
	switch raw := v.(type) {
	case string:
		if rpc.PlainString(raw) {
			out := make([]byte, 0, len(raw)+2)
			return append(append(append(out, '"'), raw...), '"'), nil
		}
	case json.RawMessage:
		if raw == nil {
			return json.RawMessage("null"), nil
		}
		return rpc.CheckRaw(raw)
	case *json.RawMessage:
		if raw == nil || *raw == nil {
			return json.RawMessage("null"), nil
		}
		return rpc.CheckRaw(*raw)
	}
	return json.Marshal(v)
}
