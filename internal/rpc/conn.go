package rpc

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/airlock-go/airlock/internal/deadline"
)

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
	// answered with CodeBusy (default 64).
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

// Errors that end a connection.
var (
	// ErrClosed is returned by calls on a connection that has ended.
	ErrClosed = errors.New("connection closed")
	// ErrOverdue means the peer neither answered nor acknowledged a
	// cancelled request within the grace period.
	ErrOverdue = errors.New("ignored cancellation")
	// ErrNotSent wraps the error of a Call on a connection that had
	// already ended: the request never reached the peer.
	ErrNotSent = errors.New("request not sent")
)

// ViolationError is a message that breaks the protocol. The connection ends
// with it: a peer that breaks the protocol is not trusted further.
type ViolationError struct {
	Reason string
	// Prefix quotes the start of the offending line, at most 80 bytes.
	Prefix string
}

func (e *ViolationError) Error() string {
	if e.Prefix == "" {
		return "protocol violation: " + e.Reason
	}
	return fmt.Sprintf("protocol violation: %s: %q", e.Reason, e.Prefix)
}

func violation(reason string, line []byte) *ViolationError {
	const max = 80
	p := line
	if len(p) > max {
		p = p[:max]
	}
	return &ViolationError{Reason: reason, Prefix: string(bytes.ToValidUTF8(p, []byte("?")))}
}

// Conn is one end of a JSON-RPC connection. Its methods are safe for
// concurrent use.
type Conn struct {
	opts    Options
	r       *bufio.Reader
	w       io.Writer
	handler Handler

	out       outbox
	flushHeld job     // c.flushJob, bound once
	dec       decoder // used by the reader only

	nextID  atomic.Int64
	mu      sync.Mutex
	pending map[int64]pendingCall
	// chans holds answer channels of calls that got their answer, for
	// reuse. Not a sync.Pool: pools are registered globally, and one in a
	// Conn kept a closed connection's memory for two more collections.
	chans     chan chan answer
	overdue   map[int64]*time.Timer // requests given up on, waiting for the grace period
	deadlines deadlines
	running   map[string]*request // the peer's requests we are handling

	reqDeadlines deadline.Watch // the deadlines of the peer's requests (RequestTimeout)
	handlers     chan struct{}

	done      chan struct{}
	err       error
	closeFn   func()
	wg        sync.WaitGroup // handlers running
	loops     sync.WaitGroup // workers
	wake      chan struct{}  // hands the reader's role to an idle worker
	notes     chan job       // the peer's notifications, to run in order
	notesOnce sync.Once
	inline    atomic.Pointer[atomic.Bool] // the request the reader is running, if any
	baseCtx   context.Context
	stop      context.CancelFunc

	// Caller-reads mode; input is nil in the default mode.
	input     interruptible
	tok       chan struct{} // the reader's role: whoever holds it may read
	partial   []byte        // the start of a line longer than the buffer, or whose reading was interrupted
	long      []byte        // the last long line's memory, reused by the next (see readLine)
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
		opts:     opts,
		r:        bufio.NewReaderSize(r, 64<<10),
		w:        w,
		handler:  handler,
		pending:  map[int64]pendingCall{},
		chans:    make(chan chan answer, 64),
		overdue:  map[int64]*time.Timer{},
		running:  map[string]*request{},
		handlers: make(chan struct{}, opts.MaxHandlers),
		done:     make(chan struct{}),
		wake:     make(chan struct{}),
		notes:    make(chan job, opts.MaxHandlers),
		closeFn:  onClose,
		baseCtx:  ctx,
		stop:     stop,
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
	for id, t := range c.overdue {
		if t != nil {
			t.Stop()
		}
		delete(c.overdue, id)
	}
	if c.deadlines.timer != nil {
		c.deadlines.timer.Stop()
	}
	running := make([]*request, 0, len(c.running))
	for _, r := range c.running {
		running = append(running, r)
	}
	c.mu.Unlock()
	c.stop()
	c.reqDeadlines.Stop()
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

// Serve reads messages until the input ends or the peer breaks the
// protocol, then closes the connection and waits for running handlers. It
// returns why the connection ended.
func (c *Conn) Serve() error {
	if c.input != nil {
		c.serveIdle()
		c.wg.Wait()
		return c.err
	}
	c.loops.Add(1)
	c.worker(true)
	c.loops.Wait()
	c.wg.Wait()
	return c.err
}

// worker alternates between reading and handling. A worker reads until a
// request arrives and runs it itself, so that a small call is answered
// without waiting for another goroutine to be scheduled (most of the cost
// of a small call). If the request takes longer than handoffDelay, or
// calls the peer, the reader's role passes to an idle worker (or a new
// one) so that other messages keep flowing; otherwise this worker goes on
// reading. Workers are reused, and with them their grown stacks.
func (c *Conn) worker(reading bool) {
	defer c.loops.Done()
	watch := newInlineWatch(c)
	defer watch.stop()
	for {
		if !reading {
			select {
			case <-c.wake:
			case <-c.done:
				return
			}
		}
		run, ok := c.readUntilRequest()
		if !ok {
			return
		}
		handed := new(atomic.Bool)
		c.inline.Store(handed)
		watch.start(handed)
		run(true)
		watch.end()
		c.inline.CompareAndSwap(handed, nil)
		// If nobody took over, this worker is still the reader.
		reading = handed.CompareAndSwap(false, true)
		if !reading {
			// The new reader may already be waiting for input: it would
			// not see this answer held back.
			_ = c.flush()
		}
	}
}

// job runs the handler of one of the peer's requests or notifications and
// sends the answer. inline is true when the reading worker runs it: the
// answer may then wait for the worker's next flush (outbox.go).
type job func(inline bool)

// queueNote queues the handler of a notification. Notifications run one
// after another, in the order they came, on one goroutine: a plugin's log
// lines stay in order however long one takes to handle.
func (c *Conn) queueNote(run job) {
	c.notesOnce.Do(func() {
		c.wg.Add(1)
		go c.runNotes()
	})
	// Never blocks: each queued job holds one of MaxHandlers slots.
	c.notes <- run
}

// runNotes runs the peer's notifications in order until the connection
// ends, then the ones still queued.
func (c *Conn) runNotes() {
	defer c.wg.Done()
	for {
		select {
		case run := <-c.notes:
			run(false)
		case <-c.done:
			for {
				select {
				case run := <-c.notes:
					run(false)
				default:
					return
				}
			}
		}
	}
}

// handOffOnce hands the reader's role over, once per inline request.
func (c *Conn) handOffOnce(handed *atomic.Bool) {
	if handed.CompareAndSwap(false, true) {
		c.handOff()
	}
}

// handOff gives the reader's role to an idle worker, or to a new one.
func (c *Conn) handOff() {
	select {
	case c.wake <- struct{}{}:
	case <-c.done:
	default:
		c.loops.Add(1)
		go c.worker(true)
	}
}

// readUntilRequest reads and dispatches messages until one is a request to
// run; notifications are queued to run in order. ok is false once the
// connection has ended.
func (c *Conn) readUntilRequest() (run job, ok bool) {
	for {
		if c.out.held() && !c.lineBuffered() {
			// Answers held back leave before a read that may wait, written
			// as a request's job is run: a write that waits for the peer
			// hands the reading over, or two peers both writing and
			// neither reading would wait for ever.
			return c.flushHeld, true
		}
		line, err := c.readLine()
		if err != nil {
			c.Close(err)
			return nil, false
		}
		run, notification, verr := c.dispatch(line)
		switch {
		case verr != nil:
			c.Close(verr)
			return nil, false
		case run != nil && notification:
			c.queueNote(run)
		case run != nil:
			return run, true
		}
	}
}

// maxKeptLine bounds the memory a connection keeps for reading long lines
// between them.
const maxKeptLine = 1 << 20

// readLine returns the next line without its line ending, skipping blank
// lines. A line longer than MaxMessage is a violation (threat: a flood with
// no newline growing the host's buffer without bound).
func (c *Conn) readLine() ([]byte, error) {
	for {
		frag, err := c.r.ReadSlice('\n')
		switch {
		case err == nil:
			line := frag
			if c.partial != nil {
				line = append(c.partial, frag...)
				c.partial = nil
				// Dispatch copies what it keeps of a line, so the next long
				// line may reuse this one's memory: a plugin exchanging
				// large messages would otherwise grow a new one each time.
				if cap(line) <= maxKeptLine {
					c.long = line[:0]
				}
			}
			if len(line)-1 > c.opts.MaxMessage {
				return nil, violation(fmt.Sprintf("message of %d bytes exceeds the limit of %d", len(line)-1, c.opts.MaxMessage), line)
			}
			line = bytes.TrimRight(line, "\r\n")
			if len(line) == 0 {
				continue
			}
			return line, nil
		case errors.Is(err, bufio.ErrBufferFull):
			if c.partial == nil {
				c.partial, c.long = c.long, nil
			}
			c.partial = append(c.partial, frag...)
			if len(c.partial) > c.opts.MaxMessage {
				return nil, violation(fmt.Sprintf("message exceeds the limit of %d bytes", c.opts.MaxMessage), c.partial)
			}
		case isInterrupt(err):
			// Interrupted (caller-reads mode): keep what was read for the
			// next reader.
			c.partial = append(c.partial, frag...)
			return nil, err
		case errors.Is(err, io.EOF) && len(c.partial)+len(frag) > 0:
			return nil, violation("stream ended inside a message", append(c.partial, frag...))
		default:
			return nil, err
		}
	}
}

// dispatch handles one incoming line. It returns the handler to run for a
// request, if any; a violation ends the connection.
func (c *Conn) dispatch(line []byte) (run job, notification bool, verr *ViolationError) {
	if line[0] != '{' {
		return nil, false, violation("line is not a JSON-RPC message", line)
	}
	var m Message
	if !c.dec.decodeShaped(line, &m) { // the shapes Airlock writes first (shape.go)
		if err := c.dec.decode(line, &m); err != nil {
			// The decoder reads the whole line and refuses invalid UTF-8
			// anywhere in it: the separate check is needed only to say so.
			if !utf8.Valid(line) {
				return nil, false, violation("message is not valid UTF-8", line)
			}
			return nil, false, violation(invalidJSON(err).Error(), line)
		}
	}
	if m.JSONRPC != Version {
		return nil, false, violation(`missing "jsonrpc": "2.0"`, line)
	}
	switch {
	case m.Method != "" && m.Result == nil && m.Error == nil:
		run, verr := c.onRequest(m, line)
		return run, m.ID == nil, verr
	case m.Method == "" && m.ID != nil && (m.Result != nil) != (m.Error != nil):
		return nil, false, c.onResponse(&m, line)
	default:
		return nil, false, violation("neither a request nor a response", line)
	}
}

func (c *Conn) onResponse(m *Message, line []byte) *ViolationError {
	id, err := strconv.ParseInt(string(m.ID), 10, 64)
	if err != nil {
		return violation("response id is not one we sent", line)
	}
	c.mu.Lock()
	p, ok := c.pending[id]
	if ok {
		c.unpend(id)
	}
	t, late := c.overdue[id]
	if late {
		if t != nil {
			t.Stop()
		}
		delete(c.overdue, id)
	}
	c.mu.Unlock()
	switch {
	case ok:
		p.ch <- answer{result: m.Result, err: m.Error}
	case late:
		// The answer to a request we gave up on: drop it.
	default:
		// Threat: a peer answering requests never made, or answering one
		// twice, is forging or confused; either way it is not trusted.
		return violation("response to an unknown or already answered id", line)
	}
	return nil
}

func (c *Conn) onRequest(m Message, line []byte) (job, *ViolationError) {
	// The id is a slice of line (decoder.decode): the answer needs a copy.
	m.ID = bytes.Clone(m.ID)
	if m.Method == MethodCancel {
		var p CancelParams
		if Unmarshal(m.Params, &p) == nil {
			c.mu.Lock()
			r := c.running[string(p.ID)]
			c.mu.Unlock()
			if r != nil {
				r.end(context.Canceled)
			}
		}
		return nil, nil
	}
	if m.ID != nil && !validID(m.ID) {
		return nil, violation("request id must be a number or a string", line)
	}
	if c.handler == nil {
		if m.ID != nil {
			c.reply(m.ID, nil, Errorf(CodeMethodNotFound, "method %q not found", m.Method), true)
		}
		return nil, nil
	}
	// A notification cannot be cancelled on its own: it ends with the
	// connection.
	ctx := c.baseCtx
	var r *request
	key := string(m.ID)
	if m.ID != nil {
		r = &request{conn: c, id: m.ID, call: m.call, hasCall: m.hasCall, origin: c.origin(m.Origin)}
		c.mu.Lock()
		if _, dup := c.running[key]; dup {
			c.mu.Unlock()
			return nil, violation("request id already in use", line)
		}
		c.running[key] = r
		c.mu.Unlock()
		if c.Err() != nil {
			r.end(context.Canceled) // Close may have missed it
		}
		ctx = r
	}
	select {
	case c.handlers <- struct{}{}:
	default:
		if m.ID != nil {
			c.finish(key, r)
			c.reply(m.ID, nil, Errorf(CodeBusy, "too many requests in flight (limit %d)", c.opts.MaxHandlers), true)
		}
		return nil, nil
	}
	c.wg.Add(1)
	return func(inline bool) {
		defer c.wg.Done()
		// Free the id and the slot before answering: the peer may reuse
		// the id, or send its next request, as soon as it has the answer.
		result, err := func() (json.RawMessage, error) {
			defer func() { <-c.handlers }()
			if r != nil {
				defer c.finish(key, r)
			}
			return c.handler(ctx, m.Method, m.Params)
		}()
		if m.ID != nil {
			// Run inline by the reading worker, the answer may wait for
			// the worker's flush (outbox.go).
			c.reply(m.ID, result, err, !inline)
		}
	}, nil
}

// finish forgets request key, handled, and ends its context.
func (c *Conn) finish(key string, r *request) {
	c.mu.Lock()
	delete(c.running, key)
	c.mu.Unlock()
	if r.timed() {
		c.reqDeadlines.Remove(r)
	}
	r.end(context.Canceled)
}

func validID(id json.RawMessage) bool {
	if len(id) == 0 {
		return false
	}
	switch id[0] {
	case '"':
		return true
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return true
	}
	return false
}

// reply answers request id; with flush false it only queues the answer
// (see outbox.go).
func (c *Conn) reply(id json.RawMessage, result json.RawMessage, err error, flush bool) {
	m := Message{JSONRPC: Version, ID: id}
	if err != nil {
		var re *Error
		if !errors.As(err, &re) {
			re = &Error{Code: CodeFailed, Message: err.Error()}
		}
		m.Error = re
	} else {
		if result == nil {
			result = json.RawMessage("null")
		}
		m.Result = result
	}
	if err := c.send(context.Background(), &m, flush); errors.Is(err, ErrTooLarge) {
		// An answer over the limit becomes an error the peer can read
		// (sizelimit.go).
		m.Result, m.Error = nil, tooLargeAnswer(err)
		_ = c.send(context.Background(), &m, flush)
	}
}

// appendMessage encodes m as one line of JSON. Params and Result are
// copied as they are, not checked again (that would cost a pass over every
// payload): they come from Marshal, or were checked by whoever produced
// them (see Call, Handler and CheckRaw). They are only kept on one line.
func appendMessage(buf []byte, m *Message) ([]byte, error) {
	buf = append(buf, `{"jsonrpc":"2.0"`...)
	switch {
	case m.ID != nil:
		buf = append(buf, `,"id":`...)
		buf = append(buf, oneLine(m.ID)...)
	case m.numID != 0:
		buf = append(buf, `,"id":`...)
		buf = strconv.AppendInt(buf, m.numID, 10)
	}
	if m.Method != "" {
		var err error
		buf = append(buf, `,"method":`...)
		if buf, err = jsontext.AppendQuote(buf, m.Method); err != nil {
			return nil, fmt.Errorf("method name: %w", err)
		}
	}
	if m.Origin != nil {
		buf = append(buf, `,"origin":`...)
		buf = append(buf, oneLine(m.Origin)...)
	}
	switch {
	case m.Params != nil:
		buf = append(buf, `,"params":`...)
		buf = append(buf, oneLine(m.Params)...)
	case m.appendParams != nil:
		var err error
		buf = append(buf, `,"params":`...)
		if buf, err = m.appendParams.AppendJSON(buf); err != nil {
			return nil, err
		}
	}
	if m.Error != nil {
		e, err := Marshal(m.Error)
		if err != nil {
			return nil, err
		}
		buf = append(buf, `,"error":`...)
		buf = append(buf, e...)
	} else if m.Result != nil {
		buf = append(buf, `,"result":`...)
		buf = append(buf, oneLine(m.Result)...)
	}
	return append(buf, '}'), nil
}

func describe(m *Message) string {
	if m.Method != "" {
		return m.Method
	}
	return "response"
}

// Call sends a request and waits for its response. When ctx ends first, it
// sends $/cancel and returns ctx's error; if the peer then answers nothing
// within the grace period, the connection is closed with ErrOverdue.
// params given as a json.RawMessage must be valid JSON; anything else is
// encoded with encoding/json.
func (c *Conn) Call(ctx context.Context, method string, params any) (json.RawMessage, error) {
	return c.call(ctx, 0, method, params)
}

func (c *Conn) call(ctx context.Context, timeout time.Duration, method string, params any) (json.RawMessage, error) {
	// Params that encode themselves are encoded straight into the outgoing
	// buffer, not into one of their own first: one copy of a large input
	// fewer.
	a, direct := params.(appender)
	var raw json.RawMessage
	if !direct {
		var err error
		if raw, err = marshalParams(params); err != nil {
			return nil, err
		}
	}
	id := c.nextID.Add(1)
	var ch chan answer
	select {
	case ch = <-c.chans:
	default:
		ch = make(chan answer, 1)
	}
	c.mu.Lock()
	select {
	case <-c.done:
		c.mu.Unlock()
		return nil, fmt.Errorf("%w: %w", ErrNotSent, c.err)
	default:
	}
	p := pendingCall{ch: ch, ctx: ctx}
	if timeout > 0 {
		p.at = time.Now().Add(timeout)
		c.armDeadline(p.at)
	}
	c.pending[id] = p
	c.mu.Unlock()

	// A request running on the reading worker that calls the peer needs
	// someone else to read the answer.
	if h := c.inline.Load(); h != nil {
		c.handOffOnce(h)
	}
	if c.input != nil {
		c.beginCall()
		defer c.endCall()
	}
	if err := c.write(ctx, &Message{JSONRPC: Version, numID: id, Method: method, Origin: c.originOf(ctx), Params: raw, appendParams: a}); err != nil {
		c.forget(id)
		if errors.Is(err, c.Err()) {
			err = fmt.Errorf("%w: %w", ErrNotSent, err)
		}
		return nil, err
	}
	ans, err := c.await(ctx, id, ch)
	if err != nil {
		return nil, err // ch may yet get an answer: not reused
	}
	select {
	case c.chans <- ch: // emptied, and nobody else sends on it any more
	default:
	}
	switch {
	case ans.expired:
		return nil, ErrTimeout
	case ans.err != nil:
		return nil, ans.err
	}
	return ans.result, nil
}

func (c *Conn) forget(id int64) {
	c.mu.Lock()
	c.unpend(id)
	c.mu.Unlock()
}

// abandon gives up on request id: it tells the peer, and arms a timer that
// closes the connection if the peer does not answer within the grace period
// (threat: a plugin that ignores cancellation would otherwise hold its
// resources, and its share of the host's, for ever).
func (c *Conn) abandon(id int64) {
	c.mu.Lock()
	if _, ok := c.pending[id]; !ok {
		c.mu.Unlock()
		return // answered in the meantime
	}
	c.unpend(id)
	c.overdue[id] = c.graceTimer(id)
	c.mu.Unlock()
	c.sendCancel(id)
}

// graceTimer returns the timer that ends the connection if request id,
// given up on, is still unanswered after the grace period; nil when there
// is no grace limit. The overdue entry it goes in lets the late answer be
// dropped.
func (c *Conn) graceTimer(id int64) *time.Timer {
	if c.opts.CancelGrace <= 0 {
		return nil
	}
	return time.AfterFunc(c.opts.CancelGrace, func() {
		c.mu.Lock()
		_, still := c.overdue[id]
		c.mu.Unlock()
		if still {
			c.Close(fmt.Errorf("%w: no answer %v after cancelling request %d", ErrOverdue, c.opts.CancelGrace, id))
		}
	})
}

// sendCancel tells the peer, without waiting, that request id was given
// up on.
func (c *Conn) sendCancel(id int64) {
	idRaw := json.RawMessage(strconv.AppendInt(nil, id, 10))
	go func() {
		ctx, cancel := c.baseCtx, context.CancelFunc(func() {})
		if c.opts.CancelGrace > 0 {
			ctx, cancel = context.WithTimeout(c.baseCtx, c.opts.CancelGrace)
		}
		defer cancel()
		_ = c.Notify(ctx, MethodCancel, CancelParams{ID: idRaw})
	}()
}

// Notify sends a notification, which gets no answer.
func (c *Conn) Notify(ctx context.Context, method string, params any) error {
	raw, err := marshalParams(params)
	if err != nil {
		return err
	}
	return c.write(ctx, &Message{JSONRPC: Version, Method: method, Params: raw})
}

func marshalParams(params any) (json.RawMessage, error) {
	switch p := params.(type) {
	case nil:
		return nil, nil
	case json.RawMessage:
		return p, nil
	case appender:
		return p.AppendJSON(nil)
	}
	raw, err := Marshal(params)
	if err != nil {
		return nil, fmt.Errorf("encode params: %w", err)
	}
	return raw, nil
}
