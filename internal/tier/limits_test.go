package tier

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/airlock-go/airlock/internal/sandbox"
	"github.com/airlock-go/airlock/sdk/go/plugin"
)

// The defaults come from the table's tags.
func TestDefaultLimits(t *testing.T) {
	want := Limits{
		CallTimeout: 10 * time.Second, StartTimeout: 10 * time.Second, StopTimeout: 3 * time.Second,
		CancelGrace: time.Second, MaxMessage: 4 << 20, MaxInflight: 64, MaxLogLine: 4 << 10,
		LogLinesPerSec: 200, MaxMemory: 1 << 30, MaxOpenFiles: 256, MaxFileBytes: 64 << 20, MaxTasks: 1024,
		HostCallsPerSec: 1000, HostCallBytesPerSec: 1 << 20, KVMaxKeys: 1024, KVMaxValueBytes: 64 << 10, KVMaxTotalBytes: 1 << 20,
		TimerMax: 16, TimerMinPeriod: time.Second,
	}
	if DefaultLimits != want {
		t.Errorf("DefaultLimits = %+v, want %+v", DefaultLimits, want)
	}
}

// Defaults declared outside the table, for code that runs without the
// host, agree with it.
func TestDefaultsAgree(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want int64
	}{
		{"sandbox.DefaultFiles", sandbox.DefaultFiles, int64(DefaultLimits.MaxOpenFiles)},
		{"sandbox.DefaultFileSize", sandbox.DefaultFileSize, DefaultLimits.MaxFileBytes},
		{"plugin.MaxMessage (the Go SDK)", plugin.MaxMessage, int64(DefaultLimits.MaxMessage)},
	} {
		if c.got != c.want {
			t.Errorf("%s = %d, the table of limits says %d", c.name, c.got, c.want)
		}
	}
}

func TestWithDefaults(t *testing.T) {
	cases := []struct {
		name string
		in   Limits
		want func(Limits) Limits // from DefaultLimits
	}{
		{"zero takes every default", Limits{}, func(d Limits) Limits { return d }},
		{"set fields are kept", Limits{CallTimeout: time.Minute, MaxMemory: 5, TimerMax: 2},
			func(d Limits) Limits { d.CallTimeout, d.MaxMemory, d.TimerMax = time.Minute, 5, 2; return d }},
		{"negative fields take the default", Limits{StopTimeout: -time.Second, MaxInflight: -1, KVMaxTotalBytes: -9},
			func(d Limits) Limits { return d }},
		{"no default: unset stays zero", Limits{MaxCPU: 0, MaxProcesses: 0},
			func(d Limits) Limits { return d }},
		{"no default: set is kept", Limits{MaxCPU: 90 * time.Second, MaxProcesses: 7},
			func(d Limits) Limits { d.MaxCPU, d.MaxProcesses = 90*time.Second, 7; return d }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got, want := c.in.WithDefaults(), c.want(DefaultLimits); got != want {
				t.Errorf("WithDefaults() = %+v, want %+v", got, want)
			}
		})
	}
	if DefaultLimits.MaxCPU != 0 || DefaultLimits.MaxProcesses != 0 {
		t.Errorf("max_cpu and max_processes have no default, got %v and %d", DefaultLimits.MaxCPU, DefaultLimits.MaxProcesses)
	}
}

// Each field of the table is well formed: a TOML key, a unit its type
// can hold, a default in that unit; names and keys are unique.
func TestLimitTable(t *testing.T) {
	keys, names := map[string]bool{}, map[string]bool{}
	for _, l := range LimitTable() {
		if l.Key == "" || keys[l.Key] || names[l.Name] {
			t.Errorf("%s: TOML key %q or name %q missing or used twice", l.Field, l.Key, l.Name)
		}
		keys[l.Key], names[l.Name] = true, true
		if k := l.Type.Kind(); k != reflect.Int && k != reflect.Int64 {
			t.Errorf("%s is a %v: WithDefaults handles signed integers (and durations) only", l.Field, l.Type)
		}
		if _, err := parseDefault(l); err != nil {
			t.Errorf("%s: %v", l.Field, err)
		}
	}
}

func TestParseDefault(t *testing.T) {
	dur, num := reflect.TypeFor[time.Duration](), reflect.TypeFor[int]()
	cases := []struct {
		def, unit string
		typ       reflect.Type
		want      int64
		err       string
	}{
		{"10s", UnitDuration, dur, int64(10 * time.Second), ""},
		{"4 MiB", UnitBytes, num, 4 << 20, ""},
		{"64 KiB", UnitBytes, num, 64 << 10, ""},
		{"1 GiB", UnitBytes, num, 1 << 30, ""},
		{"4096", UnitBytes, num, 4096, ""},
		{"200", UnitPerSecond, num, 200, ""},
		{"1 MiB", UnitBytesPerSecond, num, 1 << 20, ""},
		{"unlimited", UnitDuration, dur, 0, ""},
		{"unset", UnitCount, num, 0, ""},
		{"", UnitCount, num, 0, "no default tag"},
		{"4 MB", UnitBytes, num, 0, "want bytes"},
		{"10s", UnitDuration, num, 0, "unit duration on a int"},
		{"3", "apples", num, 0, "unit \"apples\""},
		{"ten", UnitCount, num, 0, "invalid syntax"},
	}
	for _, c := range cases {
		got, err := parseDefault(LimitInfo{Field: "X", Default: c.def, Unit: c.unit, Type: c.typ})
		switch {
		case c.err == "" && (err != nil || got != c.want):
			t.Errorf("parseDefault(%q, %s) = %d, %v; want %d", c.def, c.unit, got, err, c.want)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("parseDefault(%q, %s): error %v, want one containing %q", c.def, c.unit, err, c.err)
		}
	}
}

// WithDefaults runs once a start; this shows what it costs.
func BenchmarkWithDefaults(b *testing.B) {
	l := Limits{CallTimeout: time.Second}
	for b.Loop() {
		_ = l.WithDefaults()
	}
}
