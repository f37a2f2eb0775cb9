package plugin

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/airlock-go/airlock/internal/sdkcore"
)

type teller struct {
	Greeting string   `json:"greeting"`
	Workers  int      `json:"workers"`
	Ratio    float64  `json:"ratio"`
	Verbose  bool     `json:"verbose"`
	Tags     []string `json:"tags"`
}

// settingsHost makes a Host with settings as a plugin receives them: JSON
// decoded, so numbers are float64.
func settingsHost(t *testing.T, settings string) *Host {
	t.Helper()
	var config map[string]any
	if err := json.Unmarshal([]byte(settings), &config); err != nil {
		t.Fatal(err)
	}
	return (*Host)(sdkcore.NewHost(nil, config, nil, nil))
}

func TestDecodeConfig(t *testing.T) {
	cases := []struct {
		name     string
		settings string
		want     teller
		err      string
	}{
		{"every type", `{"greeting":"hi","workers":8,"ratio":0.5,"verbose":true,"tags":["a","b"]}`,
			teller{Greeting: "hi", Workers: 8, Ratio: 0.5, Verbose: true, Tags: []string{"a", "b"}}, ""},
		{"absent settings stay zero", `{"workers":3}`, teller{Workers: 3}, ""},
		{"misspelled tag", `{"greting":"hi"}`, teller{}, `unknown field "greting"`},
		{"fraction into int", `{"workers":2.5}`, teller{}, "cannot unmarshal number 2.5"},
		{"string into number", `{"ratio":"0.5"}`, teller{}, "cannot unmarshal string"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Settings[teller](settingsHost(t, c.settings))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) || !strings.HasPrefix(err.Error(), "settings: ") {
					t.Fatalf("err = %v, want one about %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %+v, want %+v", got, c.want)
			}
		})
	}
}

func TestTypedGetters(t *testing.T) {
	h := settingsHost(t, `{"n":2.5,"i":42,"big":1e300,"b":true,"l":["x","y"],"s":"text"}`)
	if f, ok := h.Number("n"); !ok || f != 2.5 {
		t.Errorf("Number(n) = %v, %v", f, ok)
	}
	if i, ok := h.Int("i"); !ok || i != 42 {
		t.Errorf("Int(i) = %v, %v", i, ok)
	}
	for _, name := range []string{"n", "big", "s", "missing"} {
		if i, ok := h.Int(name); ok {
			t.Errorf("Int(%s) = %v, true; want not an integer", name, i)
		}
	}
	if _, ok := h.Number("s"); ok {
		t.Error("Number(s) reported a string as a number")
	}
	if !h.Bool("b") || h.Bool("s") || h.Bool("missing") {
		t.Error("Bool wrong")
	}
	if got := h.List("l"); !reflect.DeepEqual(got, []string{"x", "y"}) {
		t.Errorf("List(l) = %v", got)
	}
	if got := h.List("missing"); got != nil {
		t.Errorf("List(missing) = %v, want nil", got)
	}
}
