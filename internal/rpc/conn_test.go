package rpc

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"go.uber.org/goleak"

	"github.com/airlock-go/airlock/protocol"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// guard bounds every wait. It only turns a hang into a failure: no test
// depends on anything taking less than this.
const guard = 10 * time.Second

// recv waits for a value from ch, failing the test after guard.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(guard):
		t.Fatalf("timed out waiting for %s", what)
		var zero T
		return zero
	}
}

// eventually polls cond until it holds, failing the test after guard.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(guard)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	t.Cleanup(cancel)
	return ctx
}

// served is a Conn being served, and what Serve returned.
type served struct {
	*Conn
	result chan error
}

// serve runs c.Serve and makes sure it has returned when the test ends.
func serve(t *testing.T, c *Conn) served {
	s := served{c, make(chan error, 1)}
	go func() { s.result <- c.Serve() }()
	t.Cleanup(func() {
		c.Close(nil)
		select {
		case <-s.result:
		case <-time.After(guard):
			t.Errorf("Serve did not return after Close")
		}
	})
	return s
}

// wait returns what Serve returned.
func (s served) wait(t *testing.T) error {
	t.Helper()
	err := recv(t, s.result, "Serve to return")
	s.result <- err // for the cleanup
	return err
}

// callerReadsEnv, set to 1 in the environment, runs every test with both
// ends in caller-reads mode over operating-system pipes (see
// TestCallerReadsMode).
const callerReadsEnv = "AIRLOCK_TEST_CALLER_READS"

// pipe returns a pipe for a Conn's input: an in-memory one, or in
// caller-reads mode an operating-system one, which the mode can interrupt
// (AIRLOCK_TEST_CALLER_READS=deadline hides its descriptor, so that read
// deadlines interrupt it even on Linux; =blocking makes it outside Go's
// poller, as the process tier does on Linux). It sets opts.CallerReads
// accordingly.
func pipe(t *testing.T, opts *Options) (io.ReadCloser, io.WriteCloser) {
	t.Helper()
	mode := os.Getenv(callerReadsEnv)
	if mode == "" {
		return io.Pipe()
	}
	opts.CallerReads = true
	newPipe := os.Pipe
	if mode == "blocking" {
		newPipe = blockingPipe
	}
	r, w, err := newPipe()
	if err != nil {
		t.Fatal(err)
	}
	if mode == "deadline" {
		return deadlineOnly{r}, w
	}
	return r, w
}

// deadlineOnly is a pipe with read deadlines and no descriptor to poll.
type deadlineOnly struct{ f *os.File }

func (d deadlineOnly) Read(p []byte) (int, error)        { return d.f.Read(p) }
func (d deadlineOnly) Close() error                      { return d.f.Close() }
func (d deadlineOnly) SetReadDeadline(t time.Time) error { return d.f.SetReadDeadline(t) }

// checkMode fails the test if c is not in the mode opts asked for.
func checkMode(t *testing.T, c *Conn, opts Options) {
	t.Helper()
	if got := c.input != nil; got != opts.CallerReads {
		t.Fatalf("caller-reads mode is %v, want %v", got, opts.CallerReads)
	}
}

// pair connects two Conns back to back and serves both. Cleanups
// registered after pair run before it: release blocked handlers there.
func pair(t *testing.T, ha, hb Handler, oa, ob Options) (a, b served) {
	t.Helper()
	ar, bw := pipe(t, &oa)
	br, aw := pipe(t, &ob)
	ca := NewConn(ar, aw, ha, oa, func() { ar.Close(); aw.Close() })
	cb := NewConn(br, bw, hb, ob, func() { br.Close(); bw.Close() })
	checkMode(t, ca, oa)
	checkMode(t, cb, ob)
	return serve(t, ca), serve(t, cb)
}

// peer is a Conn whose other end is the test, writing and reading raw lines.
type peer struct {
	served
	in    io.WriteCloser
	lines chan string
}

func newPeer(t *testing.T, h Handler, opts Options) *peer {
	t.Helper()
	inR, inW := pipe(t, &opts)
	return newPeerWith(t, h, opts, inR, inW)
}

// newPeerWith is newPeer on a given input pipe.
func newPeerWith(t *testing.T, h Handler, opts Options, inR io.ReadCloser, inW io.WriteCloser) *peer {
	t.Helper()
	outR, outW := io.Pipe()
	c := NewConn(inR, outW, h, opts, func() { inR.Close(); outW.Close() })
	checkMode(t, c, opts)
	p := &peer{in: inW, lines: make(chan string, 1024)}
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		defer close(p.lines)
		sc := bufio.NewScanner(outR)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		inW.Close()
		for range p.lines {
		}
		<-scanned
	})
	p.served = serve(t, c)
	return p
}

// send writes raw input; errors (the Conn has ended) are ignored.
func (p *peer) send(s string) { p.in.Write([]byte(s)) }

// next returns the next message the Conn wrote.
func (p *peer) next(t *testing.T) Message {
	t.Helper()
	line, ok := <-chanOrTimeout(t, p.lines)
	if !ok {
		t.Fatalf("the Conn's output ended: %v", p.Err())
	}
	var m Message
	if err := json.Unmarshal([]byte(line), &m); err != nil {
		t.Fatalf("the Conn wrote %q: %v", line, err)
	}
	if m.JSONRPC != protocol.JSONRPC {
		t.Errorf("the Conn wrote %q without jsonrpc 2.0", line)
	}
	return m
}

func chanOrTimeout(t *testing.T, ch chan string) chan string {
	t.Helper()
	out := make(chan string, 1)
	select {
	case s, ok := <-ch:
		if ok {
			out <- s
		}
		close(out)
	case <-time.After(guard):
		t.Fatal("timed out waiting for the Conn to write")
	}
	return out
}

// handler builds a Handler from per-method functions; others get
// protocol.CodeMethodNotFound.
func handler(methods map[string]Handler) Handler {
	return func(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, error) {
		if h, ok := methods[method]; ok {
			return h(ctx, method, params)
		}
		return nil, protocol.Errorf(protocol.CodeMethodNotFound, "no method %s", method)
	}
}

func echo(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, error) {
	return params, nil
}

var echoHandler = handler(map[string]Handler{"echo": echo})

// --- Calls ---------------------------------------------------------------

func TestCallsBothWaysConcurrently(t *testing.T) {
	tagged := func(side string) Handler {
		return handler(map[string]Handler{"echo": func(ctx context.Context, _ string, p json.RawMessage) (json.RawMessage, error) {
			return json.RawMessage(`{"side":"` + side + `","echo":` + string(p) + `}`), nil
		}})
	}
	a, b := pair(t, tagged("a"), tagged("b"), Options{}, Options{})
	const goroutines, calls = 16, 200
	ctx := testCtx(t)
	var wg sync.WaitGroup
	errs := make(chan error, 2*goroutines)
	for g := range goroutines {
		for _, side := range []struct {
			c    served
			peer string
		}{{a, "b"}, {b, "a"}} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range calls {
					payload := fmt.Sprintf(`{"g":%d,"i":%d,"from":"%s"}`, g, i, side.peer)
					want := `{"side":"` + side.peer + `","echo":` + payload + `}`
					got, err := side.c.Call(ctx, "echo", json.RawMessage(payload))
					if err != nil || string(got) != want {
						errs <- fmt.Errorf("call %s = %s, %v; want %s", payload, got, err, want)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if a.Err() != nil || b.Err() != nil {
		t.Errorf("connections ended: %v, %v", a.Err(), b.Err())
	}
}

// A handler that calls back the peer (the reader's role must pass to
// another worker, or the answer would never be read).
func TestNestedCalls(t *testing.T) {
	// Set once both ends are up: the relay's first request arrives over a
	// pipe, which the race detector does not see as synchronisation.
	var b atomic.Pointer[served]
	relay := handler(map[string]Handler{"relay": func(ctx context.Context, _ string, p json.RawMessage) (json.RawMessage, error) {
		got, err := b.Load().Call(ctx, "echo", p)
		if err != nil {
			return nil, err
		}
		return json.RawMessage(`["relayed",` + string(got) + `]`), nil
	}})
	a, bb := pair(t, echoHandler, relay, Options{}, Options{})
	b.Store(&bb)
	ctx := testCtx(t)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 20 {
				p := fmt.Sprintf(`"%d-%d"`, i, j)
				got, err := a.Call(ctx, "relay", json.RawMessage(p))
				if want := `["relayed",` + p + `]`; err != nil || string(got) != want {
					errs <- fmt.Errorf("relay %s = %s, %v; want %s", p, got, err, want)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestParamsAndResults(t *testing.T) {
	type pt struct{ X, Y int }
	var gotParams atomic.Value
	h := handler(map[string]Handler{
		"record": func(_ context.Context, _ string, p json.RawMessage) (json.RawMessage, error) {
			gotParams.Store(string(p))
			return json.RawMessage(`{"ok":true}`), nil
		},
		"nil": func(context.Context, string, json.RawMessage) (json.RawMessage, error) { return nil, nil },
	})
	a, _ := pair(t, nil, h, Options{}, Options{})
	ctx := testCtx(t)
	cases := []struct {
		name   string
		params any
		want   string // params as the handler sees them
	}{
		{"struct", pt{1, 2}, `{"X":1,"Y":2}`},
		{"raw", json.RawMessage(`[1, "two"]`), `[1, "two"]`},
		{"string", "s", `"s"`},
		{"nil", nil, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := a.Call(ctx, "record", c.params)
			if err != nil || string(got) != `{"ok":true}` {
				t.Fatalf("Call = %s, %v", got, err)
			}
			if p := gotParams.Load(); p != c.want {
				t.Errorf("handler got params %q, want %q", p, c.want)
			}
		})
	}
	if got, err := a.Call(ctx, "nil", nil); err != nil || string(got) != "null" {
		t.Errorf("a nil result = %q, %v; want null", got, err)
	}
	if _, err := a.Call(ctx, "record", func() {}); err == nil || !strings.Contains(err.Error(), "encode params") {
		t.Errorf("unencodable params: %v", err)
	}
}

func TestHandlerErrors(t *testing.T) {
	h := handler(map[string]Handler{
		"plain": func(context.Context, string, json.RawMessage) (json.RawMessage, error) {
			return nil, errors.New("it failed")
		},
		"coded": func(context.Context, string, json.RawMessage) (json.RawMessage, error) {
			return nil, &protocol.Error{Code: protocol.CodeDenied, Message: "no", Data: json.RawMessage(`{"cap":"kv"}`)}
		},
		"wrapped": func(context.Context, string, json.RawMessage) (json.RawMessage, error) {
			return nil, fmt.Errorf("outer: %w", protocol.Errorf(protocol.CodeRateLimited, "slow down %d", 3))
		},
		"result and error": func(context.Context, string, json.RawMessage) (json.RawMessage, error) {
			return json.RawMessage(`1`), errors.New("both")
		},
	})
	a, _ := pair(t, nil, h, Options{}, Options{})
	cases := []struct {
		method string
		code   int
		msg    string
		data   string
	}{
		{"plain", protocol.CodeFailed, "it failed", ""},
		{"coded", protocol.CodeDenied, "no", `{"cap":"kv"}`},
		{"wrapped", protocol.CodeRateLimited, "slow down 3", ""},
		{"result and error", protocol.CodeFailed, "both", ""},
		{"nope", protocol.CodeMethodNotFound, "no method nope", ""},
	}
	for _, c := range cases {
		t.Run(c.method, func(t *testing.T) {
			got, err := a.Call(testCtx(t), c.method, nil)
			var re *protocol.Error
			if !errors.As(err, &re) {
				t.Fatalf("Call = %s, %v; want a *protocol.Error", got, err)
			}
			if re.Code != c.code || re.Message != c.msg || string(re.Data) != c.data {
				t.Errorf("error = %+v (data %s), want code %d, message %q, data %s", re, re.Data, c.code, c.msg, c.data)
			}
			if got != nil {
				t.Errorf("result %s with an error", got)
			}
			if want := fmt.Sprintf("%s (code %d)", c.msg, c.code); err.Error() != want {
				t.Errorf("Error() = %q, want %q", err.Error(), want)
			}
		})
	}
}

func TestNilHandler(t *testing.T) {
	a, b := pair(t, echoHandler, nil, Options{}, Options{})
	ctx := testCtx(t)
	// A notification to a Conn without a handler is dropped.
	if err := a.Notify(ctx, "note", 1); err != nil {
		t.Fatal(err)
	}
	for _, method := range []string{"anything", "echo"} {
		_, err := a.Call(ctx, method, nil)
		var re *protocol.Error
		if !errors.As(err, &re) || re.Code != protocol.CodeMethodNotFound || !strings.Contains(re.Message, `"`+method+`"`) {
			t.Errorf("Call(%s) = %v, want protocol.CodeMethodNotFound naming the method", method, err)
		}
	}
	// The Conn without a handler can still call.
	if got, err := b.Call(ctx, "echo", json.RawMessage(`7`)); err != nil || string(got) != "7" {
		t.Errorf("b.Call = %s, %v", got, err)
	}
}

// --- Notifications -------------------------------------------------------

func TestNotifications(t *testing.T) {
	type note struct {
		method, params string
		hasCtx         bool
	}
	notes := make(chan note, 10)
	h := func(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, error) {
		notes <- note{method, string(params), ctx != nil}
		return json.RawMessage(`"ignored"`), errors.New("ignored too")
	}
	a, b := pair(t, nil, h, Options{}, Options{})
	ctx := testCtx(t)
	if err := a.Notify(ctx, "log", map[string]string{"msg": "hi"}); err != nil {
		t.Fatal(err)
	}
	if err := a.Notify(ctx, "tick", nil); err != nil {
		t.Fatal(err)
	}
	if n := recv(t, notes, "the first notification"); n.method != "log" || n.params != `{"msg":"hi"}` || !n.hasCtx {
		t.Errorf("got %+v", n)
	}
	if n := recv(t, notes, "the second notification"); n.method != "tick" || n.params != "" {
		t.Errorf("got %+v", n)
	}
	// The handler's result and error went nowhere: an answer to a
	// notification would be a violation at a.
	if _, err := a.Call(ctx, "sync", nil); err == nil {
		t.Fatal("want the handler's error")
	}
	<-notes
	if a.Err() != nil || b.Err() != nil {
		t.Errorf("connection ended: %v, %v", a.Err(), b.Err())
	}
}

// Notifications are handled in the order they came, one at a time, even
// when each takes longer than a request may run before another goroutine
// takes over reading (a plugin's log lines stay in order).
func TestNotificationsInOrder(t *testing.T) {
	const n = 20
	got := make(chan int, n)
	var running atomic.Int32
	h := func(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, error) {
		if running.Add(1) != 1 {
			t.Errorf("notification %s handled while another was", params)
		}
		time.Sleep(2 * handoffDelay)
		i, _ := strconv.Atoi(string(params))
		running.Add(-1)
		got <- i
		return nil, nil
	}
	a, _ := pair(t, nil, h, Options{}, Options{})
	for i := range n {
		if err := a.Notify(testCtx(t), "log", i); err != nil {
			t.Fatal(err)
		}
	}
	for want := range n {
		if i := recv(t, got, "a notification"); i != want {
			t.Fatalf("notification %d handled in place %d", i, want)
		}
	}
}

// A notification gets no answer on the wire, even when its handler fails.
func TestNotificationNotAnswered(t *testing.T) {
	h := handler(map[string]Handler{
		"fail": func(context.Context, string, json.RawMessage) (json.RawMessage, error) {
			return nil, errors.New("no")
		},
		"echo": echo,
	})
	p := newPeer(t, h, Options{})
	for i := range 20 {
		p.send(`{"jsonrpc":"2.0","method":"fail"}` + "\n")
		p.send(`{"jsonrpc":"2.0","method":"echo","params":1}` + "\n")
		p.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"echo","params":%d}`+"\n", i, i))
		m := p.next(t)
		if string(m.ID) != fmt.Sprint(i) || string(m.Result) != fmt.Sprint(i) {
			t.Fatalf("got id %s result %s error %v; want only the answer to request %d", m.ID, m.Result, m.Error, i)
		}
	}
}

func TestRequestIDs(t *testing.T) {
	p := newPeer(t, echoHandler, Options{})
	for _, id := range []string{`0`, `-5`, `9007199254740993`, `1.5`, `"abc"`, `""`, `"\u00e9"`} {
		p.send(`{"jsonrpc":"2.0","id":` + id + `,"method":"echo","params":"x"}` + "\n")
		m := p.next(t)
		if string(m.ID) != id || string(m.Result) != `"x"` {
			t.Errorf("id %s: answered id %s, result %s, error %v", id, m.ID, m.Result, m.Error)
		}
	}
	// An id may be reused once its request is answered.
	for range 50 {
		p.send(`{"jsonrpc":"2.0","id":1,"method":"echo","params":2}` + "\n")
		if m := p.next(t); string(m.ID) != "1" || string(m.Result) != "2" {
			t.Fatalf("reused id: got %+v", m)
		}
	}
	if err := p.Err(); err != nil {
		t.Errorf("connection ended: %v", err)
	}
}

// A peer may reuse an id as soon as it has the answer, even when the
// handler ran long enough for another worker to take over reading.
func TestIDReusedRightAfterAnswer(t *testing.T) {
	slowEcho := func(ctx context.Context, _ string, p json.RawMessage) (json.RawMessage, error) {
		time.Sleep(200 * time.Microsecond) // a handler slower than handoffDelay: the workload under test, not a wait
		return p, nil
	}
	p := newPeer(t, slowEcho, Options{MaxHandlers: 1})
	for i := range 300 {
		p.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"echo","params":%d}`+"\n", i))
		m := p.next(t)
		if m.Error != nil || string(m.Result) != fmt.Sprint(i) {
			t.Fatalf("request %d: got result %s, error %v", i, m.Result, m.Error)
		}
	}
	if err := p.Err(); err != nil {
		t.Errorf("connection ended: %v", err)
	}
}

// --- Limits --------------------------------------------------------------

func TestBusy(t *testing.T) {
	const limit = 3
	started := make(chan struct{}, limit)
	release := make(chan struct{})
	h := handler(map[string]Handler{
		"block": func(context.Context, string, json.RawMessage) (json.RawMessage, error) {
			started <- struct{}{}
			<-release
			return json.RawMessage(`"done"`), nil
		},
		"echo": echo,
	})
	a, _ := pair(t, nil, h, Options{}, Options{MaxHandlers: limit})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock)
	ctx := testCtx(t)

	results := make(chan error, limit)
	for range limit {
		go func() {
			got, err := a.Call(ctx, "block", nil)
			if err == nil && string(got) != `"done"` {
				err = fmt.Errorf("got %s", got)
			}
			results <- err
		}()
	}
	for range limit {
		recv(t, started, "the handlers to start")
	}
	// Every slot is taken: one more request is refused, not queued.
	for _, method := range []string{"echo", "block"} {
		_, err := a.Call(ctx, method, json.RawMessage(`1`))
		var re *protocol.Error
		if !errors.As(err, &re) || re.Code != protocol.CodeBusy || !strings.Contains(re.Message, fmt.Sprintf("limit %d", limit)) {
			t.Errorf("call over the limit = %v, want protocol.CodeBusy naming the limit", err)
		}
	}
	unblock()
	for range limit {
		if err := recv(t, results, "the blocked calls"); err != nil {
			t.Errorf("blocked call: %v", err)
		}
	}
	// The slots are free again.
	if got, err := a.Call(ctx, "echo", json.RawMessage(`2`)); err != nil || string(got) != "2" {
		t.Errorf("after the limit: %s, %v", got, err)
	}
}

// --- Cancellation --------------------------------------------------------

func TestCancellation(t *testing.T) {
	cases := []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc) // cancel is called once the handler runs
		want error
	}{
		{"cancel", func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) }, context.Canceled},
		{"deadline", newDeadlineCtx, context.DeadlineExceeded},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			started := make(chan struct{}, 1)
			handlerErr := make(chan error, 1)
			h := handler(map[string]Handler{
				"wait": func(ctx context.Context, _ string, _ json.RawMessage) (json.RawMessage, error) {
					started <- struct{}{}
					<-ctx.Done()
					handlerErr <- ctx.Err()
					return nil, protocol.Errorf(protocol.CodeCancelled, "cancelled")
				},
				"echo": echo,
			})
			// A long grace: the late answer must be dropped, not waited out.
			a, b := pair(t, nil, h, Options{CancelGrace: time.Hour}, Options{})
			ctx, cancel := c.ctx()
			defer cancel()
			callErr := make(chan error, 1)
			go func() {
				_, err := a.Call(ctx, "wait", nil)
				callErr <- err
			}()
			recv(t, started, "the handler to start")
			cancel()
			if err := recv(t, callErr, "Call to return"); !errors.Is(err, c.want) {
				t.Errorf("Call = %v, want %v", err, c.want)
			}
			// $/cancel reached the peer: its handler's context ended (the
			// connection is still up, so nothing else ended it).
			if err := recv(t, handlerErr, "the handler's ctx to be cancelled"); !errors.Is(err, context.Canceled) {
				t.Errorf("handler ctx err = %v", err)
			}
			// The late answer is dropped silently and its grace period forgotten.
			eventually(t, "the late answer to be consumed", func() bool {
				a.mu.Lock()
				defer a.mu.Unlock()
				return len(a.overdue) == 0 && len(a.pending) == 0
			})
			if got, err := a.Call(testCtx(t), "echo", json.RawMessage(`1`)); err != nil || string(got) != "1" {
				t.Errorf("after a cancel: %s, %v", got, err)
			}
			if a.Err() != nil || b.Err() != nil {
				t.Errorf("connection ended: %v, %v", a.Err(), b.Err())
			}
		})
	}
}

// deadlineCtx is a ctx whose deadline passes when the test says so, so
// that it cannot pass before the request is even sent.
type deadlineCtx struct {
	context.Context
	done chan struct{}
	once sync.Once
}

func newDeadlineCtx() (context.Context, context.CancelFunc) {
	c := &deadlineCtx{Context: context.Background(), done: make(chan struct{})}
	return c, func() { c.once.Do(func() { close(c.done) }) }
}

func (c *deadlineCtx) Deadline() (time.Time, bool) { return time.Now().Add(guard), true }
func (c *deadlineCtx) Done() <-chan struct{}       { return c.done }
func (c *deadlineCtx) Err() error {
	select {
	case <-c.done:
		return context.DeadlineExceeded
	default:
		return nil
	}
}

// A Call whose ctx has already ended fails with the ctx's error, and any
// answer the peer still sends is dropped.
func TestCallWithEndedContext(t *testing.T) {
	a, b := pair(t, nil, echoHandler, Options{}, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for range 50 {
		if _, err := a.Call(ctx, "echo", json.RawMessage(`1`)); !errors.Is(err, context.Canceled) {
			t.Fatalf("Call = %v, want context.Canceled", err)
		}
	}
	if got, err := a.Call(testCtx(t), "echo", json.RawMessage(`2`)); err != nil || string(got) != "2" {
		t.Errorf("afterwards: %s, %v", got, err)
	}
	if a.Err() != nil || b.Err() != nil {
		t.Errorf("connection ended: %v, %v", a.Err(), b.Err())
	}
}

// The peer sees $/cancel naming the request, and its late answer, result or
// error, is dropped; a second answer is a violation.
func TestLateAnswerDropped(t *testing.T) {
	cases := []struct {
		name   string
		grace  time.Duration
		answer string
	}{
		{"result", time.Hour, `"result":"late"`},
		{"error", time.Hour, `"error":{"code":-32002,"message":"cancelled"}`},
		{"no grace limit", -1, `"result":"late"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := newPeer(t, echoHandler, Options{CancelGrace: c.grace})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			callErr := make(chan error, 1)
			go func() {
				_, err := p.Call(ctx, "slow", json.RawMessage(`{}`))
				callErr <- err
			}()
			req := p.next(t)
			if req.Method != "slow" || req.ID == nil || string(req.Params) != "{}" {
				t.Fatalf("request = %+v", req)
			}
			cancel()
			if err := recv(t, callErr, "Call to return"); !errors.Is(err, context.Canceled) {
				t.Errorf("Call = %v", err)
			}
			note := p.next(t)
			var cp protocol.CancelParams
			if note.Method != protocol.MethodCancel || note.ID != nil || json.Unmarshal(note.Params, &cp) != nil || string(cp.ID) != string(req.ID) {
				t.Fatalf("after cancelling: got %+v, want a $/cancel notification for id %s", note, req.ID)
			}
			p.send(`{"jsonrpc":"2.0","id":` + string(req.ID) + `,` + c.answer + "}\n")
			// Input is handled in order: once this is answered, the late
			// answer has been read.
			p.send(`{"jsonrpc":"2.0","id":"sync","method":"echo","params":1}` + "\n")
			if m := p.next(t); string(m.ID) != `"sync"` {
				t.Fatalf("got %+v, want the answer to sync", m)
			}
			if err := p.Err(); err != nil {
				t.Fatalf("a late answer ended the connection: %v", err)
			}
			p.mu.Lock()
			overdue := len(p.overdue)
			p.mu.Unlock()
			if overdue != 0 {
				t.Errorf("%d requests still overdue after their answer", overdue)
			}
			// Answering twice is still a violation.
			p.send(`{"jsonrpc":"2.0","id":` + string(req.ID) + `,` + c.answer + "}\n")
			var v *ViolationError
			if err := p.wait(t); !errors.As(err, &v) || !strings.Contains(v.Reason, "unknown or already answered id") {
				t.Errorf("Serve = %v, want a violation for the second answer", err)
			}
		})
	}
}

// A peer that ignores cancellation is cut off after CancelGrace.
func TestCancelGraceOverdue(t *testing.T) {
	started := make(chan struct{}, 1)
	release := make(chan struct{})
	ignoring := handler(map[string]Handler{"ignore": func(context.Context, string, json.RawMessage) (json.RawMessage, error) {
		started <- struct{}{}
		<-release // ignores its ctx
		return nil, nil
	}})
	a, _ := pair(t, nil, ignoring, Options{CancelGrace: 20 * time.Millisecond}, Options{})
	t.Cleanup(func() { close(release) })
	ctx, cancel := context.WithCancel(context.Background())
	callErr := make(chan error, 1)
	go func() {
		_, err := a.Call(ctx, "ignore", nil)
		callErr <- err
	}()
	recv(t, started, "the handler to start")
	cancel()
	if err := recv(t, callErr, "Call to return"); !errors.Is(err, context.Canceled) {
		t.Errorf("Call = %v, want context.Canceled at once", err)
	}
	recv(t, a.Done(), "the connection to be cut off")
	if !errors.Is(a.Err(), ErrOverdue) {
		t.Errorf("Err = %v, want ErrOverdue", a.Err())
	}
	if err := a.wait(t); !errors.Is(err, ErrOverdue) {
		t.Errorf("Serve = %v, want ErrOverdue", err)
	}
	_, err := a.Call(testCtx(t), "ignore", nil)
	if !errors.Is(err, ErrOverdue) || !errors.Is(err, ErrNotSent) {
		t.Errorf("Call after = %v, want ErrNotSent and ErrOverdue", err)
	}
}

// $/cancel from the peer cancels the handler's ctx, for string ids too;
// one for an unknown id or with bad params is ignored.
func TestPeerCancels(t *testing.T) {
	h := handler(map[string]Handler{"wait": func(ctx context.Context, _ string, _ json.RawMessage) (json.RawMessage, error) {
		<-ctx.Done()
		return nil, protocol.Errorf(protocol.CodeCancelled, "%v", ctx.Err())
	}})
	p := newPeer(t, h, Options{})
	p.send(`{"jsonrpc":"2.0","method":"$/cancel","params":{"id":99}}` + "\n")
	p.send(`{"jsonrpc":"2.0","method":"$/cancel","params":"garbage"}` + "\n")
	p.send(`{"jsonrpc":"2.0","method":"$/cancel"}` + "\n")
	for _, id := range []string{`"abc"`, `12`} {
		p.send(`{"jsonrpc":"2.0","id":` + id + `,"method":"wait"}` + "\n")
		p.send(`{"jsonrpc":"2.0","method":"$/cancel","params":{"id":` + id + `}}` + "\n")
		m := p.next(t)
		if string(m.ID) != id || m.Error == nil || m.Error.Code != protocol.CodeCancelled {
			t.Errorf("id %s: got %+v, want a protocol.CodeCancelled answer", id, m)
		}
	}
	if err := p.Err(); err != nil {
		t.Errorf("connection ended: %v", err)
	}
}

// --- Closing -------------------------------------------------------------

func TestClose(t *testing.T) {
	started := make(chan struct{}, 1)
	handlerDone := make(chan error, 1)
	h := handler(map[string]Handler{"wait": func(ctx context.Context, _ string, _ json.RawMessage) (json.RawMessage, error) {
		started <- struct{}{}
		<-ctx.Done()
		handlerDone <- ctx.Err()
		return nil, nil
	}})
	var closes atomic.Int32
	ar, bw := io.Pipe()
	br, aw := io.Pipe()
	a := serve(t, NewConn(ar, aw, nil, Options{}, func() { closes.Add(1); ar.Close(); aw.Close() }))
	b := serve(t, NewConn(br, bw, h, Options{}, func() { br.Close(); bw.Close() }))

	if a.Err() != nil {
		t.Fatalf("Err before Close = %v", a.Err())
	}
	callErr := make(chan error, 1)
	go func() {
		_, err := a.Call(context.Background(), "wait", nil)
		callErr <- err
	}()
	recv(t, started, "the handler to start")
	reason := errors.New("shutting down")
	a.Close(reason)
	if err := recv(t, callErr, "the call in flight to return"); !errors.Is(err, reason) {
		t.Errorf("Call in flight = %v, want the close reason", err)
	}
	a.Close(errors.New("second reason"))
	if !errors.Is(a.Err(), reason) || closes.Load() != 1 {
		t.Errorf("after two Closes: Err = %v, onClose ran %d times; want the first reason, once", a.Err(), closes.Load())
	}
	if err := a.wait(t); !errors.Is(err, reason) {
		t.Errorf("Serve = %v, want the close reason", err)
	}
	_, err := a.Call(context.Background(), "wait", nil)
	if !errors.Is(err, reason) || !errors.Is(err, ErrNotSent) {
		t.Errorf("Call after Close = %v, want ErrNotSent and the reason", err)
	}
	if err := a.Notify(context.Background(), "note", nil); !errors.Is(err, reason) {
		t.Errorf("Notify after Close = %v, want the reason", err)
	}
	// The peer saw its input end, and its handler's ctx was cancelled.
	if err := recv(t, handlerDone, "the peer's handler ctx to end"); !errors.Is(err, context.Canceled) {
		t.Errorf("peer handler ctx = %v", err)
	}
	if err := b.wait(t); !errors.Is(err, io.EOF) {
		t.Errorf("peer Serve = %v, want io.EOF", err)
	}
}

func TestCloseNilReason(t *testing.T) {
	a, _ := pair(t, nil, nil, Options{}, Options{})
	a.Close(nil)
	if !errors.Is(a.Err(), ErrClosed) {
		t.Errorf("Err = %v, want ErrClosed", a.Err())
	}
	if _, err := a.Call(context.Background(), "x", nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Call = %v", err)
	}
}

// --- Framing -------------------------------------------------------------

func TestBlankLinesAndCRLF(t *testing.T) {
	got := make(chan string, 10)
	h := func(ctx context.Context, method string, p json.RawMessage) (json.RawMessage, error) {
		got <- method + " " + string(p)
		return p, nil
	}
	p := newPeer(t, h, Options{})
	p.send("\n\r\n\n")
	p.send(`{"jsonrpc":"2.0","method":"note","params":"crlf"}` + "\r\n\r\n")
	p.send(`{"jsonrpc":"2.0","id":1,"method":"call","params":[1]}` + "\r\n")
	// A request and a notification may be handled in either order.
	handled := []string{recv(t, got, "the first message"), recv(t, got, "the second message")}
	slices.Sort(handled)
	if want := []string{`call [1]`, `note "crlf"`}; !slices.Equal(handled, want) {
		t.Errorf("handled %q, want %q", handled, want)
	}
	if m := p.next(t); string(m.ID) != "1" || string(m.Result) != "[1]" {
		t.Errorf("answer = %+v", m)
	}
	// An answer to our own call may end in CRLF too.
	result := make(chan string, 1)
	go func() {
		r, err := p.Call(testCtx(t), "ping", nil)
		result <- fmt.Sprintf("%s %v", r, err)
	}()
	req := p.next(t)
	p.send("\r\n" + `{"jsonrpc":"2.0","id":` + string(req.ID) + `,"result":"pong"}` + "\r\n")
	if r := recv(t, result, "the call"); r != `"pong" <nil>` {
		t.Errorf("Call = %s", r)
	}
	p.in.Close()
	if err := p.wait(t); !errors.Is(err, io.EOF) {
		t.Errorf("Serve = %v, want io.EOF at a clean end of input", err)
	}
}

func TestMaxMessageBoundary(t *testing.T) {
	// Sizes below and above the reader's 64 KiB buffer.
	for _, max := range []int{1000, 100 << 10} {
		t.Run(fmt.Sprint(max), func(t *testing.T) {
			got := make(chan int, 1)
			h := func(_ context.Context, _ string, p json.RawMessage) (json.RawMessage, error) {
				got <- len(p)
				return nil, nil
			}
			line := func(n int) string { // a notification of exactly n bytes
				head, tail := `{"jsonrpc":"2.0","method":"m","params":"`, `"}`
				return head + strings.Repeat("x", n-len(head)-len(tail)) + tail
			}
			p := newPeer(t, h, Options{MaxMessage: max})
			p.send(line(max) + "\n")
			if n := recv(t, got, "the message of exactly MaxMessage bytes"); n != max-len(`{"jsonrpc":"2.0","method":"m","params":}`) {
				t.Errorf("handler got %d bytes of params", n)
			}
			p.send(line(max+1) + "\n")
			var v *ViolationError
			if err := p.wait(t); !errors.As(err, &v) || !strings.Contains(v.Reason, fmt.Sprintf("exceeds the limit of %d", max)) {
				t.Errorf("Serve = %v, want a violation for MaxMessage+1 bytes", err)
			}
		})
	}
}

// Long messages in a row, sent at once, each arrive whole and unmixed,
// though each reuses the memory of the one before (readLine).
func TestLongMessagesInARow(t *testing.T) {
	got := make(chan string, 8)
	h := func(_ context.Context, _ string, p json.RawMessage) (json.RawMessage, error) {
		got <- string(p)
		return nil, nil
	}
	p := newPeer(t, h, Options{})
	var batch strings.Builder
	var want []string
	for i, n := range []int{200 << 10, 100 << 10, 300 << 10, 70 << 10} {
		params := `"` + strings.Repeat(string(rune('a'+i)), n) + `"`
		want = append(want, params)
		batch.WriteString(`{"jsonrpc":"2.0","method":"m","params":` + params + "}\n")
	}
	go p.send(batch.String())
	for i, w := range want {
		if g := recv(t, got, "a long message"); g != w {
			t.Fatalf("message %d: got %d bytes starting %.10q, want %d bytes starting %.10q", i, len(g), g, len(w), w)
		}
	}
}

// endless is an input that never ends and has no newline; it counts what
// has been read.
type endless struct{ n atomic.Int64 }

func (e *endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	e.n.Add(int64(len(p)))
	return len(p), nil
}

// A flood without a newline is cut off at the limit, not buffered without
// bound.
func TestFloodWithoutNewline(t *testing.T) {
	const max = 1 << 20
	in := &endless{}
	s := serve(t, NewConn(in, io.Discard, echoHandler, Options{MaxMessage: max}, nil))
	err := s.wait(t)
	var v *ViolationError
	if !errors.As(err, &v) || !strings.Contains(v.Reason, "exceeds the limit") {
		t.Fatalf("Serve = %v, want a violation", err)
	}
	if n := in.n.Load(); n > max+128<<10 {
		t.Errorf("read %d bytes of one line, limit %d", n, max)
	}
	if v.Prefix != strings.Repeat("x", 80) {
		t.Errorf("Prefix = %q", v.Prefix)
	}
}

// --- Violations ----------------------------------------------------------

func TestViolations(t *testing.T) {
	deep := strings.Repeat("[", 100000) + strings.Repeat("]", 100000)
	long := `{"jsonrpc":"2.0","method":"echo","params":"` + strings.Repeat("é", 3000) // no closing quote
	over := `{"jsonrpc":"2.0","method":"echo","params":"` + strings.Repeat("x", 5000) + `"}`
	cases := []struct {
		name   string
		input  string
		opts   Options
		reason string
		close  bool // end the input after it
	}{
		{"not JSON", "hello there\n", Options{}, "line is not a JSON-RPC message", false},
		{"JSON array", "[1,2]\n", Options{}, "not a JSON-RPC message", false},
		{"leading space", ` {"jsonrpc":"2.0","method":"echo"}` + "\n", Options{}, "not a JSON-RPC message", false},
		{"invalid JSON", `{"jsonrpc":"2.0",` + "\n", Options{}, "invalid JSON", false},
		{"trailing garbage", `{"jsonrpc":"2.0","method":"echo"} x` + "\n", Options{}, "invalid JSON", false},
		{"invalid UTF-8", "{\"jsonrpc\":\"2.0\",\"method\":\"\xff\xfe\"}\n", Options{}, "not valid UTF-8", false},
		{"missing jsonrpc", `{"id":1,"method":"echo"}` + "\n", Options{}, `missing "jsonrpc": "2.0"`, false},
		{"wrong jsonrpc", `{"jsonrpc":"1.0","id":1,"method":"echo"}` + "\n", Options{}, `missing "jsonrpc": "2.0"`, false},
		{"empty object", "{}\n", Options{}, `missing "jsonrpc"`, false},
		{"response to unknown id", `{"jsonrpc":"2.0","id":77,"result":1}` + "\n", Options{}, "unknown or already answered id", false},
		{"response with a string id", `{"jsonrpc":"2.0","id":"1","result":1}` + "\n", Options{}, "not one we sent", false},
		{"error response to unknown id", `{"jsonrpc":"2.0","id":3,"error":{"code":1,"message":"x"}}` + "\n", Options{}, "unknown or already answered id", false},
		{"object id", `{"jsonrpc":"2.0","id":{"a":1},"method":"echo"}` + "\n", Options{}, "request id must be a number or a string", false},
		{"array id", `{"jsonrpc":"2.0","id":[1],"method":"echo"}` + "\n", Options{}, "number or a string", false},
		{"bool id", `{"jsonrpc":"2.0","id":true,"method":"echo"}` + "\n", Options{}, "number or a string", false},
		{"null id", `{"jsonrpc":"2.0","id":null,"method":"echo"}` + "\n", Options{}, "number or a string", false},
		{"result and error", `{"jsonrpc":"2.0","id":1,"result":1,"error":{"code":1,"message":"x"}}` + "\n", Options{}, "neither a request nor a response", false},
		{"method and result", `{"jsonrpc":"2.0","id":1,"method":"echo","result":1}` + "\n", Options{}, "neither a request nor a response", false},
		{"response without id", `{"jsonrpc":"2.0","result":1}` + "\n", Options{}, "neither a request nor a response", false},
		{"neither", `{"jsonrpc":"2.0","id":1}` + "\n", Options{}, "neither a request nor a response", false},
		{"over MaxMessage", over + "\n", Options{MaxMessage: 4096}, fmt.Sprintf("message of %d bytes exceeds the limit of 4096", len(over)), false},
		{"over MaxMessage, past the buffer", `{"jsonrpc":"2.0","method":"echo","params":"` + strings.Repeat("x", 300<<10) + `"}` + "\n", Options{MaxMessage: 200 << 10}, "exceeds the limit of 204800", false},
		{"over MaxMessage, no newline", strings.Repeat("x", 100000), Options{MaxMessage: 4096}, "exceeds the limit of 4096", false},
		{"ends mid-line", `{"jsonrpc":"2.0","method":"echo"}`, Options{}, "stream ended inside a message", true},
		{"ends after blank lines and half a line", "\n\n{", Options{}, "stream ended inside a message", true},
		{"deep nesting", `{"jsonrpc":"2.0","id":1,"result":` + deep + "}\n", Options{MaxMessage: 1 << 20}, "invalid JSON", false},
		{"deep nesting in params", `{"jsonrpc":"2.0","method":"echo","params":` + deep + "}\n", Options{MaxMessage: 1 << 20}, "invalid JSON", false},
		{"duplicate in-flight request id", `{"jsonrpc":"2.0","id":5,"method":"wait"}` + "\n" + `{"jsonrpc":"2.0","id":5,"method":"wait"}` + "\n", Options{}, "request id already in use", false},
		{"duplicate in-flight string id", `{"jsonrpc":"2.0","id":"k","method":"wait"}` + "\n" + `{"jsonrpc":"2.0","id":"k","method":"echo"}` + "\n", Options{}, "request id already in use", false},
		{"prefix cut mid-rune", long + "\n", Options{}, "invalid JSON", false},
	}
	h := handler(map[string]Handler{
		"echo": echo,
		"wait": func(ctx context.Context, _ string, _ json.RawMessage) (json.RawMessage, error) {
			<-ctx.Done()
			return nil, nil
		},
	})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := newPeer(t, h, c.opts)
			go func() {
				p.send(c.input)
				if c.close {
					p.in.Close()
				}
			}()
			err := p.wait(t)
			var v *ViolationError
			if !errors.As(err, &v) {
				t.Fatalf("Serve = %v (%T), want a *ViolationError", err, err)
			}
			if !strings.Contains(v.Reason, c.reason) {
				t.Errorf("Reason = %q, want it to say %q", v.Reason, c.reason)
			}
			if len(v.Prefix) > 80 {
				t.Errorf("Prefix is %d bytes, want at most 80", len(v.Prefix))
			}
			if !utf8.ValidString(v.Prefix) {
				t.Errorf("Prefix %q is not valid UTF-8", v.Prefix)
			}
			if v.Prefix == "" {
				t.Error("Prefix is empty: quote the offending line")
			}
			// The prefix quotes the offending line (invalid bytes, and a rune
			// cut at 80 bytes, aside).
			if in := strings.TrimLeft(c.input, "\n"); utf8.ValidString(in) && !strings.Contains(in, strings.TrimSuffix(v.Prefix, "?")) {
				t.Errorf("Prefix %q is not from the input", v.Prefix)
			}
			if want := "protocol violation: " + v.Reason; !strings.HasPrefix(err.Error(), want) {
				t.Errorf("Error() = %q, want it to start with %q", err.Error(), want)
			}
			if !errors.Is(p.Err(), err) {
				t.Errorf("Err = %v, want the violation", p.Err())
			}
		})
	}
}

// A second answer to a request is a violation; the first one counts.
func TestDuplicateResponse(t *testing.T) {
	p := newPeer(t, nil, Options{})
	result := make(chan string, 1)
	go func() {
		r, err := p.Call(testCtx(t), "ask", nil)
		result <- fmt.Sprintf("%s %v", r, err)
	}()
	req := p.next(t)
	p.send(`{"jsonrpc":"2.0","id":` + string(req.ID) + `,"result":"first"}` + "\n")
	if r := recv(t, result, "the call"); r != `"first" <nil>` {
		t.Errorf("Call = %s", r)
	}
	p.send(`{"jsonrpc":"2.0","id":` + string(req.ID) + `,"result":"second"}` + "\n")
	var v *ViolationError
	if err := p.wait(t); !errors.As(err, &v) || !strings.Contains(v.Reason, "unknown or already answered id") || !strings.Contains(v.Prefix, "second") {
		t.Errorf("Serve = %v, want a violation quoting the second answer", err)
	}
}

// A violation fails the calls in flight with it.
func TestViolationFailsCalls(t *testing.T) {
	p := newPeer(t, nil, Options{})
	callErr := make(chan error, 1)
	go func() {
		_, err := p.Call(context.Background(), "ask", nil)
		callErr <- err
	}()
	p.next(t)
	p.send("garbage\n")
	var v *ViolationError
	if err := recv(t, callErr, "the call to fail"); !errors.As(err, &v) {
		t.Errorf("Call = %v, want the violation", err)
	}
}

func TestViolationErrorFormat(t *testing.T) {
	long := strings.Repeat("a", 79) + "é" // the 80-byte cut splits é
	cases := []struct {
		reason string
		line   string
		prefix string
		text   string
	}{
		{"bad", "", "", "protocol violation: bad"},
		{"bad", "xyz", "xyz", `protocol violation: bad: "xyz"`},
		{"bad", long, strings.Repeat("a", 79) + "?", `protocol violation: bad: "` + strings.Repeat("a", 79) + `?"`},
		{"bad", strings.Repeat("b", 200), strings.Repeat("b", 80), `protocol violation: bad: "` + strings.Repeat("b", 80) + `"`},
	}
	for _, c := range cases {
		v := violation(c.reason, []byte(c.line))
		if v.Prefix != c.prefix || v.Error() != c.text {
			t.Errorf("violation(%q, %q) = %q / %q, want %q / %q", c.reason, c.line, v.Prefix, v.Error(), c.prefix, c.text)
		}
	}
}

// A closed connection that nobody refers to any more is collected by the
// next garbage collection, with its buffers: nothing the connection
// registered elsewhere keeps it (a sync.Pool inside it did, for two
// collections).
func TestClosedConnIsCollected(t *testing.T) {
	collected := make(chan struct{})
	before := runtime.NumGoroutine()
	func() {
		ar, bw := io.Pipe()
		br, aw := io.Pipe()
		a := NewConn(ar, aw, nil, Options{}, func() { ar.Close(); aw.Close() })
		b := NewConn(br, bw, echoHandler, Options{}, func() { br.Close(); bw.Close() })
		served := make(chan error, 2)
		go func() { served <- a.Serve() }()
		go func() { served <- b.Serve() }()
		if _, err := a.Call(testCtx(t), "echo", json.RawMessage(`1`)); err != nil {
			t.Fatal(err)
		}
		runtime.AddCleanup(a, func(ch chan struct{}) { close(ch) }, collected)
		a.Close(nil)
		b.Close(nil)
		recv(t, served, "a's Serve to return")
		recv(t, served, "b's Serve to return")
	}()
	// The goroutines that ran Serve refer to the connections until they
	// have exited, just after their send: wait until they, and the
	// connections' own, are gone, then collect once.
	eventually(t, "the connections' goroutines to exit", func() bool { return runtime.NumGoroutine() <= before })
	runtime.GC()
	select {
	case <-collected:
	case <-time.After(2 * time.Second):
		t.Fatal("a closed connection was still held after a garbage collection")
	}
}
