// Package process is the process tier: it runs a plugin as a child process
// and speaks the protocol with it over the anonymous pipes on its standard
// input and output. Nothing else connects the two: no socket, no port, no
// file another program could open.
package process

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/airlock-go/airlock/internal/rpc"
	"github.com/airlock-go/airlock/internal/sandbox"
	"github.com/airlock-go/airlock/internal/tier"
	"github.com/airlock-go/airlock/protocol"
)

// Starter starts process plugins. Its zero value is ready to use.
type Starter struct{}

// Start spawns the plugin, runs the handshake and returns the running
// plugin. On failure the process is gone and the error says why: not
// found, not executable, wrong architecture, interpreter missing, exited
// with a status and these last log lines, or answered something that is not
// the protocol.
func (Starter) Start(ctx context.Context, spec tier.Spec) (tier.Instance, error) {
	spec.Limits = spec.Limits.WithDefaults()
	cmd, interp, err := command(spec)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", tier.ErrStart, err)
	}
	p, err := spawn(cmd, spec, interp)
	if errors.Is(err, sandbox.ErrNamespaces) {
		// The kernel made the namespaces but refused to let the launcher
		// set them up: the system call filter's layer still holds.
		spec.Log.Warn("sandbox: starting without namespaces", "reason", err)
		spec.NoNamespaces = true
		if cmd, interp, err = command(spec); err == nil {
			p, err = spawn(cmd, spec, interp)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", tier.ErrStart, err)
	}
	hctx, cancel := context.WithTimeout(ctx, spec.Limits.StartTimeout)
	defer cancel()
	if err := p.handshake(hctx, spec); err != nil {
		p.kill()
		<-p.done
		return nil, err
	}
	return p, nil
}

// command builds the command line, environment and working directory. It
// also returns the interpreter's path, if the plugin has one.
func command(spec tier.Spec) (*exec.Cmd, string, error) {
	run := spec.Manifest.RunHere()
	entry := filepath.Join(spec.Dir, filepath.FromSlash(run.Entry))
	if spec.Entry != "" {
		// The operator's choice, e.g. an Android app's nativeLibraryDir,
		// where a manifest may not point.
		entry, run.Entry = spec.Entry, spec.Entry
	}
	st, err := os.Stat(entry)
	switch {
	case errors.Is(err, os.ErrNotExist):
		hint := ""
		if spec.Manifest.Build != nil {
			hint = " (build it first: airlock build " + spec.Dir + ")"
		}
		return nil, "", fmt.Errorf("entry %s not found%s", run.Entry, hint)
	case err != nil:
		return nil, "", fmt.Errorf("entry %s: %w", run.Entry, err)
	case !st.Mode().IsRegular():
		return nil, "", fmt.Errorf("entry %s is not a regular file", run.Entry)
	}
	var argv []string
	interp := ""
	if len(run.Interpreter) > 0 {
		// The interpreter is found in the host's PATH, since the plugin's
		// own environment is empty.
		interp, err = findInterpreter(run.Interpreter[0])
		if err != nil {
			return nil, "", fmt.Errorf("interpreter %q not found in PATH: install it, or set [platform] interpreter in plugin.toml", run.Interpreter[0])
		}
		argv = append([]string{interp}, run.Interpreter[1:]...)
		argv = append(argv, entry)
	} else {
		if runtime.GOOS != "windows" && st.Mode().Perm()&0o111 == 0 {
			return nil, "", fmt.Errorf("entry %s is not executable (chmod +x it, or name an interpreter in plugin.toml)", run.Entry)
		}
		argv = []string{entry}
	}
	argv = append(argv, run.Args...)
	argv = append(argv, spec.Args...)
	cmd := &exec.Cmd{
		Path: argv[0],
		Args: argv,
		Dir:  spec.Dir,
		Env:  environment(spec),
	}
	processGroup(cmd)
	return cmd, interp, nil
}

// environment returns the child's environment: only the variables granted
// with env:NAME (threat: the icinga daemon's mistake of handing plugins the
// whole environment, database password included).
func environment(spec tier.Spec) []string {
	env := []string{}
	for _, name := range spec.Grants.Scopes("env") {
		if v, ok := os.LookupEnv(name); ok {
			env = append(env, name+"="+v)
		}
	}
	return append(env, platformEnv()...)
}

// proc is one running plugin process.
type proc struct {
	spec  tier.Spec
	cmd   *exec.Cmd
	group *group // the plugin and everything it starts
	conn  *rpc.Conn
	logs  *logPump
	slots chan struct{} // calls in flight
	// endBox releases what the sandbox holds once the plugin has ended
	// (explain mode's loop), and not before boxChecked is closed: a plugin
	// that dies at once must not have its sandbox released while start
	// still reads the launcher's report.
	endBox     func()
	boxChecked chan struct{}

	info protocol.InitializeResult

	killOnce sync.Once
	done     chan struct{}
	err      error // why it ended; set before done is closed
	stopping chan struct{}
	stopOnce sync.Once
}

func spawn(cmd *exec.Cmd, spec tier.Spec, interp string) (*proc, error) {
	// Our own pipes, so that nothing but these two processes holds their
	// ends, and so that the host can close its ends to unblock readers.
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := outputPipe()
	if err != nil {
		closeAll(inR, inW)
		return nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		closeAll(inR, inW, outR, outW)
		return nil, err
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, errW
	target := cmd.Path
	box, err := confine(cmd, spec, interp)
	if err != nil {
		closeAll(inR, inW, outR, outW, errR, errW)
		return nil, err
	}
	closeInheritedOnExec()
	if cmd, err = box.start(cmd); err != nil {
		box.abort()
		closeAll(inR, inW, outR, outW, errR, errW)
		return nil, explainStartError(target, err)
	}
	closeAll(inR, outW, errW) // the child's ends
	group := newGroup(cmd.Process, spec.Limits)
	p := &proc{
		spec:       spec,
		cmd:        cmd,
		group:      group,
		logs:       newLogPump(errR, spec.Log, spec.Limits),
		slots:      make(chan struct{}, spec.Limits.MaxInflight),
		endBox:     box.end,
		boxChecked: make(chan struct{}),
		done:       make(chan struct{}),
		stopping:   make(chan struct{}),
	}
	p.conn = rpc.NewConn(outR, inW, p.handleHostCall, rpc.Options{
		MaxMessage:  spec.Limits.MaxMessage,
		CancelGrace: spec.Limits.CancelGrace,
		CallerReads: true,
		// Threat: host calls that cost the host more to check than the
		// plugin to send (internal/rpc/pace.go).
		RequestBytesPerSecond: spec.Limits.HostCallBytesPerSec,
		OnPaced:               spec.Paced,
	}, func() {
		// Closing both ends unblocks the reader and tells the plugin,
		// through end of file on its input, that the host is gone.
		inW.Close()
		outR.Close()
	})
	go p.supervise(outR)
	err = box.started()
	close(p.boxChecked)
	if err != nil {
		p.kill()
		<-p.done
		return nil, explainStartError(target, err)
	}
	return p, nil
}

func closeAll(files ...*os.File) {
	for _, f := range files {
		f.Close()
	}
}

// explainStartError turns exec's errors into what a plugin author needs to
// know.
func explainStartError(path string, err error) error {
	msg := err.Error()
	switch {
	case errors.Is(err, sandbox.ErrNamespaces):
		return err
	case errors.Is(err, syscall.ENOEXEC) || strings.Contains(msg, "exec format error"):
		return fmt.Errorf("%s is not an executable for %s/%s (wrong architecture, or a script without a #! line: name an interpreter in plugin.toml)", path, runtime.GOOS, runtime.GOARCH)
	case errors.Is(err, os.ErrPermission) || strings.Contains(msg, "permission denied"):
		return fmt.Errorf("%s: permission denied: %v", path, err)
	case errors.Is(err, os.ErrNotExist) || strings.Contains(msg, "no such file"):
		return fmt.Errorf("%s: not found, or its #! interpreter is missing", path)
	}
	return fmt.Errorf("start %s: %w", path, err)
}

// supervise waits for the process and the connection to end, makes sure
// the whole process tree is gone, and records why the plugin ended.
func (p *proc) supervise(outR *os.File) {
	served := make(chan error, 1)
	go func() { served <- p.conn.Serve() }()
	exited := make(chan error, 1)
	go func() { exited <- p.cmd.Wait() }()

	var serveErr, waitErr error
	select {
	case waitErr = <-exited:
		serveErr = p.drain(served, outR)
	case <-p.stopping:
		// Stop closed the connection. Threat: a plugin that ignores
		// shutdown and the end of its input holding Stop as long as the
		// read of its output goes on (closing our end of a pipe ends a
		// blocked read on Linux, not everywhere). It gets the stop
		// timeout, then is killed.
		waitErr = p.waitAfterStop(exited)
		serveErr = p.drain(served, outR)
	case serveErr = <-served:
		// The connection ended first: the plugin closed its output, broke
		// the protocol, ignored a cancellation, or we are stopping it. A
		// plugin that broke the protocol or ignored a cancellation is not
		// trusted further: it is killed at once.
		var v *rpc.ViolationError
		if errors.As(serveErr, &v) || errors.Is(serveErr, rpc.ErrOverdue) {
			p.kill()
		}
		select {
		case waitErr = <-exited:
		case <-p.stopping:
			waitErr = p.waitAfterStop(exited)
		case <-time.After(p.spec.Limits.StopTimeout):
			p.kill()
			waitErr = <-exited
		}
	}
	// Threat: children the plugin started and left behind.
	p.group.kill()
	p.group.release()
	<-p.boxChecked
	p.endBox()
	outR.Close()
	p.logs.closeAfter(200 * time.Millisecond)
	p.err = p.describeEnd(serveErr, waitErr)
	p.conn.Close(p.err)
	close(p.done)
}

// drain waits a moment for the connection to read what the plugin wrote
// last, then ends it. Threat: a descendant of the plugin holding the pipe
// keeping the host waiting; the process tree is killed before our end is
// closed, since closing it does not end a blocked read everywhere.
func (p *proc) drain(served <-chan error, outR *os.File) error {
	select {
	case err := <-served:
		return err
	case <-time.After(200 * time.Millisecond):
	}
	p.group.kill()
	p.conn.Close(nil)
	outR.Close()
	return <-served
}

// waitAfterStop waits for a plugin asked to stop, then terminates and
// kills it.
func (p *proc) waitAfterStop(exited chan error) error {
	select {
	case err := <-exited:
		return err
	case <-time.After(p.spec.Limits.StopTimeout):
	}
	p.group.terminate()
	select {
	case err := <-exited:
		return err
	case <-time.After(time.Second):
	}
	p.kill()
	return <-exited
}

func (p *proc) kill() {
	p.killOnce.Do(p.group.kill)
}

// describeEnd says why the plugin ended, with its exit status and last log
// lines.
func (p *proc) describeEnd(serveErr, waitErr error) error {
	var v *rpc.ViolationError
	if errors.As(serveErr, &v) {
		return fmt.Errorf("%w: %w (plugin stopped)", tier.ErrViolation, v)
	}
	if errors.Is(serveErr, rpc.ErrOverdue) {
		return fmt.Errorf("%w: %w; killed", tier.ErrCrashed, serveErr)
	}
	select {
	case <-p.stopping:
		return tier.ErrStopped
	default:
	}
	return fmt.Errorf("%w: %s%s", tier.ErrCrashed, exitStatus(waitErr), p.logSuffix())
}

func exitStatus(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return "killed by " + signalText(ws.Signal())
		}
		return fmt.Sprintf("exited with status %d", ee.ExitCode())
	}
	if err != nil {
		return err.Error()
	}
	return "exited with status 0"
}

func (p *proc) handshake(ctx context.Context, spec tier.Spec) error {
	res, err := p.conn.Call(ctx, protocol.MethodInitialize, protocol.InitializeParams{
		Protocols: []int{1},
		Plugin:    spec.Name,
		Config:    spec.Config,
		Grants:    spec.Grants.Strings(),
		Functions: spec.Functions,
	})
	if err != nil {
		return p.handshakeError(ctx, err)
	}
	var info protocol.InitializeResult
	if err := json.Unmarshal(res, &info); err != nil {
		return fmt.Errorf("%w: answer is not an initialize result: %v", tier.ErrHandshake, err)
	}
	if err := tier.CheckHandshake(spec.Manifest, info); err != nil {
		return err
	}
	p.info = info
	return nil
}

func (p *proc) handshakeError(ctx context.Context, err error) error {
	var re *protocol.Error
	switch {
	case errors.As(err, &re):
		// Threat: a refusal megabytes long made the host's error (logged
		// at each restart); it is cut as a log line is.
		msg := re.Message
		if len(msg) > p.spec.Limits.MaxLogLine {
			msg = strings.ToValidUTF8(msg[:p.spec.Limits.MaxLogLine], "") + "..."
		}
		return fmt.Errorf("%w: plugin refused: %s", tier.ErrHandshake, msg)
	case ctx.Err() != nil:
		return fmt.Errorf("%w: no answer within %v%s", tier.ErrHandshake, p.spec.Limits.StartTimeout, p.logSuffix())
	}
	select {
	case <-p.done:
		return fmt.Errorf("%w: %w", tier.ErrHandshake, p.err)
	case <-time.After(p.spec.Limits.StopTimeout):
		return fmt.Errorf("%w: %v", tier.ErrHandshake, err)
	}
}

// logSuffix quotes the plugin's last log lines, to explain a failure.
func (p *proc) logSuffix() string {
	tail := p.logs.tail()
	if len(tail) == 0 {
		return ""
	}
	if len(tail) > 3 {
		tail = tail[len(tail)-3:]
	}
	if cause := p.logs.cause(); cause != "" && cause != tail[0] {
		return fmt.Sprintf("; %q; last log lines: %q", cause, strings.Join(tail, " | "))
	}
	return fmt.Sprintf("; last log lines: %q", strings.Join(tail, " | "))
}

// handleHostCall serves the plugin's requests: each is a host function
// call, checked against the grants by spec.Host.
func (p *proc) handleHostCall(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, error) {
	if strings.HasPrefix(method, "$/") || method == protocol.MethodInitialize || method == protocol.MethodCall || method == protocol.MethodShutdown {
		return nil, protocol.Errorf(protocol.CodeMethodNotFound, "method %q is not a host function", method)
	}
	if params == nil {
		params = json.RawMessage("null")
	}
	// Threat: host calls the plugin never waits for (made outside any
	// call, or as notifications) holding the host function, its goroutine
	// and what it holds for as long as the plugin lives. Each gets the
	// plugin's call timeout, longer than any call it can serve, as a wasm
	// guest's host call ends with its call.
	ctx, cancel := p.conn.RequestTimeout(ctx, p.spec.Limits.CallTimeout)
	defer cancel()
	return p.spec.Host(ctx, method, params)
}

// PID is the plugin's process ID in the host's PID namespace: the
// launcher's, which executed the plugin in its place.
func (p *proc) PID() int { return p.cmd.Process.Pid }

// Call runs one hook or function in the plugin.
func (p *proc) Call(ctx context.Context, call protocol.CallParams) (json.RawMessage, error) {
	// Back-pressure: wait for a free slot rather than queueing without
	// bound (threat: a slow plugin growing the host's memory).
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, p.ctxError(ctx)
	case <-p.done:
		return nil, p.err
	}
	defer func() { <-p.slots }()
	timeout := p.spec.Limits.CallTimeout
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
		timeout = time.Until(dl)
	}
	call.TimeoutMS = max(timeout.Milliseconds(), 1)
	// The connection keeps the deadline (one timer for all calls, cheaper
	// than a context per call); ctx's own end still ends the call.
	res, err := p.conn.CallTimeout(ctx, timeout, protocol.MethodCall, call)
	if err == nil {
		return res, nil
	}
	var re *protocol.Error
	switch {
	case errors.As(err, &re):
		return nil, re
	case errors.Is(err, rpc.ErrTooLarge):
		// The input is over the limit the plugin reads with: it was not
		// sent, and the plugin runs on (docs/PROTOCOL.md, "The size limit").
		return nil, fmt.Errorf("%w: %w", tier.ErrResourceCaps, err)
	case errors.Is(err, rpc.ErrTimeout), errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil:
		return nil, fmt.Errorf("%w: no answer within %v", tier.ErrDeadline, timeout.Round(time.Millisecond))
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		return nil, ctx.Err()
	}
	// The connection ended: wait (briefly) to learn why.
	notSent := errors.Is(err, rpc.ErrNotSent)
	select {
	case <-p.done:
		if notSent {
			return nil, fmt.Errorf("%w: %w", tier.ErrNotRunning, p.err)
		}
		return nil, p.err
	case <-time.After(p.spec.Limits.StopTimeout + time.Second):
		return nil, fmt.Errorf("%w: %v", tier.ErrCrashed, err)
	}
}

func (p *proc) ctxError(ctx context.Context) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%w: waiting for a free slot (%d calls in flight)", tier.ErrDeadline, cap(p.slots))
	}
	return ctx.Err()
}

// Stop asks the plugin to shut down, closes its input, and waits; a plugin
// still running after StopTimeout is terminated, then killed.
func (p *proc) Stop(ctx context.Context) error {
	p.stopOnce.Do(func() {
		sctx, cancel := context.WithTimeout(ctx, p.spec.Limits.StopTimeout)
		defer cancel()
		_, _ = p.conn.Call(sctx, protocol.MethodShutdown, nil)
		close(p.stopping)
		p.conn.Close(tier.ErrStopped)
	})
	select {
	case <-p.done:
	case <-ctx.Done():
		p.kill()
		<-p.done
	}
	return nil
}

// Done is closed when the plugin process has ended.
func (p *proc) Done() <-chan struct{} { return p.done }

// Err says why the plugin ended.
func (p *proc) Err() error {
	select {
	case <-p.done:
		return p.err
	default:
		return nil
	}
}

// Info is the plugin's handshake answer.
func (p *proc) Info() protocol.InitializeResult { return p.info }
