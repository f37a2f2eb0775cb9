package rpc

import "encoding/json"

// answer is what a call waiting for its response receives: the response's
// result or error, or word that its deadline passed. It travels by value,
// so that the message it came in is not kept (nor allocated) for it.
type answer struct {
	result  json.RawMessage
	err     *Error
	expired bool
}
