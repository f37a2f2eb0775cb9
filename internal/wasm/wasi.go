package wasm

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// instantiateWASI provides wasi_snapshot_preview1: wazero's functions,
// with poll_oneoff replaced by one that returns as soon as the call ends
// (poll.go). Threat: a guest asleep in WASI outliving its deadline.
// wazero's poll_oneoff sleeps without looking at the context, so a guest
// sleeping for an hour held its call, and a core's worth of goroutine,
// for an hour; and with only file descriptor subscriptions it slept for
// ever.
//
// The other WASI functions cannot block here: standard input is always
// empty, standard output and error go to the log, there are no sockets
// (sock_accept, sock_recv and sock_send answer EBADF or ENOTSOCK), and
// sched_yield and random_get return at once. In granted directories only
// regular files and directories open (grantFS), so reads and writes there
// are ordinary file I/O.
func (p *plugin) instantiateWASI(ctx context.Context) error {
	b := p.rt.NewHostModuleBuilder(wasi_snapshot_preview1.ModuleName)
	wasi_snapshot_preview1.NewFunctionExporter().ExportFunctions(b)
	// A later export under a name replaces the earlier one: wazero's
	// host module builder keeps one function per export name
	// (hostModuleBuilder.ExportHostFunc in wazero v1.12.0's builder.go).
	b.NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(p.pollOneoff), []api.ValueType{i32, i32, i32, i32}, []api.ValueType{i32}).
		WithParameterNames("in", "out", "nsubscriptions", "result.nevents").
		WithResultNames("errno").
		Export(pollOneoffName)
	_, err := b.Instantiate(ctx)
	return err
}

const pollOneoffName = "poll_oneoff"

// wazeroFdstat is wazero's own fd_fdstat_get, which poll_oneoff uses to
// learn whether a descriptor is open: the descriptor table is internal
// to wazero, and its functions take the calling module, so calling one
// with the guest's module answers for the guest's table.
var wazeroFdstat = sync.OnceValues(func() (api.GoModuleFunction, error) {
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer rt.Close(ctx)
	b := rt.NewHostModuleBuilder(wasi_snapshot_preview1.ModuleName)
	wasi_snapshot_preview1.NewFunctionExporter().ExportFunctions(b)
	compiled, err := b.Compile(ctx)
	if err != nil {
		return nil, fmt.Errorf("compile wazero's WASI functions: %w", err)
	}
	def, ok := compiled.ExportedFunctions()["fd_fdstat_get"]
	if !ok {
		return nil, errors.New("wazero exports no fd_fdstat_get")
	}
	fn, ok := def.GoFunction().(api.GoModuleFunction)
	if !ok {
		return nil, fmt.Errorf("wazero's fd_fdstat_get is a %T, not an api.GoModuleFunction", def.GoFunction())
	}
	return fn, nil
})
