package plugin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
)

// DecodeConfig decodes the plugin's settings into dst, a pointer to a
// struct whose json tags name the settings (as the manifest's [config]
// table does):
//
//	var cfg struct {
//		Greeting string `json:"greeting"`
//		Workers  int    `json:"workers"` // type = "integer" in the manifest
//	}
//	if err := h.DecodeConfig(&cfg); err != nil { ... }
//
// It is strict, so that a mistake fails loudly rather than leaving a field
// at its zero value: a setting with no field in dst (a misspelled tag) is
// an error, and so is a value that does not fit its field (3.5 into an
// int, a string into a number). The host has already checked the values
// against the manifest, so with a struct that matches the manifest it
// never fails.
func (h *Host) DecodeConfig(dst any) error {
	data, err := json.Marshal(h.Config())
	if err != nil {
		return fmt.Errorf("settings: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return fmt.Errorf("settings: %w", err)
	}
	return nil
}

// Settings returns the plugin's settings decoded into a T, as
// DecodeConfig does.
func Settings[T any](h *Host) (T, error) {
	var v T
	err := h.DecodeConfig(&v)
	return v, err
}

// Number returns a number (or integer) setting, and whether it is set.
func (h *Host) Number(name string) (float64, bool) {
	f, ok := h.Config()[name].(float64)
	return f, ok
}

// Int returns an integer setting, and whether it is set to a whole number
// that fits an int64.
func (h *Host) Int(name string) (int64, bool) {
	f, ok := h.Config()[name].(float64)
	if !ok || f != math.Trunc(f) || f < math.MinInt64 || f >= math.MaxInt64 {
		return 0, false
	}
	return int64(f), true
}

// Bool returns a bool setting, or false if it is unset.
func (h *Host) Bool(name string) bool {
	b, _ := h.Config()[name].(bool)
	return b
}

// List returns a list setting, or nil if it is unset.
func (h *Host) List(name string) []string {
	items, _ := h.Config()[name].([]any)
	out := make([]string, 0, len(items))
	for _, it := range items {
		if s, ok := it.(string); ok {
			out = append(out, s)
		}
	}
	if len(out) == 0 && items == nil {
		return nil
	}
	return out
}
