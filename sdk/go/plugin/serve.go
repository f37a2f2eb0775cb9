//go:build !wasip1

package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/airlock-go/airlock/internal/rpc"
	"github.com/airlock-go/airlock/internal/sdkcore"
	"github.com/airlock-go/airlock/protocol"
)

// Main runs the plugin over its standard input and output and exits the
// process when the host closes the connection: status 0 after an orderly
// shutdown, 1 on error (with the reason on standard error, the plugin's log).
func (p *Plugin) Main() {
	if err := p.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", p.Name(), err)
		os.Exit(1)
	}
	os.Exit(0)
}

// Run serves the host over standard input and output until the host shuts
// the plugin down or closes its input.
//
// Before serving, Run moves the protocol onto a private duplicate of
// standard output and points standard output (file descriptor 1 and
// os.Stdout) at standard error, so a stray fmt.Println lands in the
// plugin's log instead of corrupting the protocol. On Linux it also makes
// the process non-dumpable, so that other processes of the same user cannot
// open its descriptors through /proc.
func (p *Plugin) Run() error {
	protectProcess()
	out, err := privateStdout()
	if err != nil {
		return fmt.Errorf("move protocol off stdout: %w", err)
	}
	return p.Serve(context.Background(), os.Stdin, out)
}

// Serve speaks the protocol over r and w until the host closes r. Tests and
// hosts that embed plugins in unusual ways use it; plugins call Run.
func (p *Plugin) Serve(ctx context.Context, r io.Reader, w io.Writer) error {
	s := &session{plugin: p}
	s.conn = rpc.NewConn(r, w, s.handle, rpc.Options{MaxMessage: MaxMessage, CancelGrace: -1}, nil)
	go func() {
		select {
		case <-ctx.Done():
			s.conn.Close(ctx.Err())
		case <-s.conn.Done():
		}
	}()
	err := s.conn.Serve()
	if errors.Is(err, io.EOF) || errors.Is(err, errShutdown) {
		return nil
	}
	return err
}

var errShutdown = errors.New("shut down by the host")

// session is one connection with the host.
type session struct {
	plugin *Plugin
	conn   *rpc.Conn

	mu   sync.Mutex
	host *sdkcore.Host // nil until the handshake
}

func (s *session) handle(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, error) {
	switch method {
	case protocol.MethodInitialize:
		return s.initialize(params)
	case protocol.MethodCall:
		return s.call(ctx, params)
	case protocol.MethodShutdown:
		return json.RawMessage("null"), nil
	}
	return nil, protocol.Errorf(protocol.CodeMethodNotFound, "method %q not found", method)
}

func (s *session) initialize(params json.RawMessage) (json.RawMessage, error) {
	var in protocol.InitializeParams
	if err := rpc.Unmarshal(params, &in); err != nil {
		return nil, protocol.Errorf(protocol.CodeInvalidParams, "initialize: %v", err)
	}
	if !slices.Contains(in.Protocols, protocolVersion) {
		return nil, protocol.Errorf(protocol.CodeFailed, "plugin %s speaks protocol %d, host offers %v", s.plugin.Name(), protocolVersion, in.Protocols)
	}
	s.mu.Lock()
	s.host = sdkcore.NewHost(connCaller{s.conn}, in.Config, in.Grants, in.Functions)
	s.mu.Unlock()
	return rpc.Marshal(protocol.InitializeResult{
		Protocol: protocolVersion,
		Name:     s.plugin.Name(),
		Version:  s.plugin.Version(),
		Hooks:    s.plugin.Names(),
	})
}

func (s *session) call(ctx context.Context, params json.RawMessage) (json.RawMessage, error) {
	in, ok := rpc.DecodedCallParams(ctx)
	if !ok {
		var err error
		if in, err = rpc.DecodeCallParams(params); err != nil {
			return nil, protocol.Errorf(protocol.CodeInvalidParams, "call: %v", err)
		}
	}
	s.mu.Lock()
	h := s.host
	s.mu.Unlock()
	if h == nil {
		return nil, protocol.Errorf(protocol.CodeInvalidRequest, "call before initialize")
	}
	if in.TimeoutMS > 0 {
		// The request's own context takes the deadline: no context, no
		// timer of its own per call.
		var cancel context.CancelFunc
		ctx, cancel = s.conn.RequestTimeout(ctx, time.Duration(in.TimeoutMS)*time.Millisecond)
		defer cancel()
	}
	ctx = withTraceContext(ctx, in.Traceparent, in.Tracestate) // trace.go
	out, err := s.plugin.core().Invoke(ctx, h, sdkcore.Call{Name: in.Name, Phase: in.Phase, Input: in.Input})
	if err != nil {
		var pe *Error
		switch {
		case errors.As(err, &pe):
			return nil, &protocol.Error{Code: pe.Code, Message: pe.Message}
		case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
			return nil, &protocol.Error{Code: protocol.CodeCancelled, Message: err.Error()}
		}
		return nil, err
	}
	return out, nil
}

// connCaller calls host functions over the connection.
type connCaller struct{ conn *rpc.Conn }

func (c connCaller) CallHost(ctx context.Context, fn string, input json.RawMessage) (json.RawMessage, error) {
	res, err := c.conn.Call(ctx, fn, input)
	var re *protocol.Error
	if errors.As(err, &re) {
		return nil, &Error{Code: re.Code, Message: re.Message}
	}
	return res, err
}
