package wasm

import (
	"context"
	"fmt"
	"sync"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// instantiateWASI provides wasi_snapshot_preview1: wazero's functions,
// those that take paths or vectors of buffers behind bounds on their
// lengths (boundArgs), random_get filling a slice at a time under the
// call's deadline (exportRandomGet), and poll_oneoff replaced by one
// that returns as soon as the call ends (poll.go).
//
// Threat: a guest asleep in WASI outliving its deadline. wazero's
// poll_oneoff sleeps without looking at the context, so a guest sleeping
// for an hour held its call, and a core's worth of goroutine, for an
// hour; and with only file descriptor subscriptions it slept for ever.
//
// The other WASI functions cannot block here: standard input is always
// empty, standard output and error go to the log, there are no sockets
// (sock_accept, sock_recv and sock_send answer EBADF or ENOTSOCK), and
// sched_yield returns at once. In granted directories only regular files
// and directories open (grantFS), so reads and writes there are ordinary
// file I/O (one read or write is one system call, as large as the
// guest's buffer, and is not cut short at the deadline).
func (p *plugin) instantiateWASI(ctx context.Context) error {
	b := p.rt.NewHostModuleBuilder(wasi_snapshot_preview1.ModuleName)
	wasi_snapshot_preview1.NewFunctionExporter().ExportFunctions(b)
	// A later export under a name replaces the earlier one: wazero's
	// host module builder keeps one function per export name
	// (hostModuleBuilder.ExportHostFunc in wazero v1.12.0's builder.go).
	if err := boundArgs(b, pathLengths, maxPath, errnoNameTooLong); err != nil {
		return err
	}
	if err := boundArgs(b, vectorLengths, maxVectors, errnoInval); err != nil {
		return err
	}
	if err := p.exportRandomGet(b); err != nil {
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
// Threat: a guest naming a path as long as its memory; wazero copies it
// into a string, and the host cleans and resolves it (grantFS), at every
// call: ten calls of path_filestat_get with a path of 32 MiB allocated
// 960 MiB of the host's memory, with no grant (the plugin's own files
// are always mounted), in every instance at once.
const maxPath = 4096

// vectorLengths are, for each WASI function that takes a vector of
// buffers, the position of the vector's length among its parameters.
var vectorLengths = map[string][]int{
	"fd_read":   {2},
	"fd_write":  {2},
	"fd_pread":  {2},
	"fd_pwrite": {2},
	"sock_recv": {2},
	"sock_send": {2},
}

// maxVectors is the most buffers one read or write may name: IOV_MAX.
// Threat: a guest handing fd_write sixteen million empty buffers, which
// wazero writes one by one in the host, where the guest's checks cannot
// stop it: 200 ms past a call's deadline, and seconds with a larger
// memory.
const maxVectors = 1024

// errnoNameTooLong is WASI's ENAMETOOLONG (the other errnos: poll.go).
const errnoNameTooLong = 37

// boundArgs exports, in b, each of wazero's WASI functions named in
// lengths behind a check of the parameters at the positions given: a
// value above max fails the call with errno before wazero reads
// anything.
func boundArgs(b wazero.HostModuleBuilder, lengths map[string][]int, max uint32, errno uint64) error {
	for name, at := range lengths {
		err := replaceWASI(b, name, func(inner api.GoModuleFunction) api.GoModuleFunction {
			return bounded(inner, at, max, errno)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// bounded is inner behind the check of the parameters at the positions
// at (0 is the first): one above max fails the call with errno.
func bounded(inner api.GoModuleFunction, at []int, max uint32, errno uint64) api.GoModuleFunction {
	return api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
		for _, i := range at {
			if uint32(stack[i]) > max {
				stack[0] = errno
				return
			}
		}
		inner.Call(ctx, mod, stack)
	})
}

// randomSlice is how much random_get fills between two looks at the
// call's deadline: about a millisecond's work.
const randomSlice = 256 << 10

// exportRandomGet exports, in b, wazero's random_get filling the
// guest's buffer a slice at a time, and ending the guest at the first
// slice after its call has ended, as the check does (interrupt.go).
// Threat: a guest asking for its memory's size of random bytes in one
// call, which wazero fills in the host, where the guest's checks cannot
// stop it: 256 MiB took 700 ms past a deadline of 50 ms.
func (p *plugin) exportRandomGet(b wazero.HostModuleBuilder) error {
	return replaceWASI(b, "random_get", func(inner api.GoModuleFunction) api.GoModuleFunction {
		return api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
			p.randomGet(ctx, mod, stack, inner)
		})
	})
}

// randomGet is random_get: wazero's (inner) called a slice at a time.
func (p *plugin) randomGet(ctx context.Context, mod api.Module, stack []uint64, inner api.GoModuleFunction) {
	buf, n := uint32(stack[0]), uint32(stack[1])
	if uint64(buf)+uint64(n) > uint64(mod.Memory().Size()) {
		stack[0] = errnoFault // as wazero answers, before writing anything
		return
	}
	var slice [2]uint64
	for done := uint32(0); done < n; done += randomSlice {
		p.stopIfEnded(ctx)
		slice[0], slice[1] = uint64(buf+done), uint64(min(randomSlice, n-done))
		inner.Call(ctx, mod, slice[:])
		if slice[0] != 0 {
			stack[0] = slice[0]
			return
		}
	}
	stack[0] = 0
}

// replaceWASI exports, in b, wazero's WASI function name wrapped by
// wrap, with wazero's signature and parameter names (a later export
// under a name replaces the earlier one).
func replaceWASI(b wazero.HostModuleBuilder, name string, wrap func(api.GoModuleFunction) api.GoModuleFunction) error {
	def, inner, err := wazeroWASIFunc(name)
	if err != nil {
		return err
	}
	b.NewFunctionBuilder().
		WithGoModuleFunction(wrap(inner), def.ParamTypes(), def.ResultTypes()).
		WithParameterNames(def.ParamNames()...).
		WithResultNames(def.ResultNames()...).
		Export(name)
	return nil
}

// wazeroWASIFunc returns wazero's own WASI function name: its
// definition and its Go function.
func wazeroWASIFunc(name string) (api.FunctionDefinition, api.GoModuleFunction, error) {
	fns, err := wazeroWASI()
	if err != nil {
		return nil, nil, err
	}
	def, ok := fns[name]
	if !ok {
		return nil, nil, fmt.Errorf("wazero exports no %s", name)
	}
	fn, ok := def.GoFunction().(api.GoModuleFunction)
	if !ok {
		return nil, nil, fmt.Errorf("wazero's %s is a %T, not an api.GoModuleFunction", name, def.GoFunction())
	}
	return def, fn, nil
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
	_, fn, err := wazeroWASIFunc("fd_fdstat_get")
	return fn, err
})
