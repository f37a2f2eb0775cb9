package inproc

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/airlock-go/airlock/internal/manifest"
	"github.com/airlock-go/airlock/internal/tier"
	"github.com/airlock-go/airlock/protocol"
	"github.com/airlock-go/airlock/sdk/go/plugin"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testPlugin has one handler per behaviour the instance must handle.
// block waits, ignoring its context, until release is closed.
func testPlugin(release <-chan struct{}) *plugin.Plugin {
	p := plugin.New("inproc-test", "1.0.0")
	plugin.Handle(p, "echo", func(_ context.Context, h *plugin.Host, in json.RawMessage) (json.RawMessage, error) {
		return in, nil
	})
	plugin.Handle(p, "coded", func(context.Context, *plugin.Host, any) (any, error) {
		return nil, &plugin.Error{Code: plugin.CodeBusy, Message: "try later"}
	})
	plugin.Handle(p, "fail", func(context.Context, *plugin.Host, any) (any, error) {
		return nil, errors.New("it went wrong")
	})
	plugin.Handle(p, "panic", func(context.Context, *plugin.Host, any) (any, error) {
		panic("boom")
	})
	plugin.Handle(p, "hostcall", func(ctx context.Context, h *plugin.Host, _ any) (any, error) {
		var out string
		if err := h.Call(ctx, "kv.get", map[string]string{"key": "k"}, &out); err != nil {
			return map[string]any{"denied": errors.Is(err, plugin.ErrDenied), "err": err.Error()}, nil
		}
		return map[string]any{"result": out}, nil
	})
	plugin.Handle(p, "block", func(context.Context, *plugin.Host, any) (any, error) {
		<-release // ignores its context on purpose
		return "late", nil
	})
	return p
}

const testManifest = `name = "inproc-test"
version = "1.0.0"
tier = "builtin"
protocol = 1
functions = ["echo", "coded", "fail", "panic", "hostcall", "block"]
`

// start starts testPlugin under limits, its host calls answered by host.
// The blocked handlers are let go when the test ends.
func start(t *testing.T, limits tier.Limits, host tier.HostFunc) tier.Instance {
	t.Helper()
	m, err := manifest.Parse("test", []byte(testManifest))
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	inst, err := Start(tier.Spec{Name: m.Name, Manifest: m, Limits: limits, Host: host}, testPlugin(release), "builtin")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inst.Stop(context.Background()) })
	return inst
}

func TestCall(t *testing.T) {
	denied := func(context.Context, string, json.RawMessage) (json.RawMessage, error) {
		return nil, &protocol.Error{Code: protocol.CodeDenied, Message: `capability "kv" not granted`}
	}
	answer := func(context.Context, string, json.RawMessage) (json.RawMessage, error) {
		return json.RawMessage(`"v"`), nil
	}
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	cases := []struct {
		name    string
		ctx     context.Context // nil: the test's
		limits  tier.Limits
		host    tier.HostFunc
		call    string
		input   string
		want    string
		code    int    // the *rpc.Error's code; 0 for none
		wantErr error  // matched with errors.Is, when code is 0
		errText string // in the error's text
	}{
		{name: "result", call: "echo", input: `{"a":1}`, want: `{"a":1}`},
		{name: "plugin error keeps its code", call: "coded", code: protocol.CodeBusy, errText: "try later"},
		{name: "other error is CodeFailed", call: "fail", code: protocol.CodeFailed, errText: "it went wrong"},
		{name: "panic is one error", call: "panic", code: protocol.CodeFailed, errText: "handler panicked: boom"},
		{name: "no such handler", call: "nope", code: protocol.CodeNotImplemented, errText: `does not implement "nope"`},
		{name: "host call answered", call: "hostcall", host: answer, want: `{"result":"v"}`},
		{name: "host error mapped to plugin.Error", call: "hostcall", host: denied,
			want: `{"denied":true,"err":"capability \"kv\" not granted"}`},
		{name: "deadline while the code blocks", call: "block", limits: tier.Limits{CallTimeout: 50 * time.Millisecond},
			wantErr: tier.ErrDeadline, errText: "no answer within 50ms"},
		{name: "caller gave up", call: "block", ctx: canceled, wantErr: context.Canceled},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			inst := start(t, c.limits, c.host)
			ctx := c.ctx
			if ctx == nil {
				ctx = t.Context()
			}
			out, err := callWithin(t, inst, ctx, protocol.CallParams{Name: c.call, Input: json.RawMessage(c.input)})
			if c.code == 0 && c.wantErr == nil {
				if err != nil || string(out) != c.want {
					t.Fatalf("Call = %s, %v; want %s", out, err, c.want)
				}
				return
			}
			var re *protocol.Error
			switch {
			case c.code != 0 && (!errors.As(err, &re) || re.Code != c.code):
				t.Fatalf("Call error = %v (%T), want an *rpc.Error with code %d", err, err, c.code)
			case c.wantErr != nil && !errors.Is(err, c.wantErr):
				t.Fatalf("Call error = %v, want one matching %v", err, c.wantErr)
			case !strings.Contains(err.Error(), c.errText):
				t.Fatalf("Call error = %v, want one saying %q", err, c.errText)
			}
		})
	}
}

// callWithin calls inst, and fails the test if no answer comes within 10
// seconds: the instance must answer its caller even while the plugin's
// code blocks.
func callWithin(t *testing.T, inst tier.Instance, ctx context.Context, call protocol.CallParams) (json.RawMessage, error) {
	t.Helper()
	type answer struct {
		out json.RawMessage
		err error
	}
	done := make(chan answer, 1)
	go func() {
		out, err := inst.Call(ctx, call)
		done <- answer{out, err}
	}()
	select {
	case a := <-done:
		return a.out, a.err
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: no answer within 10s", call.Name)
		return nil, nil
	}
}

// Callers beyond MaxInflight wait for a slot within their context: a
// handler that ignores its deadline keeps its slot until it returns, so
// such handlers cannot pile up goroutines in the host. A panic gives its
// slot back.
func TestSlots(t *testing.T) {
	inst := start(t, tier.Limits{MaxInflight: 1, CallTimeout: 50 * time.Millisecond}, nil)
	if _, err := inst.Call(t.Context(), protocol.CallParams{Name: "panic"}); err == nil {
		t.Fatal("panic: no error")
	}
	if _, err := inst.Call(t.Context(), protocol.CallParams{Name: "block"}); !errors.Is(err, tier.ErrDeadline) {
		t.Fatalf("first call: err = %v, want its deadline", err)
	}
	short, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	_, err := inst.Call(short, protocol.CallParams{Name: "echo", Input: json.RawMessage("1")})
	if !errors.Is(err, tier.ErrDeadline) || !strings.Contains(err.Error(), "waiting for a free slot (1 calls in flight)") {
		t.Errorf("second call: err = %v, want to wait for the slot the first still holds", err)
	}
}

// After Stop, calls fail with ErrNotRunning naming the plugin and its kind.
func TestStop(t *testing.T) {
	inst := start(t, tier.Limits{}, nil)
	if err := inst.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-inst.Done():
	default:
		t.Fatal("Done is open after Stop")
	}
	inst.Stop(t.Context()) // a second Stop is harmless
	// Every call, not only some: a free slot must not let one in.
	for range 50 {
		_, err := inst.Call(t.Context(), protocol.CallParams{Name: "echo", Input: json.RawMessage("1")})
		if !errors.Is(err, tier.ErrNotRunning) || !strings.Contains(err.Error(), "builtin inproc-test stopped") {
			t.Fatalf("after Stop: err = %v, want ErrNotRunning", err)
		}
	}
}

// The plugin's identity and handlers are checked against its manifest,
// and the limits get their defaults.
func TestStartChecks(t *testing.T) {
	m, err := manifest.Parse("test", []byte(strings.Replace(testManifest, `"block"]`, `"block", "missing"]`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Start(tier.Spec{Name: m.Name, Manifest: m}, testPlugin(nil), "builtin")
	if !errors.Is(err, tier.ErrHandshake) || !strings.Contains(err.Error(), `does not implement "missing"`) {
		t.Errorf("handler missing: err = %v, want ErrHandshake naming it", err)
	}
	inst := start(t, tier.Limits{}, nil).(*Instance)
	if inst.MaxInflight() != tier.DefaultLimits.MaxInflight || inst.CallTimeout() != tier.DefaultLimits.CallTimeout {
		t.Errorf("limits %d, %v; want the defaults", inst.MaxInflight(), inst.CallTimeout())
	}
	if info := inst.Info(); info.Name != "inproc-test" || info.Version != "1.0.0" || len(info.Hooks) != 6 {
		t.Errorf("Info = %+v", info)
	}
}
