package airlock_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airlock-go/airlock"
	"github.com/airlock-go/airlock/sdk/go/plugin"
)

// gauge counts calls running at once, as seen from inside them, and holds
// each until the test releases it.
type gauge struct {
	mu      sync.Mutex
	cur     int
	max     int
	entered int
	release chan struct{} // one receive lets one call finish
	stop    chan struct{} // closed at the end of the test: everything finishes
}

func newGauge(t *testing.T) *gauge {
	g := &gauge{release: make(chan struct{}), stop: make(chan struct{})}
	t.Cleanup(func() { close(g.stop) })
	return g
}

// hold is the body of a call: counted while it waits for a release, its
// context's end, or the end of the test.
func (g *gauge) hold(ctx context.Context) {
	g.mu.Lock()
	g.cur++
	g.entered++
	g.max = max(g.max, g.cur)
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		g.cur--
		g.mu.Unlock()
	}()
	select {
	case <-g.release:
	case <-ctx.Done():
	case <-g.stop:
	}
}

// let lets one running call finish.
func (g *gauge) let(t *testing.T) {
	t.Helper()
	select {
	case g.release <- struct{}{}:
	case <-time.After(20 * time.Second):
		t.Fatal("no call running to release")
	}
}

func (g *gauge) read() (cur, maxSeen, entered int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.cur, g.max, g.entered
}

// checkInflightLimit drives a plugin whose calls run g.hold, loaded with
// max_inflight = 2: a third call waits for a slot (and gives up with its
// context without ever running), and six calls released one at a time
// never run more than two at once.
func checkInflightLimit(t *testing.T, g *gauge, call func(ctx context.Context) error) {
	t.Helper()
	ctx := ctxT(t, 60*time.Second)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	start := func() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := call(ctx); err != nil {
				errs <- err
			}
		}()
	}
	start()
	start()
	waitFor(t, func() bool { cur, _, _ := g.read(); return cur == 2 }, "two calls running")

	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	err := call(short)
	cancel()
	if !errors.Is(err, airlock.ErrDeadline) || !strings.Contains(err.Error(), "waiting for a free slot (2 calls in flight)") {
		t.Errorf("third call: err = %v, want ErrDeadline while waiting for a free slot", err)
	}
	if _, maxSeen, entered := g.read(); entered != 2 || maxSeen != 2 {
		t.Errorf("the third call ran: %d calls entered, %d at once", entered, maxSeen)
	}

	for range 4 {
		start()
	}
	for range 6 {
		g.let(t) // only a running call can take it
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if _, maxSeen, entered := g.read(); maxSeen != 2 || entered != 6 {
		t.Errorf("%d calls ran, at most %d at once; want 6, at most 2", entered, maxSeen)
	}
}

// The process tier's calls in flight are bounded (its slots): observed
// from the plugin's side, through the host function each call makes.
func TestProcessInflightLimit(t *testing.T) {
	g := newGauge(t)
	probe := airlock.NewFunc("inflight.probe", "inflight.probe", func(ctx context.Context, _ airlock.Caller, _ any) (any, error) {
		g.hold(ctx)
		return nil, nil
	})
	h, _ := newHost(t, airlock.Options{Functions: []airlock.Function{probe}})
	load(t, h, airlock.PluginConfig{Path: testPluginWith(t, nil, []string{"inflight.probe"}), Grants: []string{"inflight.probe"},
		Limits: airlock.Limits{MaxInflight: 2, CallTimeout: airlock.Duration(time.Minute)}})
	checkInflightLimit(t, g, func(ctx context.Context) error {
		out, err := airlock.CallFunc[map[string]any](ctx, h, "testplugin", "callhost", map[string]any{"fn": "inflight.probe"})
		if err == nil && out["error"] != nil {
			err = errors.New(out["error"].(string))
		}
		return err
	})
}

// Builtin plugins have the same bound: callers beyond max_inflight wait,
// within their context.
func TestBuiltinInflightLimit(t *testing.T) {
	g := newGauge(t)
	p := plugin.New("holder", "1.0.0")
	plugin.Handle(p, "hold", func(ctx context.Context, _ *plugin.Host, _ any) (any, error) {
		g.hold(ctx)
		return nil, nil
	})
	builtin := airlock.Builtin{Plugin: p, Manifest: `
name = "holder"
version = "1.0.0"
tier = "builtin"
protocol = 1
functions = ["hold"]
`}
	h, _ := newHost(t, airlock.Options{Builtins: map[string]airlock.Builtin{"holder": builtin}})
	load(t, h, airlock.PluginConfig{Builtin: "holder", Limits: airlock.Limits{MaxInflight: 2, CallTimeout: airlock.Duration(time.Minute)}})
	checkInflightLimit(t, g, func(ctx context.Context) error {
		_, err := h.Call(ctx, "holder", "hold", nil)
		return err
	})
}

// A builtin handler that ignores its deadline keeps its slot until it
// returns: its caller gets the deadline, and the goroutines of such
// handlers cannot pile up beyond max_inflight.
func TestBuiltinSlotHeldPastDeadline(t *testing.T) {
	g := newGauge(t)
	p := plugin.New("stubborn", "1.0.0")
	plugin.Handle(p, "hold", func(_ context.Context, _ *plugin.Host, _ any) (any, error) {
		g.hold(context.Background()) // ignores its context on purpose
		return nil, nil
	})
	builtin := airlock.Builtin{Plugin: p, Manifest: `
name = "stubborn"
version = "1.0.0"
tier = "builtin"
protocol = 1
functions = ["hold"]
`}
	h, _ := newHost(t, airlock.Options{Builtins: map[string]airlock.Builtin{"stubborn": builtin}})
	load(t, h, airlock.PluginConfig{Builtin: "stubborn", Limits: airlock.Limits{MaxInflight: 1, CallTimeout: airlock.Duration(100 * time.Millisecond)}})
	ctx := ctxT(t, 20*time.Second)
	if _, err := h.Call(ctx, "stubborn", "hold", nil); !errors.Is(err, airlock.ErrDeadline) || !strings.Contains(err.Error(), "no answer within") {
		t.Fatalf("first call: err = %v, want its deadline", err)
	}
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if _, err := h.Call(short, "stubborn", "hold", nil); !errors.Is(err, airlock.ErrDeadline) || !strings.Contains(err.Error(), "waiting for a free slot") {
		t.Errorf("second call: err = %v, want to wait for the slot the first still holds", err)
	}
	if _, _, entered := g.read(); entered != 1 {
		t.Errorf("%d handlers ran, want 1", entered)
	}
	g.let(t)
	waitFor(t, func() bool { cur, _, _ := g.read(); return cur == 0 }, "the handler to return")
	go func() {
		select {
		case g.release <- struct{}{}:
		case <-g.stop:
		}
	}()
	if _, err := h.Call(ctx, "stubborn", "hold", nil); err != nil {
		t.Errorf("after the handler returned: %v", err)
	}
}
