package sandbox

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unsafe"

	seccomp "github.com/elastic/go-seccomp-bpf"
	"github.com/elastic/go-seccomp-bpf/arch"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
	"golang.org/x/time/rate"
)

// run evaluates a filter program on one call, as the kernel would.
// x/net/bpf's machine loads words big-endian, so each 32-bit word of
// seccomp_data is stored big-endian at its native offset.
func run(t *testing.T, vm *bpf.VM, nr int, a [6]uint64) uint32 {
	t.Helper()
	info, err := arch.GetInfo("")
	if err != nil {
		t.Fatal(err)
	}
	pkt := make([]byte, 64)
	binary.BigEndian.PutUint32(pkt[0:], uint32(nr))
	binary.BigEndian.PutUint32(pkt[4:], uint32(info.ID))
	for i, v := range a {
		binary.BigEndian.PutUint32(pkt[16+8*i:], uint32(v))
		binary.BigEndian.PutUint32(pkt[20+8*i:], uint32(v>>32))
	}
	out, err := vm.Run(pkt)
	if err != nil {
		t.Fatal(err)
	}
	return uint32(out)
}

func machine(t *testing.T, groups []seccomp.SyscallGroup) *bpf.VM {
	t.Helper()
	pol := seccomp.Policy{DefaultAction: seccomp.ActionAllow, Syscalls: groups}
	insts, err := pol.Assemble()
	if err != nil {
		t.Fatal(err)
	}
	vm, err := bpf.NewVM(insts)
	if err != nil {
		t.Fatal(err)
	}
	return vm
}

// Explain mode's filter decides every call as the policy filter does: what
// the policy refuses with EPERM is notified (and answered EPERM by the
// host), what it allows is allowed, except the path calls, which are
// notified and which the policy never refuses. Checked for every system
// call number with argument values the rules look at, under each policy.
func TestExplainFilterMatchesPolicy(t *testing.T) {
	const (
		allow  = uint32(seccomp.ActionAllow)
		notify = uint32(seccomp.ActionUserNotify)
	)
	self := 4242
	args := [][6]uint64{
		{},
		{unix.AF_INET, unix.SOCK_STREAM},
		{unix.AF_INET6},
		{unix.AF_UNIX},
		{unix.AF_NETLINK, 0, unix.NETLINK_ROUTE},
		{unix.AF_NETLINK, 0, 9},
		{unix.AF_PACKET},
		{unix.CLONE_THREAD | unix.CLONE_VM},
		{unix.CLONE_NEWUSER},
		{uint64(self), uint64(self)},
		{1, 1},
		{0, unix.S_IFCHR, unix.S_IFCHR},
		{2, 2, 2, 2}, // values equal to system call numbers (open)
		{57, 57, 57},
		{90, 90, 90},
	}
	info, err := arch.GetInfo("")
	if err != nil {
		t.Fatal(err)
	}
	pathNrs := map[int]bool{}
	for _, n := range existing(pathCalls) {
		pathNrs[info.SyscallNames[n]] = true
	}
	for _, p := range []Policy{{}, {Network: true}, {Unix: true}, {Network: true, Unix: true, Spawn: true}} {
		for _, fc := range []filterContext{{self: self}, {self: 1, pidNamespace: true, readOnlyMount: true, signalScoped: true}} {
			groups := filterGroups(p, fc)
			explain, err := explainGroups(groups, true)
			if err != nil {
				t.Fatal(err)
			}
			plain, exp := machine(t, groups), machine(t, explain)
			for nr := range 470 {
				for _, a := range args {
					want := run(t, plain, nr, a)
					got := run(t, exp, nr, a)
					switch {
					case pathNrs[nr]:
						if want != allow || got != notify {
							t.Fatalf("path call %s%v: policy %#x, explain %#x; want allowed and notified", info.SyscallNumbers[nr], a, want, got)
						}
					case want == uint32(eperm):
						if got != notify {
							t.Fatalf("%s%v under %+v: policy refuses, explain gives %#x; want a notification", info.SyscallNumbers[nr], a, p, got)
						}
					case got != want:
						t.Fatalf("%s%v under %+v: policy %#x, explain %#x", info.SyscallNumbers[nr], a, p, want, got)
					}
				}
			}
		}
	}
}

// No path call may be refused by the policy: the host lets path calls go
// on, so one that the policy refused would escape.
func TestExplainRefusesOverlap(t *testing.T) {
	groups := []seccomp.SyscallGroup{{Action: eperm, NamesWithCondtions: []seccomp.NameWithConditions{{Name: "openat"}}}}
	if _, err := explainGroups(groups, true); err == nil || !strings.Contains(err.Error(), "openat") {
		t.Fatalf("err = %v; want the overlap refused", err)
	}
	for _, p := range []Policy{{}, {Network: true, Unix: true, Spawn: true}} {
		for _, g := range filterGroups(p, filterContext{}) {
			for _, name := range groupNames(g) {
				if slices.Contains(pathCalls, name) {
					t.Errorf("the policy refuses path call %s", name)
				}
			}
		}
	}
}

func TestExplainRefusal(t *testing.T) {
	cases := []struct {
		name string
		a    [6]uint64
		p    Policy
		want string
	}{
		{"socket", [6]uint64{unix.AF_INET}, Policy{}, `plugin "teller": sandbox refused socket(AF_INET): rule "network" (no net grant); grant "net" would allow it`},
		{"socket", [6]uint64{unix.AF_INET6}, Policy{Unix: true}, `plugin "teller": sandbox refused socket(AF_INET6): rule "network" (no net grant); grant "net" would allow it`},
		{"socket", [6]uint64{unix.AF_UNIX}, Policy{Network: true}, `plugin "teller": sandbox refused socket(AF_UNIX): rule "unix" (no unix grant); grant "unix" would allow it`},
		{"socket", [6]uint64{unix.AF_NETLINK, 0, 9}, Policy{Network: true}, `plugin "teller": sandbox refused socket(AF_NETLINK): rule "network" (of netlink, only routing sockets (NETLINK_ROUTE)); no grant allows it`},
		{"socket", [6]uint64{unix.AF_PACKET}, Policy{Network: true}, `plugin "teller": sandbox refused socket(AF_PACKET): rule "socket families" (only inet, inet6, netlink routing and unix sockets can be granted); no grant allows it`},
		{"socketpair", [6]uint64{unix.AF_INET}, Policy{}, `plugin "teller": sandbox refused socketpair(AF_INET): rule "socket families" (socketpair makes unix pairs only); no grant allows it`},
		{"socketpair", [6]uint64{unix.AF_UNIX, unix.SOCK_DGRAM}, Policy{Network: true}, `plugin "teller": sandbox refused socketpair(AF_UNIX): rule "unix" (no unix grant: stream and sequenced-packet pairs only, since a datagram socket can send to any socket by path); grant "unix" would allow it`},
		{"clone", [6]uint64{0x11}, Policy{}, `plugin "teller": sandbox refused clone: rule "spawn" (no spawn grant); grant "spawn" would allow it`},
		{"fork", [6]uint64{}, Policy{}, `plugin "teller": sandbox refused fork: rule "spawn" (no spawn grant); grant "spawn" would allow it`},
		{"clone", [6]uint64{unix.CLONE_NEWUSER}, Policy{Spawn: true}, `plugin "teller": sandbox refused clone: rule "namespaces" (a plugin makes no namespaces); no grant allows it`},
		{"unshare", [6]uint64{}, Policy{}, `plugin "teller": sandbox refused unshare: rule "namespaces" (a plugin makes no namespaces); no grant allows it`},
		{"ptrace", [6]uint64{}, Policy{}, `plugin "teller": sandbox refused ptrace: rule "other processes' memory" (refused to every plugin); no grant allows it`},
		{"process_vm_readv", [6]uint64{}, Policy{}, `plugin "teller": sandbox refused process_vm_readv: rule "other processes' memory" (refused to every plugin); no grant allows it`},
		{"prlimit64", [6]uint64{1}, Policy{}, `plugin "teller": sandbox refused prlimit64: rule "other processes" (a plugin acts on itself only); no grant allows it`},
		{"kill", [6]uint64{1}, Policy{}, `plugin "teller": sandbox refused kill: rule "signals" (a plugin signals itself and its own processes only); no grant allows it`},
		{"mknodat", [6]uint64{}, Policy{}, `plugin "teller": sandbox refused mknodat: rule "device nodes" (refused to every plugin); no grant allows it`},
		{"fchmodat", [6]uint64{}, Policy{}, `plugin "teller": sandbox refused fchmodat: rule "metadata" (without the namespace layer no file's mode, owner, attributes or times change; with it, those inside fs.write grants do); no grant allows it`},
		{"setsid", [6]uint64{}, Policy{}, `plugin "teller": sandbox refused setsid: rule "process group" (without the namespace layer a plugin stays in its process group); no grant allows it`},
		{"mmap", [6]uint64{0, 1 << 20, 3, unix.MAP_SHARED | unix.MAP_ANONYMOUS}, Policy{Memory: 1 << 20}, `plugin "teller": sandbox refused mmap: rule "memory cap" (under max_memory_bytes, no shared anonymous memory, memfds, System V shared memory or pipes grown beyond their default size, which the cap does not count); no grant allows it`},
		{"fcntl", [6]uint64{4, unix.F_SETPIPE_SZ, 1 << 20}, Policy{Memory: 1 << 20}, `plugin "teller": sandbox refused fcntl: rule "memory cap" (under max_memory_bytes, no shared anonymous memory, memfds, System V shared memory or pipes grown beyond their default size, which the cap does not count); no grant allows it`},
		{"shmat", [6]uint64{}, Policy{}, `plugin "teller": sandbox refused shmat: rule "IPC" (without the namespace layer, the host's System V IPC objects and POSIX message queues are out of reach); no grant allows it`},
		{"mq_open", [6]uint64{}, Policy{}, `plugin "teller": sandbox refused mq_open: rule "IPC" (without the namespace layer, the host's System V IPC objects and POSIX message queues are out of reach); no grant allows it`},
		{"keyctl", [6]uint64{}, Policy{}, `plugin "teller": sandbox refused keyctl: rule "kernel interfaces" (refused to every plugin); no grant allows it`},
	}
	for _, c := range cases {
		if got := explainRefusal(c.name, c.a, c.p).message("teller"); got != c.want {
			t.Errorf("%s%v:\n got %s\nwant %s", c.name, c.a, got, c.want)
		}
	}
	// Every call the policy refuses has a rule of its own, not the
	// catch-all.
	for _, p := range []Policy{{}, {Network: true, Unix: true, Memory: 1 << 20}} {
		for _, g := range filterGroups(p, filterContext{self: 7}) {
			if g.Action != eperm {
				continue
			}
			for _, name := range groupNames(g) {
				if r := explainRefusal(name, [6]uint64{unix.AF_PACKET}, p); r.rule == "policy" {
					t.Errorf("%s has no rule of its own", name)
				}
			}
		}
	}
}

func TestExplainPathRefusal(t *testing.T) {
	root := t.TempDir()
	mk := func(rel string) string {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ro, rw, other := filepath.Join(root, "ro"), filepath.Join(root, "rw"), filepath.Join(root, "other")
	inRO, inRW, secret := mk("ro/lib.so"), mk("rw/data"), mk("other/secret")
	link := filepath.Join(ro, "link")
	if err := os.Symlink(secret, link); err != nil {
		t.Fatal(err)
	}
	rules := newPathRules(Policy{ReadOnly: []string{ro}, ReadWrite: []string{rw}})
	q := func(s string) string { return `"` + s + `"` }
	cases := []struct {
		call string
		t    target
		want string // "" for no refusal
	}{
		{"openat", target{path: inRO, need: accRead}, ""},
		{"execve", target{path: inRO, need: accExec}, ""},
		{"openat", target{path: inRW, need: accWrite}, ""},
		{"openat", target{path: inRW, need: accRead}, ""},
		{"openat", target{path: filepath.Join(rw, "new"), need: accWrite, create: true}, ""},
		{"openat", target{path: filepath.Join(ro, "missing"), need: accRead}, ""},
		{"openat", target{path: filepath.Join(other, "missing"), need: accRead}, ""},
		{"openat", target{path: "/proc/1/environ", need: accRead}, ""},
		{"openat", target{path: secret, need: accRead},
			`sandbox refused openat(` + q(secret) + `, read): no fs.read grant covers it; grant "fs.read:` + secret + `" would allow it`},
		{"execve", target{path: secret, need: accExec},
			`sandbox refused execve(` + q(secret) + `, execute): no fs.read grant covers it; grant "fs.read:` + secret + `" would allow it`},
		{"openat", target{path: inRO, need: accWrite},
			`sandbox refused openat(` + q(inRO) + `, write): no fs.write grant covers it; grant "fs.write:` + inRO + `" would allow it`},
		{"openat", target{path: filepath.Join(ro, "new"), need: accWrite, create: true},
			`sandbox refused openat(` + q(filepath.Join(ro, "new")) + `, create): no fs.write grant covers ` + ro + `; grant "fs.write:` + ro + `" would allow it`},
		{"mkdirat", target{path: filepath.Join(other, "d"), need: accCreate},
			`sandbox refused mkdirat(` + q(filepath.Join(other, "d")) + `, create): no fs.write grant covers ` + other + `; grant "fs.write:` + other + `" would allow it`},
		{"unlinkat", target{path: inRO, need: accRemove},
			`sandbox refused unlinkat(` + q(inRO) + `, remove): no fs.write grant covers ` + ro + `; grant "fs.write:` + ro + `" would allow it`},
		// Landlock checks what a link points to, and so does the grant.
		{"openat", target{path: link, need: accRead},
			`sandbox refused openat(` + q(link) + ` (` + q(secret) + `), read): no fs.read grant covers it; grant "fs.read:` + secret + `" would allow it`},
	}
	for _, c := range cases {
		r, refused := rules.refusal(c.call, c.t)
		got := ""
		if refused {
			got = strings.TrimPrefix(r.message("p"), `plugin "p": `)
		}
		if got != c.want {
			t.Errorf("%s %+v:\n got %s\nwant %s", c.call, c.t, got, c.want)
		}
	}
}

func TestPathArgs(t *testing.T) {
	cases := []struct {
		name  string
		a     [6]uint64
		flags uint64
		want  []pathArg
	}{
		{"openat", [6]uint64{}, unix.O_RDONLY, []pathArg{{0, 1, accRead, false}}},
		{"openat", [6]uint64{}, unix.O_WRONLY | unix.O_CREAT, []pathArg{{0, 1, accWrite, true}}},
		{"openat", [6]uint64{}, unix.O_RDONLY | unix.O_TRUNC, []pathArg{{0, 1, accWrite, false}}},
		{"openat", [6]uint64{}, unix.O_PATH, nil},
		{"open", [6]uint64{0, unix.O_RDWR}, 0, []pathArg{{-1, 0, accWrite, false}}},
		{"creat", [6]uint64{}, 0, []pathArg{{-1, 0, accWrite, true}}},
		{"renameat2", [6]uint64{}, 0, []pathArg{{0, 1, accRemove, false}, {2, 3, accCreate, false}}},
		{"symlinkat", [6]uint64{}, 0, []pathArg{{1, 2, accCreate, false}}},
	}
	for _, c := range cases {
		if got := pathArgs(c.name, c.a, c.flags); !slices.Equal(got, c.want) {
			t.Errorf("%s flags %#x: %v; want %v", c.name, c.flags, got, c.want)
		}
	}
	for _, name := range pathCalls {
		if pathArgs(name, [6]uint64{}, 0) == nil {
			t.Errorf("path call %s has no path arguments", name)
		}
	}
}

// readString reads a path that ends just before an unmapped page, and
// one that crosses from one page into the next.
func TestReadString(t *testing.T) {
	mem, err := unix.Mmap(-1, 0, 3*4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(mem)
	if err := unix.Mprotect(mem[2*4096:], unix.PROT_NONE); err != nil {
		t.Fatal(err)
	}
	base := uint64(uintptr(unsafe.Pointer(&mem[0])))
	atEnd := "/srv/at-the-end"
	copy(mem[2*4096-len(atEnd)-1:], atEnd+"\x00")
	crossing := "/srv/crossing/the/page"
	copy(mem[4096-5:], crossing+"\x00")
	for _, c := range []struct {
		addr uint64
		want string
	}{
		{base + 2*4096 - uint64(len(atEnd)) - 1, atEnd},
		{base + 4096 - 5, crossing},
	} {
		got, err := readString(os.Getpid(), c.addr)
		if err != nil || got != c.want {
			t.Errorf("readString = %q, %v; want %q", got, err, c.want)
		}
	}
	// No terminator before the unmapped page: an error, not a hang.
	for i := 4096; i < 2*4096; i++ {
		mem[i] = 'x'
	}
	if _, err := readString(os.Getpid(), base+4096); err == nil {
		t.Error("an unterminated path was read")
	}
}

// What one plugin can make the host log is bounded: each explanation once,
// a few lines a second, each line cut, and the rest counted.
func TestExplainReportBounds(t *testing.T) {
	var buf bytes.Buffer
	e := &explainer{
		log:    slog.New(slog.NewTextHandler(&buf, nil)),
		plugin: "p",
		lines:  rate.NewLimiter(explainLinesPerSec, explainLineBurst),
		seen:   map[string]bool{},
	}
	e.report(strings.Repeat("x", 10000))
	for range 100 {
		e.report("the same refusal")
	}
	for i := range 1000 {
		e.report(fmt.Sprintf("refusal %d", i))
	}
	e.summary()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if n := len(lines); n > explainLineBurst+3 {
		t.Errorf("%d lines logged; want at most the burst of %d and the count", n, explainLineBurst)
	}
	if strings.Count(buf.String(), "the same refusal") != 1 {
		t.Error("a repeated explanation was logged again")
	}
	if last := lines[len(lines)-1]; !strings.Contains(last, "more refusals not logged") || !strings.Contains(last, fmt.Sprint(e.quiet)) || e.quiet < 1000-explainLineBurst {
		t.Errorf("summary %q, %d not logged", last, e.quiet)
	}
	if !strings.Contains(lines[0], "xxx...") || len(lines[0]) > explainMaxLine+100 {
		t.Errorf("a long explanation was logged as %d bytes", len(lines[0]))
	}
}
