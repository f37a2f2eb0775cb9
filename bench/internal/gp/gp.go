// Package gp is the hashicorp/go-plugin side of the benchmarks: an Echo
// plugin served over net/rpc and over gRPC, the way go-plugin's users
// write them. The gRPC service is declared by hand (with protobuf's
// well-known BytesValue as its messages) so that no code generation is
// needed.
package gp

import (
	"context"
	"net/rpc"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Handshake is the go-plugin handshake both sides agree on.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  1,
	MagicCookieKey:   "AIRLOCK_BENCH",
	MagicCookieValue: "echo",
}

// Echo is the plugin's interface.
type Echo interface {
	Echo(in []byte) ([]byte, error)
}

// Impl is the plugin's implementation.
type Impl struct{}

// Echo returns its input.
func (Impl) Echo(in []byte) ([]byte, error) { return in, nil }

// Plugins is the plugin map for both transports.
func Plugins(impl Echo) map[string]plugin.Plugin {
	return map[string]plugin.Plugin{
		"netrpc": &NetRPCPlugin{Impl: impl},
		"grpc":   &GRPCPlugin{Impl: impl},
	}
}

// NetRPCPlugin serves Echo over net/rpc.
type NetRPCPlugin struct{ Impl Echo }

// Server returns the net/rpc server side.
func (p *NetRPCPlugin) Server(*plugin.MuxBroker) (any, error) { return &RPCServer{Impl: p.Impl}, nil }

// Client returns the net/rpc client side.
func (*NetRPCPlugin) Client(_ *plugin.MuxBroker, c *rpc.Client) (any, error) {
	return &RPCClient{client: c}, nil
}

// RPCServer is the net/rpc receiver.
type RPCServer struct{ Impl Echo }

// Echo serves one call.
func (s *RPCServer) Echo(in []byte, out *[]byte) error {
	r, err := s.Impl.Echo(in)
	*out = r
	return err
}

// RPCClient calls Echo over net/rpc.
type RPCClient struct{ client *rpc.Client }

// Echo calls the plugin.
func (c *RPCClient) Echo(in []byte) ([]byte, error) {
	var out []byte
	err := c.client.Call("Plugin.Echo", in, &out)
	return out, err
}

// GRPCPlugin serves Echo over gRPC.
type GRPCPlugin struct {
	plugin.Plugin
	Impl Echo
}

// GRPCServer registers the service.
func (p *GRPCPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	s.RegisterService(&serviceDesc, &grpcServer{impl: p.Impl})
	return nil
}

// GRPCClient returns the client side.
func (*GRPCPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return &grpcClient{conn: c}, nil
}

type grpcServer struct{ impl Echo }

type echoServer interface {
	echo(context.Context, *wrapperspb.BytesValue) (*wrapperspb.BytesValue, error)
}

func (s *grpcServer) echo(_ context.Context, in *wrapperspb.BytesValue) (*wrapperspb.BytesValue, error) {
	out, err := s.impl.Echo(in.Value)
	return wrapperspb.Bytes(out), err
}

var serviceDesc = grpc.ServiceDesc{
	ServiceName: "bench.Echo",
	HandlerType: (*echoServer)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Echo",
		Handler: func(srv any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			in := new(wrapperspb.BytesValue)
			if err := dec(in); err != nil {
				return nil, err
			}
			return srv.(echoServer).echo(ctx, in)
		},
	}},
}

type grpcClient struct{ conn *grpc.ClientConn }

func (c *grpcClient) Echo(in []byte) ([]byte, error) {
	out := new(wrapperspb.BytesValue)
	if err := c.conn.Invoke(context.Background(), "/bench.Echo/Echo", wrapperspb.Bytes(in), out); err != nil {
		return nil, err
	}
	return out.Value, nil
}
