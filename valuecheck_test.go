package airlock_test

import (
	"context"
	"encoding/json"
	"errors"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airlock-go/airlock"
	"github.com/airlock-go/airlock/sdk/go/plugin"
)

// A plugin answering many calls at once with arrays of numbers, which the
// host's schema check decodes into trees about 27 times their size, holds
// at most max_message_bytes of answers in the check at once: the host's
// heap stays bounded, and every answer is still refused for its shape.
// Without the bound, 32 answers of 1 MiB at once took the heap up by
// about 600 MiB (64 of 4 MiB would take 7 GB).
func TestValueChecksBounded(t *testing.T) {
	answer := json.RawMessage(`{"approved":true,"by":"x","extra":[` + strings.Repeat("0,", 512<<10-100) + `0]}`)
	tr := &trace{}
	h, _ := newHost(t, airlock.Options{Builtins: map[string]airlock.Builtin{
		"liar": builtin("liar", "define", tr, func(context.Context, *plugin.Host, map[string]any) (any, error) {
			return answer, nil
		}),
	}})
	load(t, h, airlock.PluginConfig{Builtin: "liar", Limits: airlock.Limits{MaxMessageBytes: 3 << 19}}) // room for one answer at a time
	heapGrowth := watchHeap()
	var wg sync.WaitGroup
	errs := make([]error, 32)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = approve.Run(ctxT(t, 60*time.Second), h, order{})
		})
	}
	wg.Wait()
	grew := heapGrowth()
	for i, err := range errs {
		if !errors.Is(err, airlock.ErrBadResult) {
			t.Fatalf("run %d: %v, want ErrBadResult (an unknown member)", i, err)
		}
	}
	t.Logf("32 answers of 1 MiB checked; the heap in use grew by %d MiB at most", grew>>20)
	if grew > 200<<20 {
		t.Errorf("the host's heap grew by %d MiB checking one plugin's answers", grew>>20)
	}
}

// watchHeap samples the heap in use every few milliseconds from now until
// the function it returns is called, which returns the most it grew over
// what it was at the start (after a collection), in bytes.
func watchHeap() func() int64 {
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	return func() int64 {
		close(stop)
		<-sampled
		return int64(peak.Load()) - int64(base.HeapInuse)
	}
}
