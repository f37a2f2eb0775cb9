// Package hostdef is the contract of the host in airlock gen's tests
// (cmd/airlock/gen_test.go): one hook and one host function whose types
// have every shape the generator supports. testdata/gen/host is a host
// program declaring it, for "airlock contract" and "airlock gen PACKAGE".
package hostdef

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/airlock-go/airlock"
)

// Version is the contract's version.
const Version = "1.2.0"

// Invoice is the input of the hook invoice.check.
type Invoice struct {
	ID       string            `json:"id"`
	Customer Party             `json:"customer"`                                // a nested object
	Lines    []InvoiceLine     `json:"lines"`                                   // an array of objects, or null
	Tags     map[string]string `json:"tags,omitempty"`                          // a map, optional
	Note     *string           `json:"note"`                                    // nullable, required
	Priority int               `json:"priority" jsonschema:"minimum=0"`         // an integer
	Currency string            `json:"currency" jsonschema:"enum=EUR,enum=USD"` // an enum
	Discount float64           `json:"discount,omitempty"`                      // an optional number
	Meta     json.RawMessage   `json:"meta,omitempty"`                          // any JSON value
}

// Party is who an invoice is for.
type Party struct {
	Name  string `json:"name"`
	Email string `json:"email,omitempty"`
}

// InvoiceLine is one line of an invoice.
type InvoiceLine struct {
	SKU      string  `json:"sku"`
	Quantity int     `json:"quantity"`
	Price    float64 `json:"price"`
}

// Verdict is the output of the hook invoice.check.
type Verdict struct {
	Approved bool     `json:"approved"`
	Reason   string   `json:"reason,omitempty"`
	Total    float64  `json:"total"`
	Flags    []string `json:"flags"`
	Score    *int     `json:"score"` // a nullable integer
}

// RateQuery is the input of the host function rates.lookup.
type RateQuery struct {
	Currency string `json:"currency"`
	Day      *int   `json:"day,omitempty"`
}

// RateAnswer is the output of the host function rates.lookup.
type RateAnswer struct {
	Rate    float64   `json:"rate"`
	Source  string    `json:"source"`
	History []float64 `json:"history"`
}

// Shapes has the shapes Invoice lacks, so that every plugin's build
// compiles their bindings (the host function shapes.echo, which no test
// plugin calls).
type Shapes struct {
	Empty  struct{}          `json:"empty"`           // an empty anonymous struct
	Maybe  *Party            `json:"maybe"`           // a nullable struct, required
	Extra  *Party            `json:"extra,omitempty"` // an optional struct
	ByName map[string]Party  `json:"by_name"`         // a map of structs
	Levels []int8            `json:"levels"`          // bounded integers
	Mode   int               `json:"mode" jsonschema:"enum=1,enum=2"`
	Ratio  *float64          `json:"ratio,omitempty"` // an optional nullable number
	OK     bool              `json:"ok"`
	Any    any               `json:"any"`            // any value
	Items  []json.RawMessage `json:"items"`          // an array of any values
	Quoted int               `json:"quoted,string"`  // a number as a string
	Type   string            `json:"type,omitempty"` // a keyword in Go, Rust and C
	Next   *Shapes           `json:"next"`           // recursive, through a pointer
	Kids   []Shapes          `json:"kids,omitempty"` // recursive, through a slice
}

// Check is the hook invoice.check; it has no default.
var Check = airlock.NewHook("invoice.check", func(context.Context, Invoice) (Verdict, error) {
	return Verdict{}, errors.New("no plugin checks invoices")
})

// Rates is the host function rates.lookup: 2 for EUR, 1 otherwise.
var Rates = airlock.NewFunc("rates.lookup", "rates.read", func(_ context.Context, _ airlock.Caller, q RateQuery) (RateAnswer, error) {
	rate := 1.0
	if q.Currency == "EUR" {
		rate = 2
	}
	return RateAnswer{Rate: rate, Source: "test", History: []float64{1, rate}}, nil
})

// Note is the hook note.add, with values that are no structs; Touch the
// hook party.touch, with a nullable input and any output. No test plugin
// implements them: their bindings are compiled.
var (
	Note  = airlock.NewHook("note.add", func(context.Context, string) (bool, error) { return false, nil })
	Touch = airlock.NewHook("party.touch", func(context.Context, *Party) (json.RawMessage, error) { return nil, nil })
)

// Echo is the host function shapes.echo.
var Echo = airlock.NewFunc("shapes.echo", "shapes", func(_ context.Context, _ airlock.Caller, s Shapes) (Shapes, error) { return s, nil })

// Options declares the contract.
func Options() airlock.Options {
	return airlock.Options{
		ContractVersion: Version,
		Hooks:           []airlock.AnyHook{Check, Note, Touch},
		Functions:       []airlock.Function{Rates, Echo},
	}
}
