// The Go plugin of cmd/airlock's gen tests, on bindings generated from
// testdata/gen/hostdef's contract (package contract, beside it).
package main

import (
	"context"
	"fmt"
	"sort"

	"github.com/airlock-go/airlock/sdk/go/plugin"

	"genplugin/contract"
)

func main() {
	p := plugin.New("gen-go", "1.0.0")
	contract.RegisterInvoiceCheck(p, check)
	contract.RegisterNoteAddAfter(p, noted)
	p.Main()
}

// noted is an after handler: it logs what the hook was given and answered.
func noted(ctx context.Context, h *plugin.Host, in string, out bool) error {
	return h.Log(ctx, "info", fmt.Sprintf("after note.add: %s -> %t", in, out))
}

func check(ctx context.Context, h *plugin.Host, in contract.Invoice) (contract.Verdict, error) {
	cfg, err := contract.LoadSettings(h)
	if err != nil {
		return contract.Verdict{}, err
	}
	rates, err := contract.RatesLookup(ctx, h, contract.RateQuery{Currency: in.Currency})
	if err != nil {
		return contract.Verdict{}, err
	}
	total := 0.0
	for _, l := range in.Lines {
		total += float64(l.Quantity) * l.Price
	}
	total = total*rates.Rate - in.Discount
	if cfg.Ratio != nil {
		total *= *cfg.Ratio
	}
	flags := []string{}
	for k := range in.Tags {
		flags = append(flags, k)
	}
	sort.Strings(flags)
	var score *int64
	if in.Note == nil {
		flags = append(flags, "no-note")
	} else {
		s := in.Priority * 10
		score = &s
	}
	if len(in.Meta) > 0 {
		flags = append(flags, "meta")
	}
	flags = append(flags, fmt.Sprintf("h%d", len(rates.History)), fmt.Sprintf("w%d", cfg.Workers))
	if cfg.Regions != nil {
		flags = append(flags, fmt.Sprintf("r%d", len(cfg.Regions)))
	}
	if cfg.Strict {
		flags = append(flags, "strict")
	}
	return contract.Verdict{
		Approved: total < 1000,
		Reason:   fmt.Sprintf("%s:%s/%s/p%d", cfg.Greeting, in.Customer.Name, in.Currency, in.Priority),
		Total:    total,
		Flags:    flags,
		Score:    score,
	}, nil
}
