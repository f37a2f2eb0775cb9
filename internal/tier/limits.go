package tier

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Limits bound what one plugin may use, and are the one table of limits:
// each field is declared here once, with
//
//   - its key in a host.toml's [limits] table (tag toml),
//   - its name in airlock.Limits where that differs (tag name),
//   - its default (tag default: "10s", "4 MiB", "64"; "unlimited" or
//     "unset" for none: zero then means no limit),
//   - its unit (tag unit: duration, bytes, count or per second),
//   - and its documentation, the comment above it.
//
// airlock.Limits, with its TOML keys, docs and the code that merges and
// converts it, is generated from this table (limits_gen.go in the root;
// go test -run TestLimitsGenerated -update-limits . rewrites it);
// docs/CONFIG.md's [limits] table is checked against it, and
// limits_table_test.go checks that each field reaches the code that
// enforces it. Adding a limit is one field here, its enforcement, and its
// probe there.
//
// Zero (or negative) fields take the defaults of DefaultLimits
// (WithDefaults). Limits are read when a plugin starts, never per call.
type Limits struct {
	// Deadline of every call (the caller's context may be shorter).
	CallTimeout time.Duration `toml:"call_timeout" default:"10s" unit:"duration"`
	// Spawning and the handshake; for a wasm plugin, also its start
	// functions (a start section, `_initialize`) and `airlock_protocol`.
	StartTimeout time.Duration `toml:"start_timeout" default:"10s" unit:"duration"`
	// An orderly shutdown, before the plugin is terminated, then killed.
	StopTimeout time.Duration `toml:"stop_timeout" default:"3s" unit:"duration"`
	// After a deadline, the time a plugin has to answer the cancel before
	// it is killed and restarted.
	CancelGrace time.Duration `toml:"cancel_grace" default:"1s" unit:"duration"`
	// One protocol message; a larger one is a violation and stops the
	// plugin. Also the bytes of one plugin's values (answers, host call
	// inputs) checked against their schemas at once: a check decodes a
	// value into a tree of up to about 27 times its size.
	MaxMessage int `toml:"max_message_bytes" name:"MaxMessageBytes" default:"4 MiB" unit:"bytes"`
	// Calls in flight to one plugin, of any tier; further callers wait
	// (within their deadline). A builtin handler that ignores its deadline
	// keeps its slot until it returns.
	MaxInflight int `toml:"max_inflight" default:"64" unit:"count"`
	// Longer log lines are cut: a process plugin's standard error, and the
	// message of a `log` host function call from any tier (whose
	// attributes, at most 32, keys cut at 64 bytes and values at 256, are
	// also cut at this size in all).
	MaxLogLine int `toml:"max_log_line_bytes" name:"MaxLogLineBytes" default:"4 KiB" unit:"bytes"`
	// Log lines beyond this rate are dropped and counted, for standard
	// error and for the `log` host function each; the count is logged when
	// the next second starts.
	LogLinesPerSec int `toml:"log_lines_per_second" name:"LogLinesPerSecond" default:"200" unit:"per second"`
	// Memory: a process plugin's data segment (Linux; under the cap, the
	// memory it does not count is refused: shared anonymous mappings,
	// `memfd_create`, System V shared memory, pipes grown beyond their
	// default size); a wasm plugin's linear memories, tables, call
	// stacks and runtime records (docs/ABI.md), all its instances
	// together (a `memory.grow` that would exceed it fails; a call that
	// needs a new instance waits for room within its deadline).
	MaxMemory int64 `toml:"max_memory_bytes" name:"MaxMemoryBytes" default:"1 GiB" unit:"bytes"`
	// Open descriptors of a process plugin (Linux); files a wasm plugin's
	// instances hold open, all together (an open past it fails with
	// EAGAIN).
	MaxOpenFiles int `toml:"max_open_files" default:"256" unit:"count"`
	// Size of a file a process plugin writes (Linux), or a wasm plugin
	// (a write past it is cut short, then fails).
	MaxFileBytes int64 `toml:"max_file_bytes" default:"64 MiB" unit:"bytes"`
	// Total CPU time of a process plugin (Linux); every call has its own
	// deadline regardless.
	MaxCPU time.Duration `toml:"max_cpu" default:"unlimited" unit:"duration"`
	// `RLIMIT_NPROC` for a process plugin. The kernel counts all of the
	// user's processes and exempts root, so process creation is normally
	// controlled by the `spawn` capability and `max_tasks` instead.
	MaxProcesses int `toml:"max_processes" default:"unset" unit:"count"`
	// Processes and threads of one process plugin at once, spawn grant or
	// not (Linux), counted for that plugin alone: in a pids cgroup of its
	// own for a host running as root, with `RLIMIT_NPROC` in its own user
	// namespace otherwise (Linux 5.14 or later). A thread or process
	// beyond it fails to start (`EAGAIN`). Where neither bound can be had,
	// the sandbox's report says so.
	MaxTasks int `toml:"max_tasks" default:"1024" unit:"count"`
	// Host function calls a plugin may make (with as large a burst); more
	// are refused with code -32005.
	HostCallsPerSec int `toml:"host_calls_per_second" name:"HostCallsPerSecond" default:"1000" unit:"per second"`
	// Bytes of host function calls a plugin may send a second (whole
	// messages; a wasm plugin's inputs), with a burst of one
	// max_message_bytes message or a second's worth, whichever is larger.
	// Past it a process plugin's messages are read more slowly (its
	// writes wait) and a wasm plugin's host call waits, within its call's
	// deadline (-32005 if the wait would outlast it). The time held back
	// is counted (airlock.host_calls.paced) and warned of, at most once a
	// minute. Checking an input costs the host several times what sending
	// it costs the plugin.
	HostCallBytesPerSec int `toml:"host_call_bytes_per_second" name:"HostCallBytesPerSecond" default:"1 MiB" unit:"bytes per second"`
	// Keys one plugin may hold in the host's kv store; a `kv.set` of a new
	// key beyond it fails with an error naming the plugin and the quota.
	KVMaxKeys int `toml:"kv_max_keys" default:"1024" unit:"count"`
	// One value in the kv store (its JSON text).
	KVMaxValueBytes int `toml:"kv_max_value_bytes" default:"64 KiB" unit:"bytes"`
	// All of one plugin's keys and values together. Overwriting a key
	// counts only the difference; deleting frees. The quotas count what is
	// already on disk: lowered below it, a plugin's data can shrink
	// (overwrite smaller, delete) but not grow. The store is for small
	// state (counters, cursors, a few documents), not a database.
	KVMaxTotalBytes int64 `toml:"kv_max_total_bytes" default:"1 MiB" unit:"bytes"`
	// Timers (capability `timer`) one plugin holds at once; a
	// `timer.after` or `timer.every` beyond it fails with an error naming
	// the plugin and the limit. A one-shot timer frees its place when it
	// has run.
	TimerMax int `toml:"timer_max" default:"16" unit:"count"`
	// The shortest period of a periodic timer, and the shortest delay of a
	// one-shot one (a chain of one-shot timers is a periodic timer).
	TimerMinPeriod time.Duration `toml:"timer_min_period" default:"1s" unit:"duration"`
}

// DefaultLimits are the limits a plugin gets when the host sets none, read
// from the table's default tags.
//
// The kv store's quotas answer one plugin putting hundreds of MiB in the
// host's heap or disk. The store is for small state, not a database: 1024
// keys and 1 MiB in all bound a plugin's share to about 1 MiB plus some
// 100 bytes a key, so a hundred plugins cost the host at most some 110 MiB;
// 64 KiB a value fits a typical JSON document, and is far below the 4 MiB
// protocol message that carries it.
var DefaultLimits = mustDefaults()

// WithDefaults fills zero (and negative) fields from DefaultLimits. It
// runs when a plugin starts; calls read the result.
func (l Limits) WithDefaults() Limits {
	v, d := reflect.ValueOf(&l).Elem(), reflect.ValueOf(DefaultLimits)
	for i := range v.NumField() {
		if f := v.Field(i); f.Int() <= 0 {
			f.SetInt(d.Field(i).Int())
		}
	}
	return l
}

// LimitInfo describes one field of the table of limits.
type LimitInfo struct {
	Field   string // the field of Limits
	Name    string // the field of airlock.Limits
	Key     string // the TOML key
	Default string // as written in the table: "10s", "4 MiB", "unlimited"
	Unit    string // duration, bytes, count, per second or bytes per second
	Type    reflect.Type
}

// Units a limit is counted in.
const (
	UnitDuration  = "duration"
	UnitBytes     = "bytes"
	UnitCount     = "count"
	UnitPerSecond = "per second"
	// UnitBytesPerSecond is written as bytes are: "1 MiB" a second.
	UnitBytesPerSecond = "bytes per second"
)

// LimitTable returns the table of limits, in the order of the fields.
func LimitTable() []LimitInfo {
	t := reflect.TypeFor[Limits]()
	out := make([]LimitInfo, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		name := f.Tag.Get("name")
		if name == "" {
			name = f.Name
		}
		out[i] = LimitInfo{Field: f.Name, Name: name, Key: f.Tag.Get("toml"),
			Default: f.Tag.Get("default"), Unit: f.Tag.Get("unit"), Type: f.Type}
	}
	return out
}

// mustDefaults reads the defaults from the table. A malformed table is a
// programming error, caught by every test of the package.
func mustDefaults() Limits {
	var l Limits
	v := reflect.ValueOf(&l).Elem()
	for i, info := range LimitTable() {
		n, err := parseDefault(info)
		if err != nil {
			panic(fmt.Sprintf("tier.Limits.%s: %v", info.Field, err))
		}
		v.Field(i).SetInt(n)
	}
	return l
}

// parseDefault reads one default tag in its field's unit.
func parseDefault(info LimitInfo) (int64, error) {
	switch info.Default {
	case "":
		return 0, fmt.Errorf("no default tag (use unlimited or unset for none)")
	case "unlimited", "unset":
		return 0, nil
	}
	switch info.Unit {
	case UnitDuration:
		if info.Type != reflect.TypeFor[time.Duration]() {
			return 0, fmt.Errorf("unit duration on a %v", info.Type)
		}
		d, err := time.ParseDuration(info.Default)
		return int64(d), err
	case UnitBytes, UnitBytesPerSecond:
		num, suffix, _ := strings.Cut(info.Default, " ")
		shift := map[string]uint{"": 0, "KiB": 10, "MiB": 20, "GiB": 30}
		s, ok := shift[suffix]
		n, err := strconv.ParseInt(num, 10, 64)
		if !ok || err != nil {
			return 0, fmt.Errorf("default %q: want bytes such as 4096 or 4 MiB", info.Default)
		}
		return n << s, nil
	case UnitCount, UnitPerSecond:
		return strconv.ParseInt(info.Default, 10, 64)
	}
	return 0, fmt.Errorf("unit %q: use duration, bytes, count, per second or bytes per second", info.Unit)
}
