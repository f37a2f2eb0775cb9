// Command gopluginecho is the go-plugin Echo plugin of the benchmarks. Its
// argument chooses the transport: grpc or netrpc.
package main

import (
	"os"

	"github.com/hashicorp/go-plugin"

	"github.com/airlock-go/airlock/bench/internal/gp"
)

func main() {
	transport := "netrpc"
	if len(os.Args) > 1 {
		transport = os.Args[1]
	}
	cfg := &plugin.ServeConfig{
		HandshakeConfig: gp.Handshake,
		Plugins:         map[string]plugin.Plugin{transport: gp.Plugins(gp.Impl{})[transport]},
	}
	if transport == "grpc" {
		cfg.GRPCServer = plugin.DefaultGRPCServer
	}
	plugin.Serve(cfg)
}
