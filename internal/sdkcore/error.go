package sdkcore

import (
	"errors"

	"github.com/airlock-go/airlock/protocol"
)

// Error codes the core itself returns; sdk/go/plugin exports the whole
// set.
const (
	CodeNotImplemented = protocol.CodeNotImplemented
)

// Error is an error with a protocol code; sdk/go/plugin exports it as
// plugin.Error. A handler may return one to choose the code the host
// sees; any other error is sent as CodeFailed.
type Error struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Message }

// Is reports whether e has the same code as target.
func (e *Error) Is(target error) bool {
	var t *Error
	return errors.As(target, &t) && t.Code == e.Code
}
