package rpc

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
)

type callTag struct{}

// originHandler answers "hostfn" with the tag of the call the request
// was made during, or "none".
var originHandler = handler(map[string]Handler{"hostfn": func(ctx context.Context, _ string, _ json.RawMessage) (json.RawMessage, error) {
	if oc, ok := Origin(ctx); ok {
		return json.RawMessage(strconv.Quote(fmt.Sprint(oc.Value(callTag{})))), nil
	}
	return json.RawMessage(`"none"`), nil
}})

// A request made by a handler, with its context or one derived from it,
// names the call it serves, and the caller's side finds that call's
// context, for each of many calls in flight at once.
func TestOriginNamesTheCall(t *testing.T) {
	var b atomic.Pointer[served]
	plugin := handler(map[string]Handler{"work": func(ctx context.Context, _ string, p json.RawMessage) (json.RawMessage, error) {
		ctx, cancel := context.WithCancel(context.WithValue(ctx, struct{}{}, 1)) // derived: still knows
		defer cancel()
		return b.Load().Call(ctx, "hostfn", p)
	}})
	a, bb := pair(t, originHandler, plugin, Options{}, Options{})
	b.Store(&bb)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Go(func() {
			ctx := context.WithValue(testCtx(t), callTag{}, i)
			got, err := a.Call(ctx, "work", json.RawMessage(`1`))
			if want := strconv.Quote(strconv.Itoa(i)); err != nil || string(got) != want {
				errs <- fmt.Errorf("call %d: host call's origin %s, %v; want %s", i, got, err, want)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// A request made outside any call names none.
	if got, err := bb.Call(testCtx(t), "hostfn", nil); err != nil || string(got) != `"none"` {
		t.Errorf("host call outside a call: origin %s, %v; want none", got, err)
	}
}

// A peer that names a call that is not one of this connection's calls in
// flight gets no origin: not a made-up id, not one already answered, not
// one that is not an id this connection writes.
func TestOriginOnlyCallsInFlight(t *testing.T) {
	p := newPeer(t, originHandler, Options{})
	ctx := context.WithValue(testCtx(t), callTag{}, "mine")
	done := make(chan error, 1)
	go func() {
		_, err := p.Call(ctx, "work", nil)
		done <- err
	}()
	call := p.next(t)
	ask := func(origin string) string {
		t.Helper()
		p.send(`{"jsonrpc":"2.0","id":"q","method":"hostfn","origin":` + origin + `,"params":1}` + "\n")
		m := p.next(t)
		return string(m.Result)
	}
	if got := ask(string(call.ID)); got != `"mine"` {
		t.Errorf("origin of the call in flight: %s, want mine", got)
	}
	for _, origin := range []string{"999", `"` + string(call.ID) + `"`, "-1", "1.0", "null"} {
		if got := ask(origin); got != `"none"` {
			t.Errorf("origin %s: %s, want none", origin, got)
		}
	}
	p.send(`{"jsonrpc":"2.0","id":` + string(call.ID) + `,"result":1}` + "\n")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := ask(string(call.ID)); got != `"none"` {
		t.Errorf("origin of a call answered: %s, want none", got)
	}
}
