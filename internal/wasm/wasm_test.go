package wasm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/airlock-go/airlock/internal/capability"
	"github.com/airlock-go/airlock/internal/manifest"
	"github.com/airlock-go/airlock/internal/testutil"
	"github.com/airlock-go/airlock/internal/tier"
	"github.com/airlock-go/airlock/protocol"
)

// shared compiles each module once for the whole package, into the
// default cache, as hosts do: compiling a Go-built module takes seconds,
// a minute under the race detector (CI compiles them into that cache
// first: internal/testutil/warmwasm). The tests of the cache itself use
// their own directories.
var shared *Starter

func TestMain(m *testing.M) {
	var err error
	shared, err = NewStarter(Options{})
	if err != nil {
		panic(err)
	}
	code := m.Run()
	shared.Close(context.Background())
	testutil.Cleanup()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutines leaked:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// fakeHost records host function calls and grants only what it is told.
type fakeHost struct {
	mu      sync.Mutex
	calls   []string
	denied  []string
	granted capability.Set
	kv      map[string]json.RawMessage
	inputs  []json.RawMessage     // every input a granted call got
	ctxs    []context.Context     // every call's context, kept past the call
	hold    func(context.Context) // if set, run by every kv.set before it answers
}

func (f *fakeHost) call(ctx context.Context, fn string, input json.RawMessage) (json.RawMessage, error) {
	f.mu.Lock()
	hold := f.hold
	f.mu.Unlock()
	if hold != nil && fn == "kv.set" {
		hold(ctx)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ctxs = append(f.ctxs, ctx)
	cap := map[string]string{"log": "log", "kv.set": "kv", "kv.get": "kv", "secret.read": "secret.read"}[fn]
	if !f.granted.AllowsString(cap) {
		f.denied = append(f.denied, fn)
		return nil, protocol.Errorf(protocol.CodeDenied, "capability %q not granted (needed by %s)", cap, fn)
	}
	f.calls = append(f.calls, fn)
	f.inputs = append(f.inputs, input)
	switch fn {
	case "kv.set":
		var in struct {
			Key   string          `json:"key"`
			Value json.RawMessage `json:"value"`
		}
		json.Unmarshal(input, &in)
		f.kv[in.Key] = in.Value
		return json.RawMessage("null"), nil
	case "kv.get":
		var in struct{ Key string }
		json.Unmarshal(input, &in)
		return json.Marshal(map[string]any{"value": f.kv[in.Key], "found": true})
	}
	return json.RawMessage("null"), nil
}

type env struct {
	t     *testing.T
	host  *fakeHost
	logs  *bytes.Buffer
	mu    sync.Mutex
	paced atomic.Int64 // waits reported to tier.Spec.Paced
}

func (e *env) log() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.logs.String()
}

type lockedBuffer struct {
	e *env
}

func (l lockedBuffer) Write(p []byte) (int, error) {
	l.e.mu.Lock()
	defer l.e.mu.Unlock()
	return l.e.logs.Write(p)
}

// start starts module at path under manifest text with grants and limits.
func start(t *testing.T, s *Starter, manifestText, path string, grants []string, limits tier.Limits) (tier.Instance, *env, error) {
	t.Helper()
	dir := t.TempDir()
	m, err := manifest.Parse("plugin.toml", []byte(manifestText))
	if err != nil {
		t.Fatal(err)
	}
	set, err := capability.NewSet(grants)
	if err != nil {
		t.Fatal(err)
	}
	code, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, host: &fakeHost{granted: set, kv: map[string]json.RawMessage{}}, logs: &bytes.Buffer{}}
	config, err := m.ResolveConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	spec := tier.Spec{
		Manifest: m, Dir: dir, Name: m.Name, Code: code, Config: config, Grants: set,
		Functions: []string{"log", "kv.get", "kv.set"},
		Limits:    limits.WithDefaults(),
		Log:       slog.New(slog.NewTextHandler(lockedBuffer{e}, nil)).With("plugin", m.Name),
		Host:      e.host.call,
		Paced:     func(time.Duration) { e.paced.Add(1) },
	}
	inst, err := s.Start(context.Background(), spec)
	if err == nil {
		t.Cleanup(func() { inst.Stop(context.Background()) })
	}
	return inst, e, err
}

func newStarter(*testing.T) *Starter { return shared }

func example(t *testing.T, name string) (manifestText, module string) {
	t.Helper()
	root := testutil.Root()
	text, err := os.ReadFile(filepath.Join(root, "examples/plugins", name, "plugin.toml"))
	if err != nil {
		t.Fatal(err)
	}
	switch name {
	case "hello-wasm-go":
		return string(text), testutil.GoWasm(t, "examples/plugins/hello-wasm-go")
	default:
		return string(text), testutil.CWasm(t, name, []string{"-I", "sdk/c"}, "examples/plugins/hello-wasm-c/hello.c", "sdk/c/airlock.c")
	}
}

func call(inst tier.Instance, name string, input any, timeout time.Duration) (json.RawMessage, error) {
	raw, _ := json.Marshal(input)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return inst.Call(ctx, protocol.CallParams{Name: name, Phase: "define", Input: raw})
}

func TestGreetBothLanguages(t *testing.T) {
	s := newStarter(t)
	for _, name := range []string{"hello-wasm-go", "hello-wasm-c"} {
		t.Run(name, func(t *testing.T) {
			text, module := example(t, name)
			inst, e, err := start(t, s, text, module, []string{"log"}, tier.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			out, err := call(inst, "greet", map[string]string{"name": "ada"}, 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != `{"message":"hello, ada"}` {
				t.Errorf("greet = %s", out)
			}
			if len(e.host.calls) != 1 || e.host.calls[0] != "log" {
				t.Errorf("host calls = %v, want one log", e.host.calls)
			}
		})
	}
}

func TestHostCallDenied(t *testing.T) {
	s := newStarter(t)
	for _, name := range []string{"hello-wasm-go", "hello-wasm-c"} {
		t.Run(name, func(t *testing.T) {
			text, module := example(t, name)
			// Started without the log grant (the manifest requires it, but
			// at the tier level nothing checks that: the host function
			// refuses, as it would for an optional capability).
			inst, e, err := start(t, s, text, module, nil, tier.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			_, err = call(inst, "greet", map[string]string{"name": "ada"}, 10*time.Second)
			var re *protocol.Error
			if !errors.As(err, &re) || re.Code != protocol.CodeDenied {
				t.Fatalf("err = %v, want the guest to pass on the denial (code -32001)", err)
			}
			if len(e.host.denied) != 1 || e.host.denied[0] != "log" {
				t.Errorf("denials = %v", e.host.denied)
			}
		})
	}
}

func TestHostCallRoundTrip(t *testing.T) {
	s := newStarter(t)
	inst, _, err := start(t, s, goGuestManifest, testutil.GoWasm(t, "internal/wasm/testdata/goguest"), []string{"kv"}, tier.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	out, err := call(inst, "kv", map[string]any{"value": 42}, 10*time.Second)
	if err != nil || string(out) != `{"found":true,"value":42}` {
		t.Errorf("kv round trip = %s, %v", out, err)
	}
}

// A host function that keeps its context past the call sees it ended,
// and never the next call's: an instance's calls share its state
// (callState), which host functions are not given (threat: a host
// function acting later for a call that has ended, under another
// caller's context: its values, its trace, its deadline).
func TestHostFunctionContextEndsWithTheCall(t *testing.T) {
	s := newStarter(t)
	inst, e, err := start(t, s, goGuestManifest, testutil.GoWasm(t, "internal/wasm/testdata/goguest"), []string{"kv"}, tier.Limits{MaxInflight: 1})
	if err != nil {
		t.Fatal(err)
	}
	type caller struct{}
	for _, who := range []string{"first", "second"} {
		ctx, cancel := context.WithTimeout(context.WithValue(context.Background(), caller{}, who), 10*time.Second)
		_, err := inst.Call(ctx, protocol.CallParams{Name: "kv", Input: json.RawMessage(`{"value":1}`)})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	e.host.mu.Lock()
	defer e.host.mu.Unlock()
	if len(e.host.ctxs) < 2 {
		t.Fatalf("%d host calls, want some of each call", len(e.host.ctxs))
	}
	first := e.host.ctxs[0]
	if got := first.Value(caller{}); got != "first" {
		t.Errorf("the first call's host function's context now holds %v, want the first caller's", got)
	}
	if first.Err() == nil {
		t.Error("the first call's host function's context has not ended with the call")
	}
}

// A plugin's calls in flight are bounded by max_inflight (its slots):
// one beyond waits for a slot within its own context, and is told so.
func TestInflightLimit(t *testing.T) {
	s := newStarter(t)
	inst, e, err := start(t, s, goGuestManifest, testutil.GoWasm(t, "internal/wasm/testdata/goguest"), []string{"kv"}, tier.Limits{MaxInflight: 2, CallTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	var running, most atomic.Int32
	release := make(chan struct{})
	e.host.mu.Lock()
	e.host.hold = func(ctx context.Context) {
		n := running.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		select {
		case <-release:
		case <-ctx.Done():
		}
		running.Add(-1)
	}
	e.host.mu.Unlock()
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for range 2 {
		wg.Go(func() {
			if _, err := call(inst, "kv", map[string]any{"value": 1}, time.Minute); err != nil {
				errs <- err
			}
		})
	}
	for deadline := time.Now().Add(10 * time.Second); running.Load() < 2 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	_, err = call(inst, "kv", map[string]any{"value": 1}, 200*time.Millisecond)
	if !errors.Is(err, tier.ErrDeadline) || !strings.Contains(err.Error(), "free slot") {
		t.Errorf("a third call = %v, want it to wait for a free slot", err)
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := most.Load(); n != 2 {
		t.Errorf("at most %d calls ran at once, want 2", n)
	}
	if _, err := call(inst, "kv", map[string]any{"value": 1}, 10*time.Second); err != nil {
		t.Errorf("a call after the slots were given back: %v", err)
	}
}

const goGuestManifest = `
name = "goguest"
version = "1.0.0"
tier = "wasm"
protocol = 1
entry = "goguest.wasm"
functions = ["echo", "membomb", "panic", "kv", "print", "asset", "plant"]
`

const evilManifest = `
name = "evil"
version = "1.0.0"
tier = "wasm"
protocol = 1
entry = "evil.wasm"
functions = ["attack"]
`

func evil(t *testing.T, flags ...string) string {
	name := "evil"
	if len(flags) > 0 {
		name = "evil-forbidden"
	}
	return testutil.CWasm(t, name, flags, "internal/wasm/testdata/evil/evil.c")
}

func TestForbiddenImportRefusedBeforeRunning(t *testing.T) {
	s := newStarter(t)
	_, _, err := start(t, s, evilManifest, evil(t, "-DFORBIDDEN_IMPORT", "-Wl,--allow-undefined"), nil, tier.Limits{})
	if !errors.Is(err, tier.ErrStart) || !strings.Contains(err.Error(), "imports env.system") {
		t.Fatalf("err = %v, want the forbidden import named", err)
	}
}

func TestMissingExportsRefused(t *testing.T) {
	s := newStarter(t)
	// A module with nothing of the contract: wazero's smallest valid module.
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.wasm")
	os.WriteFile(empty, []byte{0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00}, 0o644)
	_, _, err := start(t, s, evilManifest, empty, nil, tier.Limits{})
	for _, want := range []string{"does not export airlock_alloc", "does not export airlock_call", `does not export its memory`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to say %q", err, want)
		}
	}
	os.WriteFile(empty, []byte("not wasm at all"), 0o644)
	if _, _, err := start(t, s, evilManifest, empty, nil, tier.Limits{}); !errors.Is(err, tier.ErrStart) || !strings.Contains(err.Error(), "not a valid WebAssembly module") {
		t.Errorf("garbage module: err = %v", err)
	}
}

// Each attack fails its call with a typed error, and the next call works
// on a fresh instance.
func TestHostileGuests(t *testing.T) {
	s := newStarter(t)
	// The deadline is what stops "loop"; the other attacks must end on
	// their own well before it, which under -race on a loaded machine
	// took "recurse" over 300 ms.
	limits := tier.Limits{CallTimeout: 2 * time.Second, MaxMemory: 32 << 20, MaxMessage: 1 << 20}
	cases := []struct {
		attack string
		want   error
		say    string
	}{
		{"loop", tier.ErrDeadline, "no answer within"},
		{"trap", tier.ErrCrashed, "unreachable"},
		{"recurse", tier.ErrCrashed, "trap"},
		{"oob", tier.ErrViolation, "out-of-bounds result"},
		{"huge", tier.ErrResourceCaps, "exceeds the limit"},
		{"garbage", tier.ErrViolation, "not a result envelope"},
	}
	inst, _, err := start(t, s, evilManifest, evil(t), nil, limits)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.attack, func(t *testing.T) {
			start := time.Now()
			_, err := call(inst, c.attack, nil, 10*time.Second)
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.say) {
				t.Errorf("err = %v, want %v saying %q", err, c.want, c.say)
			}
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("took %v", took)
			}
			if out, err := call(inst, "fine", nil, 10*time.Second); err != nil || string(out) != `"ok"` {
				t.Errorf("the next call: %s, %v", out, err)
			}
		})
	}
}

func TestMemoryGrowStopsAtCap(t *testing.T) {
	s := newStarter(t)
	inst, _, err := start(t, s, evilManifest, evil(t), nil, tier.Limits{MaxMemory: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	out, err := call(inst, "grow", nil, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var pages int
	json.Unmarshal(out, &pages)
	// The cap holds the module's tables and call stack too.
	fixed := inst.(*plugin).tableBytes + inst.(*plugin).recordBytes + inst.(*plugin).stackBytes
	if want := int((4<<20 - fixed) / pageSize); pages != want {
		t.Errorf("memory grew to %d pages, want it stopped at %d pages: the 4 MiB cap less %d bytes of tables and stack", pages, want, fixed)
	}
}

func TestGoGuestMemoryBombAndPanic(t *testing.T) {
	s := newStarter(t)
	inst, _, err := start(t, s, goGuestManifest, testutil.GoWasm(t, "internal/wasm/testdata/goguest"), nil, tier.Limits{MaxMemory: 64 << 20, CallTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := call(inst, "membomb", nil, 20*time.Second); !errors.Is(err, tier.ErrCrashed) {
		t.Errorf("membomb: err = %v, want ErrCrashed", err)
	}
	_, err = call(inst, "panic", nil, 10*time.Second)
	var re *protocol.Error
	if !errors.As(err, &re) || !strings.Contains(re.Message, "the guest panics") {
		t.Errorf("panic: err = %v, want the plugin's error", err)
	}
	if out, err := call(inst, "echo", "still here", 10*time.Second); err != nil || string(out) != `"still here"` {
		t.Errorf("after the attacks: %s, %v", out, err)
	}
}

func TestConcurrentCallsThroughPool(t *testing.T) {
	s := newStarter(t)
	inst, _, err := start(t, s, goGuestManifest, testutil.GoWasm(t, "internal/wasm/testdata/goguest"), nil, tier.Limits{MaxInflight: 4})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				want := fmt.Sprintf(`"g%d-%d-%s"`, g, i, strings.Repeat("y", i))
				out, err := call(inst, "echo", json.RawMessage(want), 20*time.Second)
				if err != nil || string(out) != want {
					t.Errorf("echo %s = %s, %v", want, out, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	p := inst.(*plugin)
	count := p.alive()
	if count > 4 {
		t.Errorf("%d instances for 4 calls in flight", count)
	}
}

func TestWarmCacheDoesNotRecompile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	text, module := example(t, "hello-wasm-c")
	snapshot := func() map[string]time.Time {
		files := map[string]time.Time{}
		filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
			if err == nil && !info.IsDir() {
				files[path] = info.ModTime()
			}
			return nil
		})
		return files
	}
	run := func() {
		s, err := NewStarter(Options{CacheDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close(context.Background())
		inst, _, err := start(t, s, text, module, []string{"log"}, tier.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		inst.Stop(context.Background())
	}
	run() // cold: compiles and writes the cache
	cold := snapshot()
	if len(cold) == 0 {
		t.Fatal("the first start wrote nothing to the compilation cache")
	}
	time.Sleep(20 * time.Millisecond) // so that a rewrite would change mtimes
	run()                             // warm: a new runtime, as in a new host process
	warm := snapshot()
	if len(warm) != len(cold) {
		t.Errorf("cache files: %d after the cold start, %d after the warm one", len(cold), len(warm))
	}
	for path, mtime := range cold {
		if !warm[path].Equal(mtime) {
			t.Errorf("%s was rewritten by the warm start: it compiled again", path)
		}
	}
}

func TestCacheDirMustBePrivate(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows has ACLs, not Unix modes: the default cache is under the user's own %LOCALAPPDATA%")
	}
	dir := filepath.Join(t.TempDir(), "shared")
	os.MkdirAll(dir, 0o777)
	os.Chmod(dir, 0o777)
	if _, err := NewStarter(Options{CacheDir: dir}); err == nil || !strings.Contains(err.Error(), "writable by others") {
		t.Errorf("err = %v, want a world-writable cache refused", err)
	}
}

func TestGuestStdoutGoesToLog(t *testing.T) {
	s := newStarter(t)
	inst, e, err := start(t, s, goGuestManifest, testutil.GoWasm(t, "internal/wasm/testdata/goguest"), nil, tier.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := call(inst, "print", nil, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(e.log(), "printed to stdout by the guest") || !strings.Contains(e.log(), "plugin=goguest") {
		t.Errorf("guest's stdout not in the host's log:\n%s", e.log())
	}
}

// A guest's host call input reaches the host function only as the process
// tier's decoder would let it through: one valid JSON value, valid UTF-8,
// no member twice, no deeper than the decoder's limit. Otherwise the
// guest gets -32602 and the function never runs.
func TestHostCallInputIsValidJSON(t *testing.T) {
	s := newStarter(t)
	inst, e, err := start(t, s, evilManifest, evil(t), []string{"kv"}, tier.Limits{MaxMemory: 32 << 20})
	if err != nil {
		t.Fatal(err)
	}
	out, err := call(inst, "badinput", nil, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != "[-32602,-32602,-32602,-32602,-32602,-32602]" {
		t.Errorf("the guest's bad inputs were answered %s; want every one refused with -32602", out)
	}
	e.host.mu.Lock()
	defer e.host.mu.Unlock()
	for _, in := range e.host.inputs {
		t.Errorf("the host function got %.60q", in)
	}
}

// The host functions misused (evil.c "abi"): pointers and lengths that
// wrap or pass the end of memory, host_result with no answer to copy.
// Each is refused inside the guest; the host neither panics nor writes
// where it should not, and the next call works.
func TestHostCallMisuse(t *testing.T) {
	s := newStarter(t)
	inst, e, err := start(t, s, evilManifest, evil(t), []string{"kv"}, tier.Limits{MaxMemory: 32 << 20})
	if err != nil {
		t.Fatal(err)
	}
	out, err := call(inst, "abi", nil, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	if err := json.Unmarshal(out, &got); err != nil || len(got) != 5 {
		t.Fatalf("answer %s, %v", out, err)
	}
	if got[0] == 0 || got[1] == 0 || got[2] == 0 || got[4] != 1 {
		t.Errorf("answer lengths and canary %v: want each host_call answered and the canary untouched", got)
	}
	e.host.mu.Lock()
	calls := slices.Clone(e.host.calls)
	e.host.mu.Unlock()
	if !slices.Equal(calls, []string{"kv.get"}) {
		t.Errorf("host functions run: %q; want only the well-formed kv.get", calls)
	}
	if out, err := call(inst, "fine", nil, 10*time.Second); err != nil || string(out) != `"ok"` {
		t.Errorf("the next call: %s, %v", out, err)
	}
}

// A host call made while the instance starts (in _initialize, before any
// call) is refused: host functions run only for a call, under its
// deadline, and host_result then copies nothing.
func TestHostCallDuringInitRefused(t *testing.T) {
	s := newStarter(t)
	t.Setenv(atStart, "hostcall")
	inst, e, err := start(t, s, evilManifest, evil(t), []string{"kv", atStartGrant}, tier.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	out, err := call(inst, "initcall", nil, 10*time.Second)
	// The refusal's length, and nothing copied (there is no call to
	// keep an answer for).
	var got []json.RawMessage
	if err != nil || json.Unmarshal(out, &got) != nil || len(got) != 2 || string(got[0]) == "0" || string(got[1]) != "null" {
		t.Errorf("the host call in _initialize: %s, %v; want refused, nothing copied", out, err)
	}
	e.host.mu.Lock()
	defer e.host.mu.Unlock()
	if len(e.host.calls) != 0 {
		t.Errorf("host functions run: %q", e.host.calls)
	}
}

// A host call naming a function 32 MiB long (the guest's memory is the
// only bound on the name) does not make the host copy the name: ten of
// them allocate little of the host's memory, and the host sees a name
// cut short, unknown. Threat: a guest making the host allocate its
// memory's size at every host call, up to host_calls_per_second times a
// second, in every instance.
func TestHostCallLongNameNotCopied(t *testing.T) {
	s := newStarter(t)
	inst, e, err := start(t, s, evilManifest, evil(t), nil, tier.Limits{MaxMemory: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	// The first call grows the guest's memory (a host allocation of its
	// own, charged to the budget); the second is measured.
	for i := range 2 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		out, err := call(inst, "longname", nil, 20*time.Second)
		runtime.ReadMemStats(&after)
		if err != nil || string(out) == "0" {
			t.Fatalf("longname: %s, %v", out, err)
		}
		if grew := after.TotalAlloc - before.TotalAlloc; i == 1 && grew > 16<<20 {
			t.Errorf("ten host calls with a name of 32 MiB allocated %d MiB of the host's memory", grew>>20)
		}
	}
	e.host.mu.Lock()
	defer e.host.mu.Unlock()
	if len(e.host.denied) != 20 || len(e.host.denied[0]) != maxHostFuncName {
		t.Fatalf("the host refused %d calls; want 20, each named with %d bytes", len(e.host.denied), maxHostFuncName)
	}
}

// A guest calling a host function with the same large input over and
// over (which costs it nothing: the input stays where it is in its
// memory, while the host checks it at every call) has its host calls
// paced at host_call_bytes_per_second: within the call's deadline the
// host takes only what the rate allows, and the calls past it fail at
// once with -32005 rather than wait past the deadline.
func TestHostCallBytesPaced(t *testing.T) {
	s := newStarter(t)
	limits := tier.Limits{MaxMemory: 64 << 20, MaxMessage: 1 << 20, HostCallBytesPerSec: 1 << 20}
	inst, e, err := start(t, s, evilManifest, evil(t), []string{"log"}, limits)
	if err != nil {
		t.Fatal(err)
	}
	// Not a multiple of the half second a paced input waits: the last
	// wait ends 250 ms before the deadline, not at it (where a coarse
	// timer, as under wine, would end it after the deadline).
	const deadline = 1750 * time.Millisecond
	begin := time.Now()
	out, err := call(inst, "biginput", nil, deadline)
	elapsed := time.Since(begin)
	var got [2]int
	if err != nil || json.Unmarshal(out, &got) != nil {
		t.Fatalf("biginput: %s, %v; want [answered, paced]", out, err)
	}
	t.Logf("in %v: %d host calls answered, %d refused with -32005", elapsed, got[0], got[1])
	// A burst of 1 MiB and a byte (two inputs of 512 KiB), then 1 MiB a
	// second (two more a second) within the deadline.
	if most := 2 + int(2*deadline.Seconds()); got[0] > most || got[0] < 2 {
		t.Errorf("%d host calls of 512 KiB answered in %v, want 2 to %d (1 MiB a second after a burst of 1 MiB)", got[0], elapsed, most)
	}
	if got[0]+got[1] != 1000 {
		t.Errorf("answered %d, paced %d: want the other calls refused with -32005", got[0], got[1])
	}
	if elapsed > deadline+time.Second {
		t.Errorf("the call took %v with a deadline of %v: a paced host call waited past it", elapsed, deadline)
	}
	// The host was told of each wait begun: every input answered past the
	// burst's two.
	if n := e.paced.Load(); n != int64(got[0]-2) {
		t.Errorf("the host was told of %d waits for the rate, want %d", n, got[0]-2)
	}
	e.host.mu.Lock()
	defer e.host.mu.Unlock()
	if len(e.host.inputs) != got[0] {
		t.Errorf("the host function ran %d times, the guest saw %d answers", len(e.host.inputs), got[0])
	}
}

// A guest whose host calls wait for the rate is stopped with its plugin:
// the wait ends, and the call returns, when the plugin stops, not at the
// call's deadline.
func TestPacedHostCallEndsWithPlugin(t *testing.T) {
	s := newStarter(t)
	// A burst of 1 MiB (two inputs of 512 KiB), then 128 KiB a second:
	// the third input waits 4 s.
	limits := tier.Limits{MaxMemory: 64 << 20, MaxMessage: 1 << 20, HostCallBytesPerSec: 128 << 10}
	inst, _, err := start(t, s, evilManifest, evil(t), []string{"log"}, limits)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		err error
		at  time.Time
	}
	done := make(chan result, 1)
	go func() {
		_, err := call(inst, "biginput", nil, time.Minute)
		done <- result{err, time.Now()}
	}()
	time.Sleep(700 * time.Millisecond) // past the burst, into the first wait
	stopped := time.Now()
	if err := inst.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-done:
		if r.err == nil {
			t.Errorf("the call succeeded; want it stopped with its plugin")
		}
		if d := r.at.Sub(stopped); d > time.Second {
			t.Errorf("the call returned %v after its plugin stopped", d)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the call has not returned 20 s after its plugin stopped: a paced host call waits on")
	}
}

// WASI calls naming a path 32 MiB long (the guest's memory is the only
// bound on it) fail with ENAMETOOLONG before the host copies the path:
// ten of them allocate little of the host's memory. Threat: a guest
// making the host allocate its memory's size (and more: the path is
// copied, cleaned and resolved) at every path_open, path_filestat_get
// and the rest, in every instance, with no grant (its own files are
// always mounted).
func TestWASILongPathNotCopied(t *testing.T) {
	s := newStarter(t)
	inst, _, err := start(t, s, evilManifest, evil(t), nil, tier.Limits{MaxMemory: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	const enametoolong = 37
	for i := range 2 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		out, err := call(inst, "longpath", nil, 20*time.Second)
		runtime.ReadMemStats(&after)
		if err != nil || string(out) != fmt.Sprint(enametoolong) {
			t.Fatalf("longpath: %s, %v; want errno ENAMETOOLONG (%d)", out, err, enametoolong)
		}
		if grew := after.TotalAlloc - before.TotalAlloc; i == 1 && grew > 16<<20 {
			t.Errorf("ten WASI calls with a path of 32 MiB allocated %d MiB of the host's memory", grew>>20)
		}
	}
}

// pathLengths names, for each of wazero's WASI functions that take
// paths, the parameters that are the paths' lengths, and no function
// that takes a path is left out. (fd_prestat_dir_name's result.path_len
// is the room the guest gives for a name the host writes.)
func TestPathLengthsMatchWazero(t *testing.T) {
	checkLengthParams(t, pathLengths, func(p string) bool {
		return strings.HasSuffix(p, "path_len") && !strings.HasPrefix(p, "result.")
	})
}

// checkLengthParams fails t unless lengths names, for every one of
// wazero's WASI functions, exactly the positions of the parameters that
// is says.
func checkLengthParams(t *testing.T, lengths map[string][]int, is func(param string) bool) {
	t.Helper()
	fns, err := wazeroWASI()
	if err != nil {
		t.Fatal(err)
	}
	for name, def := range fns {
		var want []int
		for i, p := range def.ParamNames() {
			if is(p) {
				want = append(want, i)
			}
		}
		if got := lengths[name]; !slices.Equal(got, want) {
			t.Errorf("%s%v: the table has %v, want %v", name, def.ParamNames(), got, want)
		}
	}
}

// vectorLengths names, for each of wazero's WASI functions that take
// vectors of buffers, the parameter that is the vector's length.
func TestVectorLengthsMatchWazero(t *testing.T) {
	checkLengthParams(t, vectorLengths, func(p string) bool {
		return strings.HasSuffix(p, "iovs_len") || strings.HasSuffix(p, "_data_len")
	})
}

// The WASI calls whose work is the host's, where the guest's checks
// cannot stop it, are bounded: a write of sixteen million empty buffers
// fails with EINVAL (IOV_MAX is 1,024) before wazero writes any, and a
// random_get of 256 MiB ends at the call's deadline (it took 700 ms past
// a deadline of 50 ms, in one piece). Threat: a guest holding its call
// and a core far past its deadline from inside a host function.
func TestWASIHostWorkBounded(t *testing.T) {
	s := newStarter(t)
	inst, _, err := start(t, s, evilManifest, evil(t), nil, tier.Limits{MaxMemory: 512 << 20})
	if err != nil {
		t.Fatal(err)
	}
	const einval = 28
	if out, err := call(inst, "manyiovs", nil, 10*time.Second); err != nil || string(out) != fmt.Sprint(einval) {
		t.Errorf("fd_write of sixteen million buffers: %s, %v; want EINVAL (%d)", out, err, einval)
	}
	// Once with time to finish, so that the guest's memory has grown to
	// hold the buffer (memory.grow is one instruction, not stopped in
	// its middle), then under a deadline.
	if _, err := call(inst, "bigrandom", nil, 10*time.Second); err != nil {
		t.Fatalf("random_get of 256 MiB: %v", err)
	}
	begin := time.Now()
	_, err = call(inst, "bigrandom", nil, 50*time.Millisecond)
	if took := time.Since(begin); !errors.Is(err, tier.ErrDeadline) || took > 250*time.Millisecond {
		t.Errorf("random_get of 256 MiB under a deadline of 50ms: %v after %v; want the deadline, within 250ms", err, took)
	}
}
