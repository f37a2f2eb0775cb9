package protocol

import (
	"encoding/json"
	"fmt"
)

// Error is the error object of a JSON-RPC 2.0 response: the answer to a
// request that failed. It is also the Go error that a call returns when
// the peer answers with one, so that the code can be tested
// (errors.As(err, &e) and e.Code == CodeDenied).
type Error struct {
	// Code says what kind of failure it is: one of the Code constants,
	// or another integer the application defines.
	Code int `json:"code"`
	// Message describes the failure for people.
	Message string `json:"message"`
	// Data is optional detail, any JSON value, as the side answering
	// chose to send it; nil when there is none.
	Data json.RawMessage `json:"data,omitempty"`
}

// Error returns the message with its code.
func (e *Error) Error() string { return fmt.Sprintf("%s (code %d)", e.Message, e.Code) }

// Errorf returns an *Error with code and a formatted message.
func Errorf(code int, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}
