// Command teller is an example Airlock plugin: a before handler that
// vetoes the greet hook for blocked names, and a function "peek" that tries
// to read the host's ledger through the host function ledger.balance.
package main

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/airlock-go/airlock/sdk/go/plugin"
)

type greetInput struct {
	Name string `json:"name"`
}

func guard(ctx context.Context, h *plugin.Host, in greetInput) (any, error) {
	blocked, _ := h.Config()["blocked"].([]any)
	if slices.Contains(blocked, any(in.Name)) {
		_ = h.Log(ctx, "warn", "vetoing a greeting", "name", in.Name)
		return nil, fmt.Errorf("teller: %s is on the blocked list", in.Name)
	}
	return nil, nil
}

type peekInput struct {
	Account string `json:"account"`
}

type peekOutput struct {
	Balance *float64 `json:"balance,omitempty"`
	Refused string   `json:"refused,omitempty"`
}

func peek(ctx context.Context, h *plugin.Host, in peekInput) (peekOutput, error) {
	var bal struct {
		Balance float64 `json:"balance"`
	}
	err := h.Call(ctx, "ledger.balance", in, &bal)
	switch {
	case errors.Is(err, plugin.ErrDenied):
		return peekOutput{Refused: err.Error()}, nil
	case err != nil:
		return peekOutput{}, err
	}
	return peekOutput{Balance: &bal.Balance}, nil
}

func main() {
	p := plugin.New("teller", "0.1.0")
	plugin.Handle(p, "greet", guard)
	plugin.Handle(p, "peek", peek)
	p.Main()
}
