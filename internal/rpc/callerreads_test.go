package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airlock-go/airlock/protocol"
)

// TestCallerReadsMode runs the whole suite again with every Conn in
// caller-reads mode over operating-system pipes, once for each way of
// interrupting a read: poll(2) beside an eventfd (Linux; elsewhere the
// pipes' own deadlines), and read deadlines.
func TestCallerReadsMode(t *testing.T) {
	if os.Getenv(callerReadsEnv) != "" {
		return // already an inner run
	}
	needInterruptible(t)
	for _, mode := range append([]string{"poll", "deadline"}, platformModes...) {
		t.Run(mode, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.count=1", "-test.timeout=2m")
			cmd.Env = append(os.Environ(), callerReadsEnv+"="+mode)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("the suite in caller-reads mode (%s) failed: %v\n%s", mode, err, out)
			}
			if !strings.Contains(string(out), "PASS") {
				t.Fatalf("the suite in caller-reads mode (%s) printed no PASS:\n%s", mode, out)
			}
		})
	}
}

// needInterruptible skips a test of caller-reads mode where pipes can be
// neither polled nor given read deadlines (Windows): there the Conn stays
// in the default mode, which the rest of the suite tests, and
// TestFallsBackWithoutDeadlines checks.
func needInterruptible(t *testing.T) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	in := newInterruptible(r, idle)
	if in == nil {
		t.Skip("caller-reads mode needs pipes it can interrupt; these have no read deadlines")
	}
	in.release()
}

// idle is the busy function of an input with no other calls in flight.
func idle() bool { return false }

// Where the input has no read deadlines, a Conn asked for caller-reads
// mode stays in the default mode, and works.
func TestFallsBackWithoutDeadlines(t *testing.T) {
	r, w := io.Pipe() // no SetReadDeadline at all
	p := newPeerWith(t, echoHandler, Options{}, r, w)
	c := NewConn(r, io.Discard, nil, Options{CallerReads: true}, nil)
	if c.input != nil {
		t.Fatal("caller-reads mode on an input that cannot be interrupted")
	}
	p.send(`{"jsonrpc":"2.0","id":1,"method":"echo","params":1}` + "\n")
	if m := p.next(t); string(m.Result) != "1" {
		t.Fatalf("answer = %+v", m)
	}
}

// osPeer is a caller-reads Conn whose input the test writes by hand.
func osPeer(t *testing.T, h Handler) (*Conn, *os.File, *peer) {
	t.Helper()
	needInterruptible(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	var in io.ReadCloser = r
	if os.Getenv(callerReadsEnv) == "deadline" {
		in = deadlineOnly{r}
	}
	p := newPeerWith(t, h, Options{CallerReads: true, CancelGrace: -1}, in, w)
	return p.Conn, w, p
}

// callerBlockedReading waits until a caller reading for its answer
// (lead) is blocked in its read: in a system call (poll(2) on Linux) or
// parked in Go's poller. An event rather than a sleep, so that a loaded
// machine cannot make the test take another path than the one it means
// (interrupting a reader that has not started reading yet).
func callerBlockedReading(t *testing.T) {
	t.Helper()
	buf := make([]byte, 1<<20)
	blocked := func() bool {
		n := runtime.Stack(buf, true)
		for _, g := range strings.Split(string(buf[:n]), "\n\n") {
			if strings.Contains(g, "(*Conn).lead(") && (strings.Contains(g, "[syscall") || strings.Contains(g, "[IO wait")) {
				return true
			}
		}
		return false
	}
	// Seen twice in a row: a read that returns at once (input was
	// waiting) can be caught in its system call once.
	eventually(t, "a caller blocked in its read", func() bool {
		if !blocked() {
			return false
		}
		time.Sleep(time.Millisecond)
		return blocked()
	})
}

// A request the peer sends while no call is in flight is read by the
// background reader and answered.
func TestCallerReadsAnswersWhenIdle(t *testing.T) {
	_, _, p := osPeer(t, echoHandler)
	for i := range 3 {
		eventually(t, "the background reader reading", p.Conn.bgReading.Load) // idle (again)
		p.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"echo","params":"idle"}`+"\n", i))
		if m := p.next(t); string(m.ID) != fmt.Sprint(i) || string(m.Result) != `"idle"` {
			t.Fatalf("answer %d = %+v", i, m)
		}
	}
}

// A caller whose context ends while it is reading stops at once, and what
// it had read of a line is kept for the next reader: the line's end
// completes it.
func TestCallerReadsInterruptedMidLine(t *testing.T) {
	c, _, p := osPeer(t, nil)
	ctx, cancel := context.WithCancel(testCtx(t))
	done := make(chan error, 1)
	go func() {
		_, err := c.Call(ctx, "slow", nil)
		done <- err
	}()
	req := p.next(t)
	// Half of the answer, then the caller gives up.
	answer := fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"result":"late"}`+"\n", req.ID)
	p.send(answer[:10])
	// The caller blocks again only once it has read those bytes: a read
	// with input waiting does not block.
	callerBlockedReading(t)
	cancel()
	if err := recv(t, done, "the cancelled call"); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled call = %v, want context.Canceled", err)
	}
	if m := p.next(t); m.Method != protocol.MethodCancel {
		t.Fatalf("after cancelling the Conn wrote %+v, want $/cancel", m)
	}
	// The rest of the late answer: dropped, not a violation.
	p.send(answer[10:])
	go func() {
		res, err := c.Call(testCtx(t), "next", nil)
		if err == nil && string(res) != `"fine"` {
			err = fmt.Errorf("result %s", res)
		}
		done <- err
	}()
	req = p.next(t)
	p.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"result":"fine"}`+"\n", req.ID))
	if err := recv(t, done, "the next call"); err != nil {
		t.Fatalf("next call: %v (connection: %v)", err, c.Err())
	}
}

// Close ends a call whose goroutine is blocked reading.
func TestCallerReadsClose(t *testing.T) {
	c, _, p := osPeer(t, nil)
	done := make(chan error, 1)
	go func() {
		_, err := c.Call(context.Background(), "never", nil)
		done <- err
	}()
	p.next(t)
	callerBlockedReading(t)
	c.Close(errors.New("stopping"))
	if err := recv(t, done, "the call after Close"); err == nil || !strings.Contains(err.Error(), "stopping") {
		t.Fatalf("call after Close = %v, want the close reason", err)
	}
}

// Many callers share the reading: every answer reaches its own caller,
// answered in any order.
func TestCallerReadsManyCallers(t *testing.T) {
	c, _, p := osPeer(t, nil)
	const callers = 32
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := c.Call(testCtx(t), "who", i)
			if err == nil && string(res) != fmt.Sprint(i) {
				err = fmt.Errorf("caller %d got %s", i, res)
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	reqs := make([]Message, callers)
	for i := range reqs {
		reqs[i] = p.next(t)
	}
	for i := len(reqs) - 1; i >= 0; i-- { // answer in reverse order
		p.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"result":%s}`+"\n", reqs[i].ID, reqs[i].Params))
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// Requests from the peer read by a caller run on their own goroutines: a
// handler that blocks does not hold up the caller's answer.
func TestCallerReadsHandlerDoesNotBlockReader(t *testing.T) {
	release := make(chan struct{})
	h := handler(map[string]Handler{"block": func(context.Context, string, json.RawMessage) (json.RawMessage, error) {
		<-release
		return nil, nil
	}})
	c, _, p := osPeer(t, h)
	t.Cleanup(func() { close(release) }) // before the Conn's cleanup waits for the handler
	done := make(chan error, 1)
	go func() {
		_, err := c.Call(testCtx(t), "work", nil)
		done <- err
	}()
	req := p.next(t)
	p.send(`{"jsonrpc":"2.0","id":"p1","method":"block"}` + "\n")
	p.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"result":null}`+"\n", req.ID))
	if err := recv(t, done, "the call"); err != nil {
		t.Fatal(err)
	}
}
