#!/usr/bin/env python3
"""Mutation run for the containment mechanisms (docs/SECURITY.md).

Each mechanism is deleted, one at a time, in a fresh copy of the committed
tree (git archive HEAD), and the tests of its class are run: a mechanism
whose removal fails no test is not proved by the suite. The work tree is
never touched. Run from the repository as root and as an ordinary user:

    python3 .ci/mutate.py            # every mechanism
    python3 .ci/mutate.py ABI "PID"  # those whose names contain these words

Not part of CI (it runs the suites a dozen times).
"""
import os, subprocess, sys, tempfile

# name, file, text to replace, replacement, tests (go test -run), package
MUTATIONS = [
    ("seccomp ABI filter", "internal/sandbox/seccomp_linux.go",
     "\tif err := loadABIFilter(); err != nil {", "\tif err := error(nil); err != nil {",
     "TestContainment/(namespaces|filter-only)/(i386|x32)", "."),
    ("PID namespace", "internal/sandbox/namespaces_linux.go",
     "nsBase = syscall.CLONE_NEWPID | ", "nsBase = ",
     "TestContainment/namespaces/|TestDescendants|TestHostilePlugins/namespaces/(opening|reading_the_host|signalling)", "."),
    ("read-only mounts", "internal/sandbox/confine_linux.go",
     "\t\tif err := readOnlyExceptWrites(p); err != nil {", "\t\tif err := error(nil); err != nil {",
     "TestContainment/namespaces/(chmod|chown|utimes|setxattr|hard)|TestHostilePlugins/namespaces/writing", "."),
    ("seccomp metadata refusal (no namespaces)", "internal/sandbox/seccomp_linux.go",
     "Names: existing(metadataCalls)", "Names: existing(nil)",
     "TestContainment/filter-only/(chmod|chown|utimes|setxattr)", "."),
    ("AF_UNIX needing the unix grant", "internal/sandbox/seccomp_linux.go",
     "\t\tallow(unix.AF_NETLINK) // routing", "\t\tallow(unix.AF_UNIX)\n\t\tallow(unix.AF_NETLINK) // routing",
     "TestContainment/.*/unix_socket", "."),
    ("capability drop", "internal/sandbox/confine_linux.go",
     "\tif err := dropPrivileges(p.RunAs, &rep); err != nil {", "\tif err := error(nil); err != nil {",
     "TestContainment/.*/capabilities|TestRunAs", "."),
    ("setsid refusal (no namespaces)", "internal/sandbox/seccomp_linux.go",
     'Names: []string{"setsid", "setpgid"}', "Names: nil",
     "TestDescendantsEndWithPlugin", "."),
    ("system calls newer than the filter knows", "internal/sandbox/seccomp_linux.go",
     "Cond: bpf.JumpGreaterThan, Val: newestKnown(native), SkipFalse: 1},", "Cond: bpf.JumpGreaterThan, Val: 1 << 30, SkipFalse: 1},",
     "TestContainment/.*/file_attributes", "."),
    ("seccomp device-node refusal", "internal/sandbox/seccomp_linux.go",
     "{Action: eperm, NamesWithCondtions: deviceNodeRules()},", "",
     "TestContainment/.*/device", "."),
    ("Landlock signal scope", "internal/sandbox/confine_linux.go",
     "\t\tif err := cfg.RestrictScoped(); err != nil {", "\t\tif err := error(nil); err != nil {",
     "TestContainment/filter-only/(kill|abstract)|TestHostilePlugins/filter-only/signalling", "."),
    ("network namespace", "internal/sandbox/namespaces_linux.go",
     "\t\tflags |= syscall.CLONE_NEWNET", "\t\t_ = flags",
     "TestContainment|TestHostilePlugins", "."),
    ("a /proc of the PID namespace", "internal/sandbox/confine_linux.go",
     "\t\tif err := mountProc(); err != nil {", "\t\tif err := error(nil); err != nil {",
     "TestHostilePlugins/namespaces/(opening|reading_the_host)|TestContainment/namespaces/oom", "."),
    ("datagram socketpairs needing the unix grant", "internal/sandbox/seccomp_linux.go",
     "\t\tpairs = append(pairs, noDatagramPairs)", "\t\t_ = noDatagramPairs",
     "TestContainment/.*/unix_datagram", "."),
    ("memory cap: shared anonymous mappings", "internal/sandbox/seccomp_linux.go",
     '\t\trules = append(rules, seccomp.NameWithConditions{Name: "mmap"', '\t\t_ = append(rules, seccomp.NameWithConditions{Name: "mmap"',
     "TestContainment/.*/shared_anonymous", "."),
    ("memory cap: memfds", "internal/sandbox/seccomp_linux.go",
     '\t\tnames = append(names, "memfd_create")', "",
     "TestContainment/.*/memfd", "."),
    ("memory cap: System V shared memory", "internal/sandbox/seccomp_linux.go",
     '\tcase p.Memory > 0:\n\t\tnames = append(names, "shmget")', "\tcase p.Memory > 0:",
     "TestContainment/namespaces/System_V_shared_memory_beyond", "."),
    ("memory cap: pipes grown with F_SETPIPE_SZ", "internal/sandbox/seccomp_linux.go",
     "\t\t\t{Argument: 1, Operation: seccomp.Equal, Value: unix.F_SETPIPE_SZ},", "\t\t\t{Argument: 1, Operation: seccomp.Equal, Value: 0xdead},",
     "TestContainment/.*/pipes_grown", "."),
    # inotify: refused where nothing counts it for the plugin (fails as
    # root), bounded in the plugin's user namespace (fails as a user).
    ("inotify refusal", "internal/sandbox/seccomp_linux.go",
     "\tif !fc.inotifyBounded {\n\t\t// Threat", "\tif false {\n\t\t// Threat",
     "TestContainment/.*/the_user's_inotify", "."),
    ("inotify bound in the user namespace", "internal/sandbox/confine_linux.go",
     "\t\t\tfc.inotifyBounded = boundInotify(&rep) == nil", "\t\t\tfc.inotifyBounded = true",
     "TestContainment/.*/the_user's_inotify", "."),
    ("POSIX message queue refusal (no namespaces)", "internal/sandbox/seccomp_linux.go",
     "\t\tnames = append(names, existing(posixMQCalls)...)", "\t\t_ = posixMQCalls",
     "TestContainment/filter-only/a_message_queue", "."),
    ("System V IPC refusal (no namespaces)", "internal/sandbox/seccomp_linux.go",
     "\t\tnames = append(names, existing(sysvIPCCalls)...)", '\t\tnames = append(names, "shmget")',
     "TestContainment/filter-only/the_host's_System_V", "."),
    # The thread bomb: a root host's pids cgroup (fails as root), the
    # user namespace's RLIMIT_NPROC (fails as an ordinary user).
    ("task bound: pids cgroup", "internal/sandbox/tasks_linux.go",
     "func wantsTaskGroup(p Policy) bool { return p.Tasks > 0 && os.Geteuid() == 0 }",
     "func wantsTaskGroup(p Policy) bool { return false }",
     "TestContainment/.*/thread_bomb|TestLimitsReach", "."),
    ("Landlock file system rules", "internal/sandbox/confine_linux.go",
     "\tscoped, err := applyLandlock(p, &rep)", "\tscoped, err := false, error(nil)",
     "TestContainment/filter-only/leaving_the_pids", "."),
    ("a session of its own (no controlling terminal)", "internal/process/sys_unix.go",
     "SysProcAttr{Setsid: true}", "SysProcAttr{Setpgid: true}",
     "TestHostTerminalOutOfReach", "."),
    ("no devices but the granted ones (read-only mounts)", "internal/sandbox/namespaces_linux.go",
     "unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV}", "unix.MOUNT_ATTR_NOSUID}",
     "TestHostTerminalOutOfReach|TestContainment/.*/the_machine's_console", "."),
    ("Landlock file system rules (the terminal, the console, kernel settings)", "internal/sandbox/confine_linux.go",
     "\tscoped, err := applyLandlock(p, &rep)", "\tscoped, err := false, error(nil)",
     "TestHostTerminalOutOfReach|TestContainment/.*/(the_machine's_console|a_kernel_setting)", "."),
    ("read-only mounts and Landlock", [
        ("internal/sandbox/confine_linux.go", "\tscoped, err := applyLandlock(p, &rep)", "\tscoped, err := false, error(nil)"),
        ("internal/sandbox/confine_linux.go", "\t\tif err := readOnlyExceptWrites(p); err != nil {", "\t\tif err := error(nil); err != nil {")],
     None, None, "TestContainment/.*/a_kernel_setting", "."),
    ("Landlock file system rules and no devices", [
        ("internal/sandbox/confine_linux.go", "\tscoped, err := applyLandlock(p, &rep)", "\tscoped, err := false, error(nil)"),
        ("internal/sandbox/namespaces_linux.go", "unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV}", "unix.MOUNT_ATTR_NOSUID}")],
     None, None, "TestHostTerminalOutOfReach|TestContainment/.*/the_machine's_console", "."),
    ("task bound: RLIMIT_NPROC in the user namespace", "internal/sandbox/tasks_linux.go",
     "\t\tif nproc <= 0 || p.Tasks < nproc {", "\t\tif false {",
     "TestContainment/.*/thread_bomb", "."),

    # Resource bounds (docs/SECURITY.md)
    ('log host function: line cap', 'stdfuncs.go',
     'msg, cut := cutUTF8(in.Msg, limits.MaxLogLine)', 'msg, cut := in.Msg, false',
     'TestLogHostFunctionCutsLines', '.'),
    ('log host function: rate limit', 'stdfuncs.go',
     '\tif lg.count <= rate {\n\t\treturn true, droppedBefore, false', '\tif true {\n\t\treturn true, droppedBefore, false',
     'TestLogHostFunctionRate|TestLogHostFunctionWasm', '.'),
    ('log host function: dropped count reported', 'stdfuncs.go',
     '\tif droppedBefore > 0 {\n\t\tlog.Warn(', '\tif false {\n\t\tlog.Warn(',
     'TestLogHostFunctionRate', '.'),
    ('log host function: attribute count and budget', 'stdfuncs.go',
     'if len(attrs) == logMaxAttrs || size > budget {', 'if false {',
     'TestLogHostFunctionCutsLines', '.'),
    ('log host function: attribute value cap', 'stdfuncs.go',
     's, _ = cutUTF8(s, logMaxAttrValue)', '',
     'TestLogHostFunctionCutsLines', '.'),
    # Protocol and host functions against a lying plugin (docs/SECURITY.md)
    ('wasm host_call input checked as JSON', 'internal/wasm/abi.go',
     'checked, err := rpc.CheckRaw(in)', 'checked, err := json.RawMessage(in), error(nil)',
     'TestHostCallInputIsValidJSON', './internal/wasm/'),
    ('plugin errors logged cut', 'hook.go',
     '"error", errForLog(err, p.spec.Limits.MaxLogLine))', '"error", err)',
     'TestPluginErrorsLoggedCut', '.'),
    ('handshake error bounded', 'internal/tier/handshake.go',
     'if extra++; extra <= maxHandshakeExtras {', 'if extra++; true {',
     'TestHostileHandshakes', '.'),
    ('process host calls end at call_timeout', 'internal/process/process.go',
     'ctx, cancel := p.conn.RequestTimeout(ctx, p.spec.Limits.CallTimeout)', 'ctx, cancel := ctx, func() {}',
     'TestHostCallsHeldByPlugin', '.'),
    ('unknown host function name cut', 'hostfunc.go',
     'name, _ := cutUTF8(fn, maxUnknownFuncName)', 'name := fn',
     'TestHostCallHugeNameNotLogged', '.'),
    ('kv quota: total bytes', 'internal/kvstore/kvstore.go',
     'if q.MaxTotalBytes > 0 && next.Bytes > q.MaxTotalBytes && next.Bytes > u.Bytes {', 'if false {',
     'TestQuotas|TestQuotaHammer', './internal/kvstore'),
    ('kv quota: keys', 'internal/kvstore/kvstore.go',
     'if q.MaxKeys > 0 && u.Keys >= int64(q.MaxKeys) {', 'if false {',
     'TestQuotas|TestQuotaHammer', './internal/kvstore'),
    ('kv quota: value bytes', 'internal/kvstore/kvstore.go',
     'if q.MaxValueBytes > 0 && len(value) > q.MaxValueBytes {', 'if false {',
     'TestQuotas|TestQuotaHammer', './internal/kvstore'),
    ('kv quota: overwrite frees the old value', 'internal/kvstore/kvstore.go',
     '\t\tnext.Bytes += int64(len(value) - len(old))', '\t\tnext.Bytes += int64(len(value))',
     'TestQuotas', './internal/kvstore'),
    ('kv quota: delete frees', 'internal/kvstore/kvstore.go',
     '\t\t\tu.Bytes -= int64(len(key) + len(old))', '\t\t\t_ = old',
     'TestQuotas', './internal/kvstore'),
    ('kv quota: check and update in one critical section', 'internal/kvstore/memory.go',
     '\tusage, err := sp.usage.after(key, cur, exists, value, q)\n\tif err != nil {\n\t\treturn false, err\n\t}',
     '\tusage, err := sp.usage.after(key, cur, exists, value, q)\n\tif err != nil {\n\t\treturn false, err\n\t}\n\tm.mu.Unlock()\n\tfor range 1000 {\n\t\t_ = slices.Clone(value)\n\t}\n\tm.mu.Lock()',
     'TestQuotaHammer|TestCASCounterHammer', './internal/kvstore'),
    ('package: path length', 'internal/bundle/bundle.go',
     'if len(name) > limits.MaxPathBytes {', 'if false {', 'TestHostileArchives', './internal/bundle'),
    ('package: path depth', 'internal/bundle/bundle.go',
     'if len(parts) > limits.MaxDepth {', 'if false {', 'TestHostileArchives|TestUnpackRefuses', './internal/bundle'),
    ('package: path component length', 'internal/bundle/bundle.go',
     'if len(part) > limits.MaxNameBytes {', 'if false {', 'TestHostileArchives', './internal/bundle'),
    ('package: entry count', 'internal/bundle/bundle.go',
     'if o.entries > o.limits.MaxEntries {', 'if false {', 'TestHostileArchives', './internal/bundle'),
    ('package: declared sizes against the total', 'internal/bundle/bundle.go',
     'if o.total+size > o.limits.MaxTotal {', 'if false {', 'TestHostileArchives', './internal/bundle'),
    ('package: opening honours its deadline', 'internal/bundle/bundle.go',
     '\tif err := c.ctx.Err(); err != nil {\n\t\treturn 0, err\n\t}', '', 'TestOpenHonoursContext', './internal/bundle'),
    ('run directory chain check', 'internal/bundle/unpack.go',
     '\tif err := checkChain(parent); err != nil {', '\tif err := checkChain(parent); false && err != nil {',
     'TestUnpackChecksDirectoryChain', './internal/bundle'),
    ('fresh run directory at every start', 'source.go',
     '\tdir, remove, err := s.bundle.Unpack(ctx, s.parent)\n\tif err != nil {',
     '\ts.mu.Lock()\n\treuse := s.dir\n\ts.mu.Unlock()\n\tif reuse != "" {\n\t\tspec.Dir = reuse\n\t\treturn s.inner.Start(ctx, spec)\n\t}\n\tdir, remove, err := s.bundle.Unpack(ctx, s.parent)\n\tif err != nil {',
     'TestRestartRunsVerifiedBytes', '.'),
    ('builtin calls in flight', 'internal/inproc/inproc.go',
     '\tif err := n.acquire(ctx); err != nil {\n\t\treturn nil, err\n\t}', '\tn.slots <- struct{}{}\n\tgo func() { <-n.slots }()',
     'TestBuiltinInflightLimit|TestBuiltinSlotHeld', '.'),
    ('process calls in flight', 'internal/process/process.go',
     '\tselect {\n\tcase p.slots <- struct{}{}:\n\tcase <-ctx.Done():\n\t\treturn nil, p.ctxError(ctx)\n\tcase <-p.done:\n\t\treturn nil, p.err\n\t}\n\tdefer func() { <-p.slots }()', '',
     'TestProcessInflightLimit', '.'),
    # The wasm tier (docs/SECURITY.md, WebAssembly tier)
    ("wasm: memory budget across instances", "internal/wasm/instance.go",
     "p.rt.InstantiateModule(experimental.WithMemoryAllocator(ctx, mem),", "p.rt.InstantiateModule(experimental.WithMemoryAllocator(ctx, nil),",
     "TestMemoryCapIsPerPlugin|TestIdleInstancesYieldMemory", "./internal/wasm"),
    # With the version changed too, or the rewriting cached by an earlier
    # run would be served.
    ("wasm: tables cannot grow past their size", [
        ("internal/wasm/instrument/instrument.go", "\t\treturn m.rewriteTables(s.data)", "\t\treturn checkLimits(s.data, true, m.checkType)"),
        ("internal/wasm/instrument/instrument.go", "const Version = ", "const Version = 1000 + ")],
     None, None, "TestTable", "./internal/wasm/"),
    ("wasm: locals bounded by the code's size", [
        ("internal/wasm/instrument/code.go", "\t\tif uint64(c) > bd.m.localsLeft {", "\t\tif false {"),
        ("internal/wasm/instrument/instrument.go", "const Version = ", "const Version = 1000 + ")],
     None, None, "TestTooManyLocals", "./internal/wasm/..."),
    ("wasm: control flow bounded by the code's size", [
        ("internal/wasm/instrument/code.go", "\tif cost > bd.m.compileLeft {", "\tif false && cost > bd.m.compileLeft {"),
        ("internal/wasm/instrument/instrument.go", "const Version = ", "const Version = 1000 + ")],
     None, None, "TestTooComplex|TestBranchTableTargets|TestLiveLocals", "./internal/wasm/..."),
    ("wasm: calls draw on a bounded stack", [
        ("internal/wasm/instrument/code.go", "\t\tbd.frame = m.frames[i]\n", "\t\tbd.frame = 0\n"),
        ("internal/wasm/instrument/instrument.go", "const Version = ", "const Version = 1000 + ")],
     None, None, "TestCallsDrawOnTheStackLevel|TestIndirectCallsDrawLeavesDoNot|TestRecursionBoundedByTheCap|TestTrappedInstanceIsDiscarded|TestEveryCallStartsFromTheWholeStack", "./internal/wasm/..."),
    ("wasm: a caller's stack level stored before its calls", [
        ("internal/wasm/instrument/code.go", "\t\t\tout = bd.storeLevel(out, o.tail)", "\t\t\t_ = o.tail"),
        ("internal/wasm/instrument/instrument.go", "const Version = ", "const Version = 1000 + ")],
     None, None, "TestCallsDrawOnTheStackLevel", "./internal/wasm/instrument"),
    ("wasm: every entry starts from the stack bound", "internal/wasm/abi.go",
     "\tinst.stackLeft.Set(inst.stackLevel)", "\t_ = inst.stackLevel",
     "TestEveryCallStartsFromTheWholeStack", "./internal/wasm"),
    ("wasm: start functions entered by the host, from the stack bound", [
        ("internal/wasm/instance.go", "\t\tWithStartFunctions() // the host runs them (runStart)", "\t\tWithStartFunctions(\"_initialize\")"),
        ("internal/wasm/instance.go", "\t{\"_initialize\", \"_initialize\"},\n", "")],
     None, None, "TestStartFunctionsStartFromTheStackBound", "./internal/wasm"),
    ("wasm: wazero's records of an instance charged", "internal/wasm/budget.go",
     "\treturn p.initialMemory + p.tableBytes + p.recordBytes + p.stackBytes", "\treturn p.initialMemory + p.tableBytes + p.stackBytes",
     "TestInstanceRecordsCharged", "./internal/wasm"),
    ("wasm: a host call's name cut before it is copied", "internal/wasm/abi.go",
     "\tif len(fn) > maxHostFuncName {", "\tif false && len(fn) > maxHostFuncName {",
     "TestHostCallLongNameNotCopied", "./internal/wasm"),
    ("wasm: WASI paths bounded before they are copied", "internal/wasm/wasi.go",
     "\tif err := boundArgs(b, pathLengths, maxPath, errnoNameTooLong); err != nil {", "\tif err := error(nil); err != nil {",
     "TestWASILongPathNotCopied", "./internal/wasm"),
    ("wasm: WASI vectors bounded", "internal/wasm/wasi.go",
     "\tif err := boundArgs(b, vectorLengths, maxVectors, errnoInval); err != nil {", "\tif err := error(nil); err != nil {",
     "TestWASIHostWorkBounded", "./internal/wasm"),
    ("wasm: random_get under the call's deadline", "internal/wasm/wasi.go",
     "\tif err := p.exportRandomGet(b); err != nil {", "\tif err := error(nil); err != nil {",
     "TestWASIHostWorkBounded", "./internal/wasm"),
    ("wasm: host call bytes paced", "internal/wasm/abi.go",
     "\tif p.hostBytes != nil && len(in) > 0 {", "\tif false && p.hostBytes != nil && len(in) > 0 {",
     "TestHostCallBytesPaced", "./internal/wasm"),
    ("wasm: a paced host call ends when its plugin stops", "internal/wasm/abi.go",
     "len(in), p.done, p.spec.Paced)", "len(in), nil, p.spec.Paced)",
     "TestPacedHostCallEndsWithPlugin", "./internal/wasm"),
    ("values checked at most max_message_bytes at once per plugin", "valuecheck.go",
     "\tn := min(int64(len(raw)), p.checkRoom)", "\tn := int64(0)",
     "TestValueChecksBounded", "."),
    ("process: host call bytes paced", "internal/process/process.go",
     "\t\tRequestBytesPerSecond: spec.Limits.HostCallBytesPerSec,", "\t\tRequestBytesPerSecond: 0,",
     "TestHostCallBytesPaced", "."),
    ("rpc: requests paced before the next read", "internal/rpc/reader.go",
     "\t\tc.charge(len(line))\n", "\n",
     "TestRequestsPaced|TestPaceEndsWithConn", "./internal/rpc"),
    ("rpc: a caller waiting for the pace woken at its deadline", "internal/rpc/callerreads.go",
     "\tif c.paceWake != nil {\n\t\tc.wakePace()", "\tif false {\n\t\tc.wakePace()",
     "TestCallDeadlineDuringPace|TestCallerReadsMode", "./internal/rpc"),
    ("rpc: held answers leave before a paced wait", "internal/rpc/reader.go",
     "(!c.lineBuffered() || c.paced())", "!c.lineBuffered()",
     "TestPaceEndsWithConn", "./internal/rpc"),
    ("wasm: file size bounded", [
        ("internal/wasm/openfiles.go", "\troom := f.files.maxBytes - off", "\troom := int64(1) << 62"),
        ("internal/wasm/openfiles.go", "\tif size > f.files.maxBytes {", "\tif false {")],
     None, None, "TestFileSizeBounded", "./internal/wasm"),
    ("wasm: open files bounded", "internal/wasm/fsguard.go",
     "WithSysFSMount(countedFS{f, files}, dir)", "WithSysFSMount(f, dir)",
     "TestOpenFilesBounded", "./internal/wasm"),
    ("wasm: counted loops charged for the value they compare", "internal/wasm/instrument/counted.go",
     "\t\tif cl.off != 0 {", "\t\tif false && cl.off != 0 {",
     "TestStopsRunaways|TestCountedLoop", "./internal/wasm/instrument"),
    ("wasm: host functions never given an instance's reused call state", "internal/wasm/abi.go",
     "\tres, err := p.spec.Host(state.context(), string(fn), input)", "\tres, err := p.spec.Host(state, string(fn), input)",
     "TestHostFunctionContextEndsWithTheCall", "./internal/wasm"),
    ("wasm calls in flight", [
        ("internal/wasm/pool.go", "\tif p.pool.calls >= p.spec.Limits.MaxInflight || p.stopping.Load() {", "\tif p.stopping.Load() {"),
        ("internal/wasm/pool.go", "\t\tif p.pool.calls < p.spec.Limits.MaxInflight {", "\t\tif true {")],
     None, None, "TestInflightLimit", "./internal/wasm"),
    ("wasm: charges cover the longest path, branches included", "internal/wasm/instrument/paths.go",
     "\tp.open[target].reach = max(p.open[target].reach, path)", "\t_ = path",
     "TestChargesAreTheLongestPaths|TestPathCharges|TestStopsRunaways", "./internal/wasm/instrument"),
    ("wasm: poll_oneoff's subscriptions bounded", "internal/wasm/poll.go",
     "\tif n == 0 || n > maxSubscriptions {", "\tif n == 0 {",
     "TestPollOneoffSemantics", "./internal/wasm/"),
    ("wasm: tables charged to the budget", "internal/wasm/budget.go",
     "return p.initialMemory + p.tableBytes + p.stackBytes", "return p.initialMemory + p.stackBytes",
     "TestTable", "./internal/wasm/"),
    ("wasm: call stacks charged to the budget", "internal/wasm/budget.go",
     "return p.initialMemory + p.tableBytes + p.stackBytes", "return p.initialMemory + p.tableBytes",
     "TestMemoryGrowStopsAtCap|TestIdleInstances|TestMemoryCapIsPerPlugin", "./internal/wasm/"),
    ("wasm: poll_oneoff that wakes with the call", "internal/wasm/wasi.go",
     "\t\tExport(pollOneoffName)", "\t\tExport(\"airlock_unused_poll_oneoff\")",
     "TestSleepEndsWithTheCall|TestPollOneoffSemantics|TestAbsoluteSleep", "./internal/wasm"),
    ("wasm: authenticated compilation cache", "internal/wasm/cacheauth.go",
     "\t\tif a.valid(path) {", "\t\tif true || a.valid(path) {",
     "TestTamperedCacheEntryNeverRuns|TestCacheSweep", "./internal/wasm"),
    ("wasm: trapped instances discarded", "internal/wasm/plugin.go",
     "\tp.release(inst, broken)\n", "\tp.release(inst, broken && false)\n",
     "TestTrappedInstanceIsDiscarded", "./internal/wasm"),
    ("wasm: idle instances closed", "internal/wasm/pool.go",
     "\tp.signal()\n\tp.armReaper()\n", "\tp.signal()\n",
     "TestIdleInstancesAreClosed", "./internal/wasm"),
    ("wasm: no links out of a grant", "internal/wasm/fsguard.go",
     "\tif !g.inside(path) {", "\tif false && !g.inside(path) {",
     "TestGrantCannotLinkOut", "./internal/wasm"),
    ("run_as: the run directory given to the user", "source.go",
     "\tif err := giveTo(dir, spec.RunAs); err != nil {", "\tif err := error(nil); err != nil {",
     "TestRunAsPackage", "."),
    # Last: removed, this lets setpriority(PRIO_USER) and ioprio_set on the
    # whole user work, which renices every process of the user running
    # this script, the later test runs included (root is spared: its
    # processes hold capabilities the plugin lacks).
    ("seccomp argument checks on other processes", "internal/sandbox/seccomp_linux.go",
     "{Action: eperm, NamesWithCondtions: selfOnlyRules(fc)},", "",
     "TestContainment/(namespaces|filter-only)/(prlimit|setpriority|sched|ioprio)", "."),
]


def main(selected):
    repo = subprocess.run(["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True, check=True).stdout.strip()
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=repo, capture_output=True, text=True, check=True).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="airlock-mutate-") as tree:
        archive = subprocess.run(["git", "archive", "HEAD"], cwd=repo, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", tree], input=archive, check=True)
        print(f"# mutation run on {head}, uid {os.getuid()}")
        for name, path, old, new, tests, pkg in MUTATIONS:
            if selected and not any(s.lower() in name.lower() for s in selected):
                continue
            run_one(tree, name, path, old, new, tests, pkg)


def run_one(tree, name, path, old, new, tests, pkg):
    # An entry with a list for path removes several mechanisms at once:
    # a list of (path, old, new), old and new unused.
    edits = path if isinstance(path, list) else [(path, old, new)]
    saved = {}
    for path, old, new in edits:
        file = os.path.join(tree, path)
        src = saved.setdefault(file, open(file).read())
        cur = open(file).read()
        if old not in cur:
            print(f"## {name}: MUTATION NOT APPLIED (text not found in {path}; update .ci/mutate.py)")
            for f, s in saved.items():
                open(f, "w").write(s)
            return
        open(file, "w").write(cur.replace(old, new, 1))
    try:
        r = subprocess.run(["go", "test", "-count=1", "-timeout", "600s", "-run", tests, pkg],
                           cwd=tree, capture_output=True, text=True)
    finally:
        for f, src in saved.items():
            open(f, "w").write(src)
    names = [l.split()[2] for l in r.stdout.splitlines() if l.strip().startswith("--- FAIL")]
    # The failing cases: tests and subtests with no failing subtest.
    failed = [n for n in names if not any(o.startswith(n + "/") for o in names)]
    tops = []
    if r.returncode == 0:
        print(f"## {name}: NO TEST FAILS")
    else:
        print(f"## {name}: {len(failed) or len(tops)} failing")
        for t in (failed or tops):
            print("    " + t)
        if not failed and not tops:
            print((r.stdout + r.stderr)[-1500:])
    sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv[1:])
