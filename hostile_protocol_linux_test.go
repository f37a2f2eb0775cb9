package airlock_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/airlock-go/airlock"
	"github.com/airlock-go/airlock/internal/testutil"
)

// The hostile-protocol suite: a plugin (testdata/plugins/liar) that lies
// on the wire in one way per case. The promise under test: whatever it
// writes, the host answers its caller with one typed error (or the call's
// answer) within a bounded time, and the plugin's next call works, on a
// restarted process if the first was stopped. TestMain checks that no
// goroutine is left behind.

const liarManifest = `
name = "liar"
version = "1.0.0"
tier = "process"
protocol = 1
entry = "liar"
functions = ["poke"]
[capabilities]
optional = ["log", "kv"]
[platform.windows]
entry = "liar.exe"
`

// liarScript is the liar's input: what to do during the call.
type liarScript struct {
	Write   []byte          `json:"write,omitempty"`
	Then    string          `json:"then,omitempty"`
	N       int             `json:"N,omitempty"`
	Par     int             `json:"Par,omitempty"`
	Method  string          `json:"Method,omitempty"`
	Params  json.RawMessage `json:"Params,omitempty"`
	Notify  bool            `json:"Notify,omitempty"`
	DelayMS int             `json:"delay_ms,omitempty"`
	Pad     int             `json:"Pad,omitempty"`
	Deaf    bool            `json:"Deaf,omitempty"`
}

var liarLimits = airlock.Limits{
	MaxMessageBytes: 1 << 20,
	CallTimeout:     airlock.Duration(2 * time.Second),
	CancelGrace:     airlock.Duration(300 * time.Millisecond),
	StartTimeout:    airlock.Duration(5 * time.Second),
}

func loadLiar(t *testing.T, handshake string, limits airlock.Limits) (*airlock.Host, *recorder, error) {
	t.Helper()
	bin := testutil.GoBinary(t, "testdata/plugins/liar")
	files := map[string]string{exe("liar"): bin}
	if handshake != "" {
		files["handshake"] = filepath.Join(t.TempDir(), "handshake")
		if err := os.WriteFile(files["handshake"], []byte(handshake), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dir := testutil.PluginDir(t, liarManifest, files)
	h, rec := newHostWith(t, airlock.Config{Restart: airlock.RestartPolicy{Backoff: airlock.Duration(10 * time.Millisecond)}}, airlock.Options{})
	conf := airlock.PluginConfig{Path: dir, Grants: []string{"log", "kv"}, Limits: limits}
	_, err := h.Load(context.Background(), conf)
	return h, rec, err
}

func TestHostileProtocolLies(t *testing.T) {
	const ok = `{"jsonrpc":"2.0","id":$ID,"result":"ok"}`
	deep := strings.Repeat("[", 100000) + strings.Repeat("]", 100000)
	cases := []struct {
		name  string
		write string
		then  string
		want  error  // nil: the call succeeds
		say   string // in the error, or the result
	}{
		{"unknown id", `{"jsonrpc":"2.0","id":424242,"result":1}` + "\n", "none", airlock.ErrProtocol, "unknown or already answered id"},
		{"old id (the handshake's)", `{"jsonrpc":"2.0","id":1,"result":1}` + "\n", "none", airlock.ErrProtocol, "unknown or already answered id"},
		{"id as a string", `{"jsonrpc":"2.0","id":"$ID","result":1}` + "\n", "none", airlock.ErrProtocol, "not one we sent"},
		{"id as a float", `{"jsonrpc":"2.0","id":$ID.0,"result":1}` + "\n", "none", airlock.ErrProtocol, "not one we sent"},
		{"id as an exponent", `{"jsonrpc":"2.0","id":$IDe0,"result":1}` + "\n", "none", airlock.ErrProtocol, "not one we sent"},
		{"huge id", `{"jsonrpc":"2.0","id":99999999999999999999999999,"result":1}` + "\n", "none", airlock.ErrProtocol, "not one we sent"},
		{"negative zero id", `{"jsonrpc":"2.0","id":-0,"result":1}` + "\n", "none", airlock.ErrProtocol, "unknown or already answered id"},
		{"null id with an error", `{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse error"}}` + "\n", "none", airlock.ErrProtocol, "not one we sent"},
		{"id as an object", `{"jsonrpc":"2.0","id":{"$ID":1},"result":1}` + "\n", "none", airlock.ErrProtocol, "not one we sent"},
		{"result and error", `{"jsonrpc":"2.0","id":$ID,"result":1,"error":{"code":1,"message":"x"}}` + "\n", "none", airlock.ErrProtocol, "neither a request nor a response"},
		{"neither result nor error", `{"jsonrpc":"2.0","id":$ID}` + "\n", "none", airlock.ErrProtocol, "neither a request nor a response"},
		{"answered twice", ok + "\n" + ok + "\n", "none", nil, `"ok"`},
		{"batch", `[` + ok + `]` + "\n", "none", airlock.ErrProtocol, "not a JSON-RPC message"},
		{"no jsonrpc member", `{"id":$ID,"result":"ok"}` + "\n", "none", airlock.ErrProtocol, `missing "jsonrpc"`},
		{"jsonrpc 1.0", `{"jsonrpc":"1.0","id":$ID,"result":"ok"}` + "\n", "none", airlock.ErrProtocol, `missing "jsonrpc"`},
		{"duplicate member", `{"jsonrpc":"2.0","id":$ID,"result":1,"result":2}` + "\n", "none", airlock.ErrProtocol, "duplicate"},
		{"duplicate member deep in the result", `{"jsonrpc":"2.0","id":$ID,"result":{"a":[{"b":1,"b":2}]}}` + "\n", "none", airlock.ErrProtocol, "duplicate"},
		{"member names differing in case", `{"jsonrpc":"2.0","ID":$ID,"id":$ID,"Result":1,"result":"ok"}` + "\n", "none", nil, `"ok"`},
		{"lone surrogate", `{"jsonrpc":"2.0","id":$ID,"result":"\ud800"}` + "\n", "none", airlock.ErrProtocol, "invalid JSON"},
		{"NUL byte in a string", "{\"jsonrpc\":\"2.0\",\"id\":$ID,\"result\":\"a\x00b\"}\n", "none", airlock.ErrProtocol, "invalid JSON"},
		{"escaped NUL in a string", `{"jsonrpc":"2.0","id":$ID,"result":"a\u0000b"}` + "\n", "none", nil, `"a\u0000b"`},
		{"NUL byte outside a string", "{\"jsonrpc\":\"2.0\",\"id\":$ID,\"result\":1}\x00\n", "none", airlock.ErrProtocol, "invalid JSON"},
		{"huge number", `{"jsonrpc":"2.0","id":$ID,"result":1e999999}` + "\n", "none", nil, `1e999999`},
		{"deep nesting", `{"jsonrpc":"2.0","id":$ID,"result":` + deep + `}` + "\n", "none", airlock.ErrProtocol, "invalid JSON"},
		{"trailing garbage", ok + `{}` + "\n", "none", airlock.ErrProtocol, "invalid JSON"},
		{"crlf", ok + "\r\n", "none", nil, `"ok"`},
		{"bare cr between messages", ok + "\r" + ok + "\n", "none", airlock.ErrProtocol, "invalid JSON"},
		{"blank lines", "\n\n\r\n" + ok + "\n", "none", nil, `"ok"`},
		{"invalid UTF-8 in a member name", "{\"jsonrpc\":\"2.0\",\"id\":$ID,\"\xff\":1,\"result\":1}\n", "none", airlock.ErrProtocol, "UTF-8"},
		{"overlong UTF-8", "{\"jsonrpc\":\"2.0\",\"id\":$ID,\"result\":\"\xc0\xaf\"}\n", "none", airlock.ErrProtocol, "UTF-8"},
		{"UTF-8 BOM", "\xef\xbb\xbf" + ok + "\n", "none", airlock.ErrProtocol, "not a JSON-RPC message"},
		{"at the limit", fmt.Sprint("pad:", 1<<20), "none", nil, `"ok"`},
		{"one byte over the limit", fmt.Sprint("pad:", 1<<20+1), "none", airlock.ErrProtocol, "exceeds the limit"},
		{"slowloris: a line that never ends", `{"jsonrpc":"2.0","id":$ID,"res`, "none", airlock.ErrDeadline, "no answer within"},
		{"a request with the host's method call", `{"jsonrpc":"2.0","id":"x","method":"call","params":{"name":"poke"}}` + "\n", "ok", nil, `"ok"`},
		{"a notification with the host's method shutdown", `{"jsonrpc":"2.0","method":"shutdown"}` + "\n", "ok", nil, `"ok"`},
		{"a $/cancel for a host request", `{"jsonrpc":"2.0","method":"$/cancel","params":{"id":$ID}}` + "\n", "ok", nil, `"ok"`},
		{"a $/cancel with junk params", `{"jsonrpc":"2.0","method":"$/cancel","params":[[[1]]]}` + "\n", "ok", nil, `"ok"`},
		{"a request with a result", `{"jsonrpc":"2.0","id":"x","method":"log","result":1}` + "\n", "none", airlock.ErrProtocol, "neither a request nor a response"},
		{"a request id that is an array", `{"jsonrpc":"2.0","id":[1],"method":"log","params":{"level":"info","msg":"x"}}` + "\n", "none", airlock.ErrProtocol, "must be a number or a string"},
		{"a request id that is true", `{"jsonrpc":"2.0","id":true,"method":"log","params":{"level":"info","msg":"x"}}` + "\n", "none", airlock.ErrProtocol, "must be a number or a string"},
		{"method that is not a string", `{"jsonrpc":"2.0","id":"x","method":1}` + "\n", "none", airlock.ErrProtocol, "invalid JSON"},
		{"exit 0 mid-call", "", "exit0", airlock.ErrPluginCrashed, "exited with status 0"},
		{"crash mid-call", "", "crash", airlock.ErrPluginCrashed, "exited with status 3"},
		{"close stdout, stay alive", "", "closeout", airlock.ErrPluginCrashed, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pad := 0
			if n, ok := strings.CutPrefix(c.write, "pad:"); ok {
				fmt.Sscan(n, &pad)
				c.write = ""
			}
			h, _, err := loadLiar(t, "", liarLimits)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			raw, err := h.Call(ctxT(t, 20*time.Second), "liar", "poke", liarScript{Write: []byte(c.write), Then: c.then, Pad: pad})
			took := time.Since(start)
			switch {
			case c.want == nil && (err != nil || !strings.Contains(string(raw), c.say)):
				t.Errorf("got %.80s, %v; want a result with %q", raw, err, c.say)
			case c.want != nil && !errors.Is(err, c.want):
				// took tells a slow read of the long lines from a lost one
				// (a flake seen once: docs/DEVELOPING.md).
				t.Errorf("got %.80s, %v after %v; want %v", raw, err, took, c.want)
			case c.want != nil && (!strings.Contains(err.Error(), c.say) || !strings.Contains(err.Error(), "plugin liar")):
				t.Errorf("error %q does not name the plugin and say %q", err, c.say)
			}
			if took > 6*time.Second {
				t.Errorf("the host took %v to answer", took)
			}
			liarRecovers(t, h)
		})
	}
}

// liarRecovers checks that the liar answers a normal call, restarted if
// it was stopped.
func liarRecovers(t *testing.T, h *airlock.Host) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		raw, err := h.Call(ctxT(t, 5*time.Second), "liar", "poke", liarScript{Then: "ok"})
		if err == nil && string(raw) == `"ok"` {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the plugin does not answer after the attack: %s, %v", raw, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// errBrokenAfter: the handshake succeeds, and the plugin breaks the
// protocol right after it.
var errBrokenAfter = errors.New("broken after the handshake")

func TestHostileHandshakes(t *testing.T) {
	hooks := make([]string, 0, 60000)
	for i := range 60000 {
		hooks = append(hooks, fmt.Sprintf("hook%05d", i))
	}
	many, _ := json.Marshal(hooks)
	answer := func(result string) string {
		return `{"jsonrpc":"2.0","id":$ID,"result":` + result + `}` + "\n"
	}
	good := `{"protocol":1,"name":"liar","version":"1.0.0","hooks":["poke"]}`
	cases := []struct {
		name, write string
		want        error // nil: loads
		say         string
	}{
		{"another protocol version", answer(`{"protocol":2,"name":"liar","version":"1.0.0","hooks":["poke"]}`), airlock.ErrHandshake, "protocol"},
		{"protocol as a float", answer(`{"protocol":1.5,"name":"liar","version":"1.0.0","hooks":["poke"]}`), airlock.ErrHandshake, "initialize result"},
		{"protocol huge", answer(`{"protocol":1e999999,"name":"liar","version":"1.0.0","hooks":["poke"]}`), airlock.ErrHandshake, "initialize result"},
		{"60000 hooks", answer(`{"protocol":1,"name":"liar","version":"1.0.0","hooks":` + string(many) + `}`), airlock.ErrHandshake, "which its manifest does not declare"},
		{"the same hook twice", answer(`{"protocol":1,"name":"liar","version":"1.0.0","hooks":["poke","poke"]}`), nil, ""},
		{"a result that is an array", answer(`[1]`), airlock.ErrHandshake, "initialize result"},
		{"a result that is null", answer(`null`), airlock.ErrHandshake, ""},
		{"an error", `{"jsonrpc":"2.0","id":$ID,"error":{"code":-32000,"message":"no"}}` + "\n", airlock.ErrHandshake, "plugin refused: no"},
		{"an error with a huge message", `{"jsonrpc":"2.0","id":$ID,"error":{"code":-32000,"message":"` + strings.Repeat("n", 900<<10) + `"}}` + "\n", airlock.ErrHandshake, "plugin refused"},
		{"an id that is a string", `{"jsonrpc":"2.0","id":"$ID","result":` + good + `}` + "\n", airlock.ErrHandshake, "not one we sent"},
		{"answered twice", answer(good) + answer(good), errBrokenAfter, ""},
		{"a host call before the answer", `{"jsonrpc":"2.0","id":"early","method":"kv.set","params":{"key":"k","value":1}}` + "\n" + answer(good), nil, ""},
		{"a call request to the host before the answer", `{"jsonrpc":"2.0","id":"early","method":"initialize","params":{}}` + "\n" + answer(good), nil, ""},
		{"a line that never ends", `{"jsonrpc":"2.0","id":$ID,"result":{"protocol":1`, airlock.ErrHandshake, "no answer within"},
		{"an answer over the limit", `{"jsonrpc":"2.0","id":$ID,"result":"` + strings.Repeat("x", 1<<20) + "\"}\n", airlock.ErrHandshake, "exceeds the limit"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			limits := liarLimits
			limits.StartTimeout = airlock.Duration(time.Second)
			start := time.Now()
			h, _, err := loadLiar(t, c.write, limits)
			if took := time.Since(start); took > 6*time.Second {
				t.Errorf("the load took %v", took)
			}
			if c.want == errBrokenAfter {
				// Loaded, then stopped for the violation (and again at
				// each restart): its calls fail, each with one error.
				if err != nil {
					t.Fatal(err)
				}
				_, err := h.Call(ctxT(t, 10*time.Second), "liar", "poke", liarScript{Then: "ok"})
				if !errors.Is(err, airlock.ErrProtocol) && !errors.Is(err, airlock.ErrPluginDisabled) {
					t.Errorf("err = %v, want the violation", err)
				}
				return
			}
			if c.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				liarRecovers(t, h)
				return
			}
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.say) {
				t.Errorf("err = %.300v; want %v saying %q", err, c.want, c.say)
			}
			if err != nil && len(err.Error()) > 8<<10 {
				t.Errorf("the error is %d bytes long", len(err.Error()))
			}
		})
	}
}

// Floods and lifecycle: the host stays bounded in time, goroutines and
// heap, and the plugin's next call works.
func TestHostileProtocolFloods(t *testing.T) {
	kvGet := json.RawMessage(`{"key":"k"}`)
	cases := []struct {
		name   string
		script liarScript
		limits func(*airlock.Limits)
		check  func(t *testing.T, raw json.RawMessage, err error)
	}{
		{"2000 host calls from 1000 goroutines at once", liarScript{Then: "calls", N: 2000, Par: 1000, Method: "kv.get", Params: kvGet},
			func(l *airlock.Limits) {
				l.HostCallsPerSecond = 100000
				l.CallTimeout = airlock.Duration(20 * time.Second)
			},
			func(t *testing.T, raw json.RawMessage, err error) {
				var codes map[string]int
				if err != nil || json.Unmarshal(raw, &codes) != nil || codes["0"]+codes["-32003"] != 2000 {
					t.Errorf("got %s, %v; want 2000 answers, results or busy (-32003)", raw, err)
				}
				t.Logf("answers by code: %s", raw)
			}},
		{"host calls over the rate", liarScript{Then: "calls", N: 3000, Par: 8, Method: "kv.get", Params: kvGet},
			func(l *airlock.Limits) {
				l.HostCallsPerSecond = 200
				l.CallTimeout = airlock.Duration(20 * time.Second)
			},
			func(t *testing.T, raw json.RawMessage, err error) {
				var codes map[string]int
				if err != nil || json.Unmarshal(raw, &codes) != nil || codes["0"] > 600 {
					t.Errorf("got %s, %v; want most refused", raw, err)
				}
				t.Logf("answers by code: %s", raw)
			}},
		{"log notifications, 50000", liarScript{Then: "calls", N: 50000, Par: 4, Notify: true, Method: "log", Params: json.RawMessage(`{"level":"info","msg":"spam"}`)},
			func(l *airlock.Limits) { l.CallTimeout = airlock.Duration(20 * time.Second) }, wantLiarOK},
		{"kv.set notifications, 50000", liarScript{Then: "calls", N: 50000, Par: 4, Notify: true, Method: "kv.set", Params: json.RawMessage(`{"key":"k","value":"` + strings.Repeat("v", 1000) + `"}`)},
			func(l *airlock.Limits) {
				l.CallTimeout = airlock.Duration(20 * time.Second)
				l.HostCallBytesPerSecond = 1 << 30 // 50 MB: the queue is under test, not the pace (TestHostCallBytesPaced)
			}, wantLiarOK},
		{"host calls to unknown functions", liarScript{Then: "calls", N: 500, Par: 50, Method: "no.such", Params: json.RawMessage(`{}`)},
			nil, wantLiarCodes(-32601)},
		{"host calls named call", liarScript{Then: "calls", N: 100, Par: 10, Method: "call", Params: json.RawMessage(`{"name":"poke","input":{"then":"ok"}}`)},
			nil, wantLiarCodes(-32601)},
		{"host calls with params of the wrong shape", liarScript{Then: "calls", N: 100, Par: 10, Method: "kv.get", Params: json.RawMessage(`[1,{"key":2}]`)},
			nil, wantLiarCodes(-32602)},
		{"host calls with huge numbers", liarScript{Then: "calls", N: 10, Par: 1, Method: "kv.set", Params: json.RawMessage(`{"key":"k","value":1e999999}`)},
			nil, func(t *testing.T, raw json.RawMessage, err error) {
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("answers by code: %s", raw)
			}},
		{"host call params nested 100000 deep", liarScript{Write: []byte(`{"jsonrpc":"2.0","id":"d","method":"kv.get","params":` + strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + "}\n"), Then: "none"},
			nil, wantLiarErr(airlock.ErrProtocol)},
		{"kv value nested 9000 deep", liarScript{Then: "calls", N: 1, Par: 1, Method: "kv.set", Params: json.RawMessage(`{"key":"deep","value":` + strings.Repeat("[", 9000) + strings.Repeat("]", 9000) + `}`)},
			nil, func(t *testing.T, raw json.RawMessage, err error) {
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("answers by code: %s", raw)
			}},
		{"never answering", liarScript{Then: "none"}, func(l *airlock.Limits) { l.CallTimeout = airlock.Duration(300 * time.Millisecond) }, wantLiarErr(airlock.ErrDeadline)},
		{"answering after the deadline, within the grace", liarScript{Then: "late", DelayMS: 500}, func(l *airlock.Limits) {
			l.CallTimeout = airlock.Duration(300 * time.Millisecond)
			l.CancelGrace = airlock.Duration(2 * time.Second)
		}, wantLiarErr(airlock.ErrDeadline)},
		{"answering after the grace", liarScript{Then: "late", DelayMS: 1500}, func(l *airlock.Limits) {
			l.CallTimeout = airlock.Duration(300 * time.Millisecond)
			l.CancelGrace = airlock.Duration(200 * time.Millisecond)
		}, wantLiarErr(airlock.ErrDeadline)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			limits := liarLimits
			if c.limits != nil {
				c.limits(&limits)
			}
			h, _, err := loadLiar(t, "", limits)
			if err != nil {
				t.Fatal(err)
			}
			before := runtime.NumGoroutine()
			start := time.Now()
			raw, err := h.Call(ctxT(t, 30*time.Second), "liar", "poke", c.script)
			t.Logf("took %v", time.Since(start))
			c.check(t, raw, err)
			liarRecovers(t, h)
			waitFor(t, func() bool { return runtime.NumGoroutine() <= before+5 }, fmt.Sprintf("goroutines back near %d", before))
		})
	}
}

func wantLiarOK(t *testing.T, raw json.RawMessage, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantLiarErr(want error) func(*testing.T, json.RawMessage, error) {
	return func(t *testing.T, raw json.RawMessage, err error) {
		t.Helper()
		if !errors.Is(err, want) || !strings.Contains(err.Error(), "plugin liar") {
			t.Errorf("got %.80s, %v; want %v", raw, err, want)
		}
	}
}

// wantLiarCodes checks that every host call got error code.
func wantLiarCodes(code int) func(*testing.T, json.RawMessage, error) {
	return func(t *testing.T, raw json.RawMessage, err error) {
		t.Helper()
		var codes map[int]int
		if err != nil || json.Unmarshal(raw, &codes) != nil || len(codes) != 1 || codes[code] == 0 {
			t.Errorf("got %s, %v; want every host call answered with %d", raw, err, code)
		}
	}
}

// A plugin writing host calls as fast as it can, each an array of
// numbers (the input that costs the host the most to check: decoded into
// values for its schema), has them read at host_call_bytes_per_second
// after one burst: the host function gets no more, the host's CPU time
// stays a fraction of the time, the caller gets its typed error at the
// deadline, and the plugin still stops. Unpaced, the same flood took 40 s
// of the host's CPU time in 30 s for 0.4 s of the plugin's (measured).
func TestHostCallBytesPaced(t *testing.T) {
	var got atomic.Int64
	sink := airlock.NewRawFunc("sink", "kv", func(_ context.Context, _ airlock.Caller, in json.RawMessage) (any, error) {
		got.Add(int64(len(in)))
		return nil, nil
	})
	const rate = 256 << 10
	limits := liarLimits // 1 MiB messages: a burst of 1 MiB and a byte
	limits.HostCallBytesPerSecond = rate
	limits.HostCallsPerSecond = 1 << 20
	limits.StopTimeout = airlock.Duration(500 * time.Millisecond)
	bin := testutil.GoBinary(t, "testdata/plugins/liar")
	dir := testutil.PluginDir(t, liarManifest, map[string]string{exe("liar"): bin})
	opts := airlock.Options{Functions: []airlock.Function{sink}}
	o := withTelemetry(t, &opts)
	h, rec := newHostWith(t, airlock.Config{}, opts)
	if _, err := h.Load(context.Background(), airlock.PluginConfig{Path: dir, Grants: []string{"log", "kv"}, Limits: limits}); err != nil {
		t.Fatal(err)
	}
	params := json.RawMessage("[" + strings.Repeat("0,", 32<<10) + "0]") // 64 KiB
	cpu := hostCPU()
	begin := time.Now()
	_, err := h.Call(context.Background(), "liar", "poke", liarScript{Then: "calls", N: 1 << 20, Par: 4, Notify: true, Method: "sink", Params: params})
	elapsed := time.Since(begin)
	if !errors.Is(err, airlock.ErrDeadline) || elapsed > time.Duration(limits.CallTimeout)+2*time.Second {
		t.Errorf("the call returned %v after %v; want ErrDeadline at its deadline (%v): its answer waits behind the paced flood", err, elapsed, time.Duration(limits.CallTimeout))
	}
	took := got.Load()
	if most := int64(1<<20+1) + int64(elapsed.Seconds()*rate) + 2*int64(len(params)); took > most {
		t.Errorf("the host function got %d bytes in %v; want at most %d (%d a second after a burst of 1 MiB)", took, elapsed, most, rate)
	}
	used := hostCPU() - cpu
	t.Logf("the host function got %d KiB in %v; the host used %v of CPU time", took>>10, elapsed, used)
	if used > elapsed/2 {
		t.Errorf("the host used %v of CPU time in %v for a paced plugin's host calls", used, elapsed)
	}
	// The operator sees it: the time held back, and one warning (not one
	// a wait).
	if paced := o.points(t, "airlock.host_calls.paced")["plugin=liar"]; paced < 0.5 || paced > 60 {
		t.Errorf("airlock.host_calls.paced = %v s, want the waits of the flood (about a second and more)", paced)
	}
	if n := strings.Count(rec.String(), "host calls paced"); n != 1 {
		t.Errorf("%d warnings of host calls paced, want 1 (at most one a minute)", n)
	}
	stop := time.Now()
	if err := h.Unload(context.Background(), "liar"); err != nil {
		t.Logf("unload: %v", err)
	}
	if d := time.Since(stop); d > 5*time.Second {
		t.Errorf("unloading the paced plugin took %v", d)
	}
}

// The same flood as requests, 64 at once, each an array of numbers that
// the host decodes for the log function's schema into a tree about 27
// times its size: paced, the host holds a few at a time, and its heap
// stays bounded. Unpaced, 64 such calls of 4 MiB took the host's heap to
// 1,594 MiB (measured; 339 MiB paced at the default rate).
func TestHostCallBytesPacedBoundsHeap(t *testing.T) {
	limits := liarLimits // 1 MiB messages: a burst of 1 MiB and a byte
	limits.HostCallBytesPerSecond = 256 << 10
	limits.HostCallsPerSecond = 1 << 20
	limits.StopTimeout = airlock.Duration(500 * time.Millisecond)
	h, _, err := loadLiar(t, "", limits)
	if err != nil {
		t.Fatal(err)
	}
	params := json.RawMessage(`{"level":"info","msg":"x","attrs":{"a":[` + strings.Repeat("0,", 512<<10-100) + `0]}}`)
	heapGrowth := watchHeap()
	_, err = h.Call(context.Background(), "liar", "poke", liarScript{Then: "calls", N: 64, Par: 64, Method: "log", Params: params})
	grew := heapGrowth()
	t.Logf("the call: %v; the heap in use grew by %d MiB at most", err, grew>>20)
	// Two messages of 1 MiB (the burst, and the one that ran past it),
	// then one every 4 s: about 30 MiB of tree each. Unpaced, 64 at once.
	if grew > 200<<20 {
		t.Errorf("the host's heap grew by %d MiB for a paced plugin's host calls", grew>>20)
	}
}

// hostCPU is the CPU time the test process has used.
func hostCPU() time.Duration {
	var r syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &r)
	return time.Duration(r.Utime.Nano() + r.Stime.Nano())
}

// One plugin flooding the host, holding its slots and writing its kv
// namespace does not reach another: the other's calls and host calls
// work throughout, and its namespace stays empty.
func TestHostileNeighbour(t *testing.T) {
	bin := testutil.GoBinary(t, "testdata/plugins/liar")
	h, rec := newHostWith(t, airlock.Config{}, airlock.Options{})
	limits := liarLimits
	limits.CallTimeout = airlock.Duration(20 * time.Second)
	limits.HostCallsPerSecond = 300
	for _, name := range []string{"liar", "victim"} {
		m := strings.Replace(liarManifest, `name = "liar"`, `name = "`+name+`"`, 1)
		load(t, h, airlock.PluginConfig{Path: testutil.PluginDir(t, m, map[string]string{exe("liar"): bin}), Grants: []string{"log", "kv"}, Limits: limits})
	}
	ctx := ctxT(t, 60*time.Second)
	set := func(key string) liarScript {
		return liarScript{Then: "calls", N: 1, Par: 1, Method: "kv.set", Params: json.RawMessage(`{"key":"` + key + `","value":"from liar"}`)}
	}
	for _, key := range []string{"shared", "victim/shared", "../victim/shared", `\u0000victim`} {
		if _, err := h.Call(ctx, "liar", "poke", set(key)); err != nil {
			t.Fatal(err)
		}
	}
	flood := make(chan error, 3)
	for _, s := range []liarScript{
		{Then: "calls", N: 4000, Par: 64, Method: "kv.set", Params: json.RawMessage(`{"key":"shared","value":"x"}`)},
		{Then: "calls", N: 20000, Par: 2, Notify: true, Method: "log", Params: json.RawMessage(`{"level":"info","msg":"from liar"}`)},
		{Then: "calls", N: 4000, Par: 64, Method: "kv.list", Params: json.RawMessage(`{}`)},
	} {
		go func() {
			_, err := h.Call(ctx, "liar", "poke", s)
			flood <- err
		}()
	}
	for i := range 30 {
		raw, err := h.Call(ctx, "victim", "poke", liarScript{Then: "call1", Method: "kv.get", Params: json.RawMessage(`{"key":"shared"}`)})
		if err != nil || !strings.Contains(string(raw), `"found":false`) {
			t.Fatalf("victim's kv.get %d during the flood: %s, %v", i, raw, err)
		}
	}
	raw, err := h.Call(ctx, "victim", "poke", liarScript{Then: "call1", Method: "kv.list", Params: json.RawMessage(`{}`)})
	if err != nil || string(raw) != `{"keys":[]}` {
		t.Errorf("victim's kv.list: %s, %v; want no keys", raw, err)
	}
	for range 3 {
		if err := <-flood; err != nil {
			t.Errorf("flood: %v", err)
		}
	}
	// The liar's log lines are attributed to it, never to the victim.
	for _, line := range strings.Split(rec.String(), "\n") {
		if strings.Contains(line, "from liar") && !strings.Contains(line, "plugin=liar") {
			t.Errorf("log line misattributed: %s", line)
		}
	}
}

// A plugin's error messages reach the host's log cut at the plugin's
// max_log_line_bytes, as its log lines do: an after handler's failure and
// a timer callback's failure, each 900 KiB, add little to the log.
func TestPluginErrorsLoggedCut(t *testing.T) {
	bin := testutil.GoBinary(t, "testdata/plugins/liar")
	h, rec := newHostWith(t, airlock.Config{}, airlock.Options{})
	load(t, h, airlock.PluginConfig{Path: buildExample(t, "hello-go"), Grants: []string{"log"}})
	m := liarManifest + "\n[hook.greet]\nphase = \"after\"\n"
	m = strings.Replace(m, `optional = ["log", "kv"]`, `optional = ["log", "kv", "timer"]`, 1)
	m = strings.Replace(m, `functions = ["poke"]`, "functions = [\"poke\"]\nhooks = [\"greet\"]", 1)
	limits := liarLimits
	limits.MaxLogLineBytes = 1024
	limits.TimerMinPeriod = airlock.Duration(50 * time.Millisecond)
	hs := filepath.Join(t.TempDir(), "handshake")
	os.WriteFile(hs, []byte(`{"jsonrpc":"2.0","id":$ID,"result":{"protocol":1,"name":"liar","version":"1.0.0","hooks":["poke","greet"]}}`+"\n"), 0o644)
	load(t, h, airlock.PluginConfig{Path: testutil.PluginDir(t, m, map[string]string{exe("liar"): bin, "handshake": hs}), Grants: []string{"log", "timer"}, Limits: limits})
	ctx := ctxT(t, 30*time.Second)
	for range 3 {
		if _, err := greet.Run(ctx, h, map[string]string{"name": "ada"}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, func() bool { return strings.Count(rec.String(), "after handler failed") == 3 }, "the after handlers' failures logged")
	raw, err := h.Call(ctx, "liar", "poke", liarScript{Then: "call1", Method: "timer.every", Params: json.RawMessage(`{"period_ms":50,"function":"poke","input":{"then":"fail"}}`)})
	if err != nil || !strings.Contains(string(raw), `"id"`) {
		t.Fatalf("timer.every: %s, %v", raw, err)
	}
	waitFor(t, func() bool { return strings.Count(rec.String(), "timer callback failed") >= 3 }, "the timer's failures logged")
	if err := h.Unload(ctx, "liar"); err != nil {
		t.Fatal(err)
	}
	failures := strings.Count(rec.String(), "after handler failed") + strings.Count(rec.String(), "timer callback failed")
	if n := len(rec.String()); n > failures*4<<10 {
		t.Errorf("the host's log grew to %d bytes for %d failures (each message 900 KiB, the plugin's max_log_line_bytes 1024)", n, failures)
	}
}

// A plugin's host calls into a host function that waits on its context,
// made outside any call of the host's (requests it never waits for, and
// notifications), end within the plugin's call timeout: they do not hold
// the host's goroutines for as long as the plugin lives.
func TestHostCallsHeldByPlugin(t *testing.T) {
	var running atomic.Int64
	block := airlock.NewFunc("wait.forever", "wait", func(ctx context.Context, _ airlock.Caller, _ any) (any, error) {
		running.Add(1)
		defer running.Add(-1)
		<-ctx.Done()
		return nil, ctx.Err()
	})
	bin := testutil.GoBinary(t, "testdata/plugins/liar")
	h, _ := newHostWith(t, airlock.Config{}, airlock.Options{Functions: []airlock.Function{block}})
	m := strings.Replace(liarManifest, `optional = ["log", "kv"]`, `optional = ["log", "kv", "wait"]`, 1)
	limits := liarLimits
	limits.CallTimeout = airlock.Duration(500 * time.Millisecond)
	load(t, h, airlock.PluginConfig{Path: testutil.PluginDir(t, m, map[string]string{exe("liar"): bin}), Grants: []string{"wait"}, Limits: limits})
	var w strings.Builder
	for i := range 64 {
		fmt.Fprintf(&w, `{"jsonrpc":"2.0","id":"b%d","method":"wait.forever"}`+"\n", i)
	}
	for range 64 {
		w.WriteString(`{"jsonrpc":"2.0","method":"wait.forever"}` + "\n")
	}
	if _, err := h.Call(ctxT(t, 10*time.Second), "liar", "poke", liarScript{Write: []byte(w.String()), Then: "ok"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return running.Load() > 0 }, "the host calls running")
	t.Logf("host calls running at once: %d", running.Load())
	// The notifications run one after another: the last of them starts
	// about 64 call timeouts later; the requests end together.
	deadline := time.Now().Add(3 * time.Second)
	for running.Load() > 1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d host calls still running 3 s after they were made (call_timeout 500 ms): a plugin holds the host's goroutines as long as it lives", running.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Host calls to a function with a name 512 KiB long: the refusal (audit
// log, answer) does not copy the name into the host's log at every call.
func TestHostCallHugeNameNotLogged(t *testing.T) {
	limits := liarLimits
	limits.HostCallBytesPerSecond = 1 << 30 // 10 MiB of names: the log is under test, not the pace
	h, rec, err := loadLiar(t, "", limits)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := h.Call(ctxT(t, 20*time.Second), "liar", "poke", liarScript{Then: "calls", N: 20, Par: 1, Method: "no.such." + strings.Repeat("a", 512<<10), Params: json.RawMessage(`{}`)})
	if err != nil || !strings.Contains(string(raw), `"-32601":20`) {
		t.Fatalf("got %s, %v; want 20 refusals", raw, err)
	}
	if n := len(rec.String()); n > 256<<10 {
		t.Errorf("the host's log grew to %d bytes for 20 refused calls", n)
	}
}

// A plugin that asks for large answers and stops reading its input: the
// host's answers fill the pipe, and the host's writer and reader wait.
// The host's memory and goroutines stay bounded while it is stuck, the
// call fails at its deadline, and the plugin, killed when the grace after
// the cancellation has passed, restarts.
func TestHostileDeafPlugin(t *testing.T) {
	limits := liarLimits
	limits.CallTimeout = airlock.Duration(500 * time.Millisecond)
	limits.CancelGrace = airlock.Duration(time.Second)
	// The kv.set calls below take the pace's burst: paced, the host would
	// read the requests written after them a few at a time, and whether
	// it reads the call's answer before its writes fill the pipe would
	// depend on the timing. The stuck writer is under test, not the pace.
	limits.HostCallBytesPerSecond = 1 << 30
	h, _, err := loadLiar(t, "", limits)
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t, 60*time.Second)
	value := `"` + strings.Repeat("v", 60<<10) + `"`
	for i := range 16 {
		s := liarScript{Then: "call1", Method: "kv.set", Params: json.RawMessage(fmt.Sprintf(`{"key":"k%d","value":%s}`, i, value))}
		if raw, err := h.Call(ctx, "liar", "poke", s); err != nil || string(raw) != "null" {
			t.Fatalf("kv.set: %s, %v", raw, err)
		}
	}
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before, goroutines := heap(), runtime.NumGoroutine()
	var w strings.Builder
	for i := range 2000 {
		fmt.Fprintf(&w, `{"jsonrpc":"2.0","id":"g%d","method":"kv.get","params":{"key":"k%d"}}`+"\n", i, i%16)
	}
	start := time.Now()
	// Deaf before it writes the requests, and never answering: whether
	// the host read an answer written after the requests before its own
	// writes filled the pipe depended on the timing (the call succeeded
	// in some runs, the host not yet stuck).
	_, err = h.Call(ctx, "liar", "poke", liarScript{Deaf: true, Write: []byte(w.String()), Then: "none"})
	// The caller reads for itself (caller-reads mode): it may be the one
	// held in writing an answer to the full pipe, until the grace after
	// its deadline ends the connection. So: the call timeout and the
	// grace, not the call timeout alone.
	t.Logf("the call that made it deaf: %v after %v", err, time.Since(start))
	if took := time.Since(start); err == nil || took > 4*time.Second {
		t.Errorf("the call: %v after %v; want an error within the call timeout and the grace", err, took)
	}
	time.Sleep(500 * time.Millisecond) // stuck, within the grace
	grew, now := int64(heap())-int64(before), runtime.NumGoroutine()
	t.Logf("while stuck: heap grew by %d KiB, goroutines %d -> %d", grew>>10, goroutines, now)
	// The bound: 64 requests handled at once and 64 answers waiting to
	// be queued (internal/rpc, serve.go), and a few of the connection's
	// own. Before answers had slots of their own, a stuck host reached
	// 155 to 225 here in some runs, and its count grew with the requests.
	if grew > 64<<20 || now > goroutines+2*64+16 {
		t.Errorf("while stuck the host's heap grew by %d MiB and its goroutines from %d to %d", grew>>20, goroutines, now)
	}
	liarRecovers(t, h)
	waitFor(t, func() bool { return runtime.NumGoroutine() <= goroutines+5 }, "goroutines back")
}
