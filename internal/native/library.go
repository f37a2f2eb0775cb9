package native

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"unsafe"

	"go.opentelemetry.io/otel/trace"

	"github.com/airlock-go/airlock/internal/tier"
	"github.com/airlock-go/airlock/protocol"
	"github.com/airlock-go/airlock/sdk/go/plugin"
)

// ErrAPIVersion matches, with errors.Is, the refusal of a library built
// for another version of the native ABI (it also matches tier.ErrStart).
var ErrAPIVersion = errors.New("native ABI version mismatch")

// Library is a loaded and initialised native plugin library.
type Library struct {
	path    string
	name    string
	version string
	hooks   []string
	call    uintptr // airlock_plugin_v1.call
	free    uintptr // airlock_plugin_v1.free
}

// loaded holds every library loaded into this process, by path. The
// dynamic loader's table is process-wide and a library is never unloaded,
// so this is too: a second Load of the same path (a restart, a second
// host) reuses the library rather than running its init twice.
var loaded = struct {
	sync.Mutex
	libs map[string]*Library
}{libs: map[string]*Library{}}

// Load loads the library at path into this process, checks its ABI version
// before anything else of it is called, and runs its init. plugin names the
// plugin in errors. The library stays loaded for the life of the process.
func Load(path, plugin string) (*Library, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("%w: native plugin %s: %v", tier.ErrStart, plugin, err)
	}
	loaded.Lock()
	defer loaded.Unlock()
	if lib := loaded.libs[abs]; lib != nil {
		return lib, nil
	}
	lib, err := load(abs, plugin)
	if err != nil {
		return nil, err
	}
	loaded.libs[abs] = lib
	return lib, nil
}

func load(path, name string) (*Library, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%w: native plugin %s: %s", tier.ErrStart, name, fmt.Sprintf(format, args...))
	}
	// dlopen runs the library's own initialisers (C constructors, Rust
	// statics with init code): loading is already trusting it, which is
	// why a library in-process has full trust (docs/NATIVE.md).
	h, err := dlopen(path)
	if err != nil {
		return nil, fail("load %s: %v", filepath.Base(path), err)
	}
	verFn, err := dlsym(h, symVersion)
	if err != nil {
		return nil, fail("%s does not export %s: it is not an Airlock native plugin", filepath.Base(path), symVersion)
	}
	// Threat: a library built against another layout of the tables
	// below reading or writing past them. Its version is asked first, and
	// nothing else of it runs unless it matches.
	if v := uint32(ccall(verFn)); v != APIVersion {
		return nil, fmt.Errorf("%w: %w: native plugin %s: %s was built for native API version %d; this host speaks version %d",
			tier.ErrStart, ErrAPIVersion, name, filepath.Base(path), v, APIVersion)
	}
	initFn, err := dlsym(h, symInit)
	if err != nil {
		return nil, fail("%s does not export %s", filepath.Base(path), symInit)
	}
	out := &pluginV1{size: uint32(unsafe.Sizeof(pluginV1{}))}
	var pin runtime.Pinner
	pin.Pin(out)
	rc := int32(ccall(initFn, uintptr(unsafe.Pointer(hostTable())), uintptr(unsafe.Pointer(out))))
	pin.Unpin()
	switch {
	case rc == statusVersionMismatch:
		return nil, fmt.Errorf("%w: %w: native plugin %s: its init refused this host's native API version %d", tier.ErrStart, ErrAPIVersion, name, APIVersion)
	case rc != statusOK:
		return nil, fail("%s returned %d", symInit, rc)
	case out.apiVersion != APIVersion:
		return nil, fmt.Errorf("%w: %w: native plugin %s: its init filled in a version %d table; this host reads version %d", tier.ErrStart, ErrAPIVersion, name, out.apiVersion, APIVersion)
	case out.call == 0 || out.free == 0:
		return nil, fail("%s left call or free unset", symInit)
	}
	return &Library{
		path:    path,
		name:    goString(out.name),
		version: goString(out.version),
		hooks:   strings.Fields(goString(out.hooks)),
		call:    out.call,
		free:    out.free,
	}, nil
}

// Name is the plugin's name as the library reports it.
func (l *Library) Name() string { return l.name }

// Plugin wraps the library as a Go SDK plugin: one handler per hook it
// reports, each calling into the library. The plugin's settings are
// encoded once, on its first call: one Plugin serves one instance, whose
// settings do not change.
func (l *Library) Plugin() *plugin.Plugin {
	p := plugin.New(l.name, l.version)
	var once sync.Once
	var config []byte
	var configErr error
	for _, hook := range l.hooks {
		p.HandleRaw(hook, func(ctx context.Context, h *plugin.Host, in json.RawMessage) (any, error) {
			once.Do(func() { config, configErr = json.Marshal(h.Config()) })
			if configErr != nil {
				return nil, fmt.Errorf("native plugin %s: encode settings: %w", l.name, configErr)
			}
			return l.Call(ctx, h, config, hook, h.Phase(), in)
		})
	}
	return p
}

// frame is one call's memory shared with the library, in two pinned
// allocations: this struct (the airlock_call_v1 and the answer the library
// writes) and data, the call's strings and JSON, each followed by a NUL.
type frame struct {
	call callV1
	out  *byte
	n    uintptr
}

// Call runs one call in the library: name in phase with input and the
// plugin's settings (config, a JSON object), host calls going through h.
// The library's own error is a *plugin.Error with its code and message.
func (l *Library) Call(ctx context.Context, h *plugin.Host, config []byte, name, phase string, input json.RawMessage) (json.RawMessage, error) {
	traceparent, tracestate := traceContext(ctx)
	data := make([]byte, 0, len(name)+len(phase)+len(input)+len(config)+len(traceparent)+len(tracestate)+6)
	part := func(b []byte) (*byte, uintptr) {
		start := len(data)
		data = append(append(data, b...), 0)
		return &data[start], uintptr(len(b))
	}
	f := &frame{}
	id := liveCalls.add(&callState{ctx: ctx, host: h})
	defer liveCalls.remove(id)
	f.call.ctx = id
	f.call.name, f.call.nameLen = part([]byte(name))
	f.call.phase, f.call.phaseLen = part([]byte(phase))
	f.call.input, f.call.inputLen = part(input)
	f.call.config, f.call.configLen = part(config)
	f.call.traceparent, f.call.traceparentLen = part(traceparent)
	f.call.tracestate, f.call.tracestateLen = part([]byte(tracestate))
	// The library reads and writes these during the call: pinned, so they
	// are neither moved nor collected under it. (data never grows past its
	// capacity, so every part points into the one pinned array.)
	var pin runtime.Pinner
	pin.Pin(f)
	pin.Pin(&data[0])
	defer pin.Unpin()
	rc := int32(ccall(l.call, uintptr(unsafe.Pointer(&f.call)), uintptr(unsafe.Pointer(&f.out)), uintptr(unsafe.Pointer(&f.n))))
	var res []byte
	if f.out != nil {
		res = make([]byte, f.n)
		copy(res, unsafe.Slice(f.out, f.n))
		ccall(l.free, uintptr(unsafe.Pointer(f.out)), f.n)
	}
	if rc != statusOK {
		msg := string(res)
		if msg == "" {
			msg = fmt.Sprintf("%s failed with code %d", name, rc)
		}
		return nil, &plugin.Error{Code: int(rc), Message: msg}
	}
	return json.RawMessage(res), nil
}

// traceContext returns the W3C trace context of the call ctx is the
// context of (the host's call span in-process, the remote span context the
// Go SDK made of the call's traceparent in a contained child), or nothing
// when it is not traced.
func traceContext(ctx context.Context) (traceparent []byte, tracestate string) {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return nil, ""
	}
	tp := protocol.Traceparent{TraceID: sc.TraceID(), SpanID: sc.SpanID(), Flags: byte(sc.TraceFlags() & (trace.FlagsSampled | trace.FlagsRandom))}
	traceparent, _ = tp.AppendText(make([]byte, 0, 55))
	return traceparent, sc.TraceState().String()
}
