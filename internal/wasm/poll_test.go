package wasm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/airlock-go/airlock/internal/testutil"
	"github.com/airlock-go/airlock/internal/tier"
	"github.com/airlock-go/airlock/protocol"
)

const goSleepManifest = `
name = "gosleep"
version = "1.0.0"
tier = "wasm"
protocol = 1
entry = "gosleep.wasm"
functions = ["sleep"]
`

// sleepers are the guests that sleep through WASI: Go's time.Sleep and
// C's nanosleep both reach poll_oneoff with a relative clock.
func sleepers(t *testing.T) map[string]tier.Instance {
	t.Helper()
	s := newStarter(t)
	out := map[string]tier.Instance{}
	guests := map[string][2]string{"c": {evilManifest, evil(t)}}
	if !missingPrebuilt("gosleep.wasm") {
		guests["go"] = [2]string{goSleepManifest, testutil.GoWasm(t, "internal/wasm/testdata/gosleep")}
	}
	for name, m := range guests {
		inst, _, err := start(t, s, m[0], m[1], nil, tier.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		out[name] = inst
	}
	return out
}

// callSleep asks the guest to sleep for ms within ctx.
func callSleep(ctx context.Context, inst tier.Instance, ms int) (json.RawMessage, error) {
	call := protocol.CallParams{Name: "sleep", Phase: "define", Input: json.RawMessage(fmt.Sprintf(`{"ms":%d}`, ms))}
	if inst.Info().Name == "evil" {
		call.Name, call.Input = "attack", json.RawMessage(fmt.Sprintf(`{"call":"sleep","ms":%d}`, ms))
	}
	return inst.Call(ctx, call)
}

// A guest asleep in WASI is stopped at its deadline, or when its caller
// cancels, not when it wakes; a short sleep still sleeps its time.
func TestSleepEndsWithTheCall(t *testing.T) {
	for lang, inst := range sleepers(t) {
		t.Run(lang+"/deadline", func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			begin := time.Now()
			_, err := callSleep(ctx, inst, 60000)
			took := time.Since(begin)
			if !errors.Is(err, tier.ErrDeadline) || took > 800*time.Millisecond {
				t.Errorf("a 60 s sleep with a 200 ms deadline: %v after %v, want ErrDeadline well under a second", err, took)
			}
			t.Logf("stopped %v after the deadline", took-200*time.Millisecond)
		})
		t.Run(lang+"/cancel", func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(200*time.Millisecond, cancel)
			begin := time.Now()
			_, err := callSleep(ctx, inst, 60000)
			if took := time.Since(begin); !errors.Is(err, tier.ErrDeadline) || took > 800*time.Millisecond {
				t.Errorf("a 60 s sleep cancelled after 200 ms: %v after %v", err, took)
			}
		})
		t.Run(lang+"/short", func(t *testing.T) {
			begin := time.Now()
			_, err := callSleep(context.Background(), inst, 300)
			if took := time.Since(begin); err != nil || took < 300*time.Millisecond || took > 2*time.Second {
				t.Errorf("a 300 ms sleep: %v after %v", err, took)
			}
		})
	}
}

// pollProbe runs one of evil.c's poll_oneoff probes and returns the
// errno and the events [userdata, error, type] it saw.
func pollProbe(t *testing.T, inst tier.Instance, probe string) (int, [][3]int, time.Duration) {
	t.Helper()
	begin := time.Now()
	out, err := inst.Call(context.Background(), protocol.CallParams{Name: "attack", Input: json.RawMessage(`{"call":"poll","probe":"` + probe + `"}`)})
	took := time.Since(begin)
	if err != nil {
		t.Fatalf("%s: %v", probe, err)
	}
	var res struct {
		Errno  int      `json:"errno"`
		Events [][3]int `json:"events"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("%s: %s: %v", probe, out, err)
	}
	return res.Errno, res.Events, took
}

// poll_oneoff keeps WASI's semantics: descriptor events are ready at once
// (as wazero treats them) and a clock that has not fired is not
// reported; the earliest clock fires; malformed input is an errno.
func TestPollOneoffSemantics(t *testing.T) {
	s := newStarter(t)
	inst, _, err := start(t, s, evilManifest, evil(t), nil, tier.Limits{CallTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	const badf, fault, inval, notsup = 8, 21, 28, 58
	cases := []struct {
		probe  string
		errno  int
		events [][3]int
		slow   bool // waits for its 100 ms clock
	}{
		{"fds", 0, [][3]int{{2, 0, 1}, {3, badf, 1}, {4, notsup, 2}}, false},
		{"fdonly", 0, [][3]int{{7, 0, 1}}, false},
		{"clocks", 0, [][3]int{{2, 0, 0}}, true},
		{"none", inval, nil, false},
		{"badtag", inval, nil, false},
		{"badclock", inval, nil, false},
		{"badflags", inval, nil, false},
		{"abscpu", notsup, nil, false},
		{"badfd", badf, nil, false},
		{"fault", fault, nil, false},
		{"many", inval, nil, false}, // 2^17: over maxSubscriptions
	}
	for _, c := range cases {
		errno, events, took := pollProbe(t, inst, c.probe)
		if errno != c.errno || !sameEvents(events, c.events) {
			t.Errorf("%s: errno %d, events %v; want %d, %v", c.probe, errno, events, c.errno, c.events)
		}
		if c.slow && (took < 100*time.Millisecond || took > 2*time.Second) || !c.slow && took > time.Second {
			t.Errorf("%s: took %v", c.probe, took)
		}
	}
}

func sameEvents(a, b [][3]int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Absolute clock subscriptions (clock_nanosleep with TIMER_ABSTIME) sleep
// until their time on the monotonic and the realtime clock.
func TestAbsoluteSleep(t *testing.T) {
	s := newStarter(t)
	inst, _, err := start(t, s, evilManifest, evil(t), nil, tier.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	out, err := inst.Call(context.Background(), protocol.CallParams{Name: "attack", Input: json.RawMessage(`{"call":"sleepabs","ms":200}`)})
	took := time.Since(begin)
	if err != nil || string(out) != "[0,0]" {
		t.Fatalf("sleepabs = %s, %v; want both clock_nanosleep calls to succeed", out, err)
	}
	if took < 400*time.Millisecond || took > 3*time.Second {
		t.Errorf("two absolute sleeps of 200 ms took %v", took)
	}
}

// Stopping the plugin wakes a guest asleep in WASI: the call ends with
// ErrStopped and Stop returns at once.
func TestStopWakesSleeper(t *testing.T) {
	s := newStarter(t)
	inst, _, err := start(t, s, evilManifest, evil(t), nil, tier.Limits{CallTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := callSleep(context.Background(), inst, 60000)
		done <- err
	}()
	time.Sleep(200 * time.Millisecond)
	begin := time.Now()
	inst.Stop(context.Background())
	select {
	case err := <-done:
		if !errors.Is(err, tier.ErrStopped) {
			t.Errorf("the sleeping call: %v, want ErrStopped", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the sleeping call outlived Stop")
	}
	if took := time.Since(begin); took > 2*time.Second {
		t.Errorf("Stop and the call's end took %v", took)
	}
}
