package airlock_test

import (
	"strings"
	"testing"
	"time"

	"github.com/airlock-go/airlock"
	"github.com/airlock-go/airlock/internal/testutil"
)

const goGuestManifest = `
name = "goguest"
version = "1.0.0"
tier = "wasm"
protocol = 1
entry = "goguest.wasm"
functions = ["echo", "membomb", "panic", "kv", "print", "asset", "plant"]

[capabilities]
optional = ["kv"]
`

// A wasm plugin reaches the host only through grant-checked host
// functions, and a denial is audited like a process plugin's.
func TestWasmHostCallsAreCheckedAndAudited(t *testing.T) {
	module := testutil.GoWasm(t, "internal/wasm/testdata/goguest")
	dir := testutil.PluginDir(t, goGuestManifest, map[string]string{"goguest.wasm": module})

	h, rec := newHost(t, airlock.Options{})
	load(t, h, airlock.PluginConfig{Path: dir, Grants: []string{"kv"}}) // compiling the module takes a while under -race
	ctx := ctxT(t, 60*time.Second)
	out, err := h.Call(ctx, "goguest", "kv", map[string]any{"value": 7})
	if err != nil || string(out) != `{"found":true,"value":7}` {
		t.Fatalf("granted kv round trip: %s, %v", out, err)
	}

	h2, rec2 := newHost(t, airlock.Options{})
	load(t, h2, airlock.PluginConfig{Path: dir})
	_, err = h2.Call(ctx, "goguest", "kv", map[string]any{"value": 7})
	if err == nil || !strings.Contains(err.Error(), `capability "kv" not granted to plugin goguest`) {
		t.Errorf("denied kv: err = %v", err)
	}
	if ev := rec2.events(); len(ev) != 1 || ev[0].Plugin != "goguest" || ev[0].Function != "kv.set" || ev[0].Capability != "kv" {
		t.Errorf("audit = %+v", ev)
	}
	if len(rec.events()) != 0 {
		t.Errorf("the granted host audited %+v", rec.events())
	}
}
