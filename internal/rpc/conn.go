package rpc

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// A Conn's code is split by role:
//
//   - conn.go: its state and its lifecycle (NewConn, Close);
//   - client.go: the calls it makes (Call, Notify) and their answers;
//   - serve.go: the peer's requests it runs (dispatch to the Handler, the
//     requests running, their answers);
//   - reader.go: who reads the input, in the default mode (a worker that
//     runs small requests itself and hands the reading over, handoff.go);
//     callerreads.go: in caller-reads mode;
//   - deadlines.go: the one timer for every deadline the connection keeps;
//   - outbox.go: how messages are written.

// Handler answers the requests and notifications the peer sends. For a
// notification the result is discarded. ctx is cancelled when the peer sends
// $/cancel for the request or the connection closes. The result must be
// valid JSON: it is sent as it is.
type Handler func(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, error)

// Options tune a Conn; the zero value is usable. The host's process tier
// sets MaxMessage and CancelGrace from the plugin's limits (tier.Limits:
// max_message_bytes and cancel_grace in a host.toml, where their defaults
// are declared); the defaults here are for a Conn made without them, such
// as the plugin SDK's.
type Options struct {
	// MaxMessage bounds one message, in bytes, not counting the newline
	// that ends it (default 4 MiB). It holds in both directions: a longer
	// line read is a violation, and a longer message is not sent (the
	// send fails with ErrTooLarge; an answer is replaced by an error).
	MaxMessage int
	// MaxHandlers bounds the peer's requests handled at once; more are
	// answered with protocol.CodeBusy (default 64).
	MaxHandlers int
	// CancelGrace is how long the peer has to answer a request after it was
	// sent $/cancel. A peer that does not answer by then is considered stuck
	// and the connection is closed with ErrOverdue (default 1s; negative:
	// never).
	CancelGrace time.Duration
	// CallerReads lets the goroutines waiting for answers read the input
	// themselves, which saves a goroutine hand-off on every call (see
	// callerreads.go). It takes effect only if the input supports read
	// deadlines; the host sets it, the plugin SDK does not (a plugin is
	// mostly answering requests, not waiting for answers).
	CallerReads bool
	// RequestBytesPerSecond bounds the bytes of the peer's requests and
	// notifications read a second, with a burst of one message of
	// MaxMessage or a second's worth, whichever is larger: past it, the
	// input is read more slowly (pace.go). Zero: no bound.
	RequestBytesPerSecond int
	// OnPaced, if set, is told of each wait the pace imposes, as the
	// request that runs past it is read: it runs on the reader's
	// goroutine and must not block.
	OnPaced func(wait time.Duration)
}

func (o Options) withDefaults() Options {
	if o.MaxMessage <= 0 {
		o.MaxMessage = 4 << 20
	}
	if o.MaxHandlers <= 0 {
		o.MaxHandlers = 64
	}
	if o.CancelGrace == 0 {
		o.CancelGrace = time.Second
	}
	return o
}

// Conn is one end of a JSON-RPC connection. Its methods are safe for
// concurrent use.
type Conn struct {
	opts Options
	w    io.Writer
	out  outbox

	// mu guards the client's pending and overdue calls, the requests
	// running and the deadlines.
	mu        sync.Mutex
	deadlines deadlines

	client
	server
	reader

	done    chan struct{}
	err     error
	closeFn func()
}

// client is the state of the calls a Conn makes (client.go).
type client struct {
	nextID  atomic.Int64
	pending map[int64]pendingCall // calls waiting for their answer
	// chans holds answer channels of calls that got their answer, for
	// reuse. Not a sync.Pool: pools are registered globally, and one in a
	// Conn kept a closed connection's memory for two more collections.
	chans   chan chan answer
	overdue map[int64]time.Time // requests given up on, until when they may still be answered
}

// server is the state of the peer's requests a Conn runs (serve.go).
type server struct {
	handler   Handler
	running   map[string]*request // the peer's requests being handled
	handlers  chan struct{}       // a slot per request handled at once
	answers   chan struct{}       // a slot per answer not yet queued (serve.go)
	wg        sync.WaitGroup      // handlers running
	notes     chan job            // the peer's notifications, to run in order
	notesOnce sync.Once
	baseCtx   context.Context // ends with the connection
	stop      context.CancelFunc
	flushHeld job // c.flushJob, bound once
}

// reader is the state of whoever reads the input (reader.go and, in
// caller-reads mode, callerreads.go).
type reader struct {
	r       *bufio.Reader
	dec     decoder       // used by the reader only
	partial []byte        // the start of a line longer than the buffer, or whose reading was interrupted
	long    []byte        // the last long line's memory, reused by the next (see readLine)
	pace    *rate.Limiter // the peer's request bytes (pace.go); nil: no bound
	resume  time.Time     // when the next message may be read; zero: now
	// paceWake interrupts a wait for the pace (caller-reads mode with a
	// pace; nil otherwise).
	paceWake chan struct{}

	// Default mode.
	loops  sync.WaitGroup              // workers
	wake   chan struct{}               // hands the reader's role to an idle worker
	inline atomic.Pointer[atomic.Bool] // the request the reader is running, if any

	// Caller-reads mode; input is nil in the default mode.
	input     interruptible
	tok       chan struct{} // the reader's role: whoever holds it may read
	calls     atomic.Int64  // calls in flight
	lastCall  atomic.Int64  // when the last call ended, since epoch
	bgReading atomic.Bool   // the background reader is reading
	epoch     time.Time
}

// NewConn makes a connection that reads messages from r and writes them to
// w. handler may be nil if the peer sends no requests. onClose, if not nil,
// runs once when the connection ends, to release r and w (for a process:
// kill it).
func NewConn(r io.Reader, w io.Writer, handler Handler, opts Options, onClose func()) *Conn {
	opts = opts.withDefaults()
	ctx, stop := context.WithCancel(context.Background())
	c := &Conn{
		opts: opts,
		w:    w,
		client: client{
			pending: map[int64]pendingCall{},
			chans:   make(chan chan answer, 64),
			overdue: map[int64]time.Time{},
		},
		server: server{
			handler:  handler,
			running:  map[string]*request{},
			handlers: make(chan struct{}, opts.MaxHandlers),
			answers:  make(chan struct{}, opts.MaxHandlers),
			notes:    make(chan job, opts.MaxHandlers),
			baseCtx:  ctx,
			stop:     stop,
		},
		reader: reader{
			r:    bufio.NewReaderSize(r, 64<<10),
			wake: make(chan struct{}),
			pace: NewPace(opts.RequestBytesPerSecond, opts.MaxMessage),
		},
		done:    make(chan struct{}),
		closeFn: onClose,
	}
	c.flushHeld = c.flushJob
	if opts.CallerReads {
		c.setupCallerReads(r)
	}
	return c
}

// Done is closed when the connection has ended.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err returns why the connection ended; nil while it runs.
func (c *Conn) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

// Close ends the connection with reason err (ErrClosed if nil). Calls in
// flight fail with it. It is safe to call more than once.
func (c *Conn) Close(err error) {
	if err == nil {
		err = ErrClosed
	}
	c.mu.Lock()
	select {
	case <-c.done:
		c.mu.Unlock()
		return
	default:
	}
	c.err = err
	close(c.done)
	clear(c.overdue)
	c.deadlines.stop()
	running := make([]*request, 0, len(c.running))
	for _, r := range c.running {
		running = append(running, r)
	}
	c.mu.Unlock()
	c.stop()
	for _, r := range running {
		r.end(context.Canceled)
	}
	if c.input != nil {
		c.interrupt() // a reader blocked in a read sees the end
		go c.releaseInput()
	}
	if c.closeFn != nil {
		c.closeFn()
	}
}
