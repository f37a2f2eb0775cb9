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
// those that take paths behind a bound on the paths' length (boundPaths),
// and poll_oneoff replaced by one that returns as soon as the call ends
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
	if err := boundPaths(b); err != nil {
		return err
	}
	b.NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(p.pollOneoff), []api.ValueType{i32, i32, i32, i32}, []api.ValueType{i32}).
		WithParameterNames("in", "out", "nsubscriptions", "result.nevents").
		WithResultNames("errno").
		Export(pollOneoffName)
	_, err := b.Instantiate(ctx)
	return err
}

const pollOneoffName = "poll_oneoff"

// pathLengths are, for each WASI function that takes paths, the
// positions of the paths' lengths among its parameters.
var pathLengths = map[string][]int{
	"path_create_directory":   {2},
	"path_filestat_get":       {3},
	"path_filestat_set_times": {3},
	"path_link":               {3, 6},
	"path_open":               {3},
	"path_readlink":           {2},
	"path_remove_directory":   {2},
	"path_rename":             {2, 5},
	"path_symlink":            {1, 4},
	"path_unlink_file":        {2},
}

// maxPath is the longest path a guest may name: Linux's PATH_MAX.
const maxPath = 4096

// errnoNameTooLong is WASI's ENAMETOOLONG.
const errnoNameTooLong = 37

// boundPaths exports, in b, each of wazero's WASI functions that take
// paths behind a check of their lengths: a path longer than maxPath
// fails with ENAMETOOLONG before wazero reads it. Threat: a guest naming
// a path as long as its memory; wazero copies it into a string, and the
// host cleans and resolves it (grantFS), at every call: ten calls of
// path_filestat_get with a path of 32 MiB allocated 960 MiB of the
// host's memory, with no grant (the plugin's own files are always
// mounted), in every instance at once.
func boundPaths(b wazero.HostModuleBuilder) error {
	fns, err := wazeroWASI()
	if err != nil {
		return err
	}
	for name, lengths := range pathLengths {
		def, ok := fns[name]
		if !ok {
			return fmt.Errorf("wazero exports no %s", name)
		}
		inner, ok := def.GoFunction().(api.GoModuleFunction)
		if !ok {
			return fmt.Errorf("wazero's %s is a %T, not an api.GoModuleFunction", name, def.GoFunction())
		}
		b.NewFunctionBuilder().
			WithGoModuleFunction(boundedPaths(inner, lengths), def.ParamTypes(), def.ResultTypes()).
			WithParameterNames(def.ParamNames()...).
			WithResultNames(def.ResultNames()...).
			Export(name)
	}
	return nil
}

// boundedPaths is inner behind the check of the path lengths at the
// parameter positions lengths (0 is the first).
func boundedPaths(inner api.GoModuleFunction, lengths []int) api.GoModuleFunction {
	return api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
		for _, i := range lengths {
			if uint32(stack[i]) > maxPath {
				stack[0] = errnoNameTooLong
				return
			}
		}
		inner.Call(ctx, mod, stack)
	})
}

// wazeroWASI is wazero's own WASI functions, by name. Their Go functions
// take the calling module, so one called with the guest's module acts on
// the guest's descriptor table, which is internal to wazero.
var wazeroWASI = sync.OnceValues(func() (map[string]api.FunctionDefinition, error) {
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer rt.Close(ctx)
	b := rt.NewHostModuleBuilder(wasi_snapshot_preview1.ModuleName)
	wasi_snapshot_preview1.NewFunctionExporter().ExportFunctions(b)
	compiled, err := b.Compile(ctx)
	if err != nil {
		return nil, fmt.Errorf("compile wazero's WASI functions: %w", err)
	}
	return compiled.ExportedFunctions(), nil
})

// wazeroFdstat is wazero's own fd_fdstat_get, which poll_oneoff uses to
// learn whether a descriptor is open.
var wazeroFdstat = sync.OnceValues(func() (api.GoModuleFunction, error) {
	fns, err := wazeroWASI()
	if err != nil {
		return nil, err
	}
	def, ok := fns["fd_fdstat_get"]
	if !ok {
		return nil, errors.New("wazero exports no fd_fdstat_get")
	}
	fn, ok := def.GoFunction().(api.GoModuleFunction)
	if !ok {
		return nil, fmt.Errorf("wazero's fd_fdstat_get is a %T, not an api.GoModuleFunction", def.GoFunction())
	}
	return fn, nil
})
