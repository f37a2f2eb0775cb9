package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/airlock-go/airlock/internal/build"
	"github.com/airlock-go/airlock/internal/bundle"
	"github.com/airlock-go/airlock/internal/capability"
	"github.com/airlock-go/airlock/internal/manifest"
	"github.com/airlock-go/airlock/internal/native"
	"github.com/airlock-go/airlock/internal/process"
	"github.com/airlock-go/airlock/internal/rpc"
	"github.com/airlock-go/airlock/internal/tier"
	"github.com/airlock-go/airlock/internal/wasm"
	"github.com/airlock-go/airlock/protocol"
)

// checkOptions are check's command line.
type checkOptions struct {
	target        string
	timeout       time.Duration
	sets          []string
	samples       map[string]json.RawMessage
	stubs         []stub
	trust         []string
	allowUnsigned bool
	level         slog.Level
}

const (
	// checkInflight is how many calls the concurrency checks keep in
	// flight at once: well within the host's default of 64.
	checkInflight = 16
	// unknownName is what the unknown-name check calls: a valid name that
	// no manifest declares.
	unknownName = "airlock.check.no_such_name"
	// sizeMargin is how far under the message size limit the
	// message-size check's call stays, for the digits of ids and
	// deadlines it cannot know in advance.
	sizeMargin = 64
	// settle is the time allowed beyond a grace period or a timeout for
	// the host's own timers to act, on a loaded machine.
	settle = time.Second
)

// checker drives one plugin through the checks. It plays the host: it
// starts the plugin with the tier's own starter (internal/process or
// internal/wasm, the code a host runs, sandbox included), serves its host
// function calls with checkHost, and sends what a real host never would
// (a call for an undeclared name, a message at the size limit).
type checker struct {
	c   *cli
	o   checkOptions
	log *slog.Logger

	isPackage bool
	man       *manifest.Manifest
	dir       string // the plugin's files (a package is unpacked into a private directory)
	code      []byte // a packaged wasm module's verified bytes
	starter   tier.Starter
	wasm      *wasm.Starter
	limits    tier.Limits
	grants    capability.Set
	host      *checkHost
	config    map[string]any  // the settings it runs with, resolved
	fixed     map[string]bool // settings the user gave with --set
	cleanups  []func()

	inst       tier.Instance // the running plugin, nil when it must be started
	results    map[string]checkResult
	skipReason string // what checks without a result say

	violations []string           // protocol violations that stopped the plugin
	solo       map[string]outcome // how each name answered, called alone
	overran    map[string]bool    // names whose call passed its deadline
	cancelled  []string           // calls whose $/cancel was answered in time
	ignored    []string           // calls whose $/cancel was not
}

func newChecker(c *cli, o checkOptions) *checker {
	return &checker{
		c: c, o: o,
		results:    map[string]checkResult{},
		solo:       map[string]outcome{},
		overran:    map[string]bool{},
		skipReason: "not run",
	}
}

func (k *checker) set(id, status, format string, args ...any) {
	k.results[id] = checkResult{Status: status, Detail: fmt.Sprintf(format, args...)}
}

func (k *checker) pass(id, format string, args ...any) { k.set(id, statusPass, format, args...) }
func (k *checker) fail(id, format string, args ...any) { k.set(id, statusFail, format, args...) }
func (k *checker) skip(id, format string, args ...any) { k.set(id, statusSkip, format, args...) }

func (k *checker) isWasm() bool { return k.man.Tier == manifest.TierWasm }

// run runs the checks in order. A check that cannot run for want of an
// earlier one is reported as skipped, with k.skipReason.
func (k *checker) run(ctx context.Context) error {
	if ok, err := k.loadSource(ctx); !ok || err != nil {
		return err
	}
	if err := k.prepare(); err != nil {
		return err
	}
	if !k.checkHandshake(ctx) {
		return nil
	}
	steps := []func(context.Context){k.checkSettings, k.checkUnknownName, k.checkCalls, k.checkConcurrency, k.checkHostCalls, k.checkMessageSize}
	if !k.isWasm() {
		steps = append(steps, k.checkCancel, k.checkShutdown, k.checkStdout)
	}
	for _, step := range steps {
		if ctx.Err() != nil {
			return nil
		}
		step(ctx)
	}
	return nil
}

// loadSource reads the plugin: a directory (built first if its entry is
// missing and its manifest says how, as airlock call does) or a package,
// verified as airlock call verifies it.
func (k *checker) loadSource(ctx context.Context) (bool, error) {
	if st, err := os.Stat(k.o.target); err == nil && st.Mode().IsRegular() {
		k.isPackage = true
		return k.loadPackage(ctx)
	}
	man, err := manifest.Load(k.o.target)
	if err != nil {
		k.fail(ckManifest, "%v", err)
		k.skipReason = "not run: the manifest is invalid"
		return false, nil
	}
	if man.Tier == manifest.TierBuiltin {
		return false, fmt.Errorf("plugin %s is a builtin: Go code compiled into its host, which its host's tests check", man.Name)
	}
	k.man, k.dir = man, man.Dir
	k.pass(ckManifest, "%s", describeManifest(man))
	if err := build.IfMissing(ctx, man, k.c.stderr); err != nil {
		k.fail(ckHandshake, "%v", err)
		k.skipReason = "not run: the plugin could not be built"
		return false, nil
	}
	return true, nil
}

func describeManifest(m *manifest.Manifest) string {
	s := fmt.Sprintf("%s %s, %s tier, hooks [%s]", m.Name, m.Version, m.Tier, strings.Join(m.Hooks, ", "))
	if len(m.Functions) > 0 {
		s += fmt.Sprintf(", functions [%s]", strings.Join(m.Functions, ", "))
	}
	return s
}

func (k *checker) loadPackage(ctx context.Context) (bool, error) {
	data, err := os.ReadFile(k.o.target)
	if err != nil {
		return false, err
	}
	b, err := bundle.Open(data, bundle.Limits{})
	if err != nil {
		k.fail(ckManifest, "the package is refused: %v", err)
		k.skipReason = "not run: the package is invalid"
		return false, nil
	}
	k.man = b.Manifest
	if k.man.Tier == manifest.TierBuiltin {
		return false, fmt.Errorf("plugin %s is a builtin: Go code compiled into its host, which its host's tests check", k.man.Name)
	}
	k.pass(ckManifest, "%s (package sha256:%s, %d files)", describeManifest(k.man), b.Digest, len(b.Files))
	// The signature, checked as airlock call checks it: an unsigned
	// package runs only with --allow-unsigned; a signed one must verify
	// against the --trust keys.
	if _, err := os.Stat(k.o.target + ".minisig"); errors.Is(err, os.ErrNotExist) && k.o.allowUnsigned {
		k.skip(ckSignature, "the package is not signed; checked anyway because of --allow-unsigned (development only)")
	} else {
		v, _, err := verifyPackage(k.o.target, "", k.o.trust)
		if err == nil && v.Digest != b.Digest {
			err = fmt.Errorf("%s changed while it was being checked", k.o.target)
		}
		if err != nil {
			hint := ""
			if len(k.o.trust) == 0 {
				hint = " (give the publisher's key with --trust PUBKEY, or --allow-unsigned for an unsigned package in development)"
			}
			k.fail(ckSignature, "%v%s", err, hint)
			k.skipReason = "not run: the package is not trusted, so none of it runs"
			return false, nil
		}
		k.pass(ckSignature, "signed by key %s for %s %s", v.KeyID, v.Name, v.Version)
	}
	// What runs is what was verified: a wasm module from these bytes, a
	// process plugin from a private directory they are written to.
	if k.isWasm() {
		k.code = b.Entry()
		return true, nil
	}
	parent, err := os.MkdirTemp("", "airlock-check-")
	if err != nil {
		return false, err
	}
	k.cleanups = append(k.cleanups, func() { os.RemoveAll(parent) })
	dir, _, err := b.Unpack(ctx, parent)
	if err != nil {
		return false, err
	}
	k.dir = dir
	return true, nil
}

// prepare sets up what every start needs: the grants (every capability
// the manifest declares, so that everything it can do can be checked),
// the host functions, the limits and the settings.
func (k *checker) prepare() error {
	for name := range k.o.samples {
		if !slices.Contains(k.names(), name) {
			return usagef("--sample %s: plugin %s declares no hook or function %q", name, k.man.Name, name)
		}
	}
	grants, err := capability.NewSet(append(slices.Clone(k.man.Capabilities.Required), k.man.Capabilities.Optional...))
	if err != nil {
		return err
	}
	k.grants = grants
	k.log = slog.New(slog.NewTextHandler(k.c.stderr, &slog.HandlerOptions{Level: k.o.level})).With("plugin", k.man.Name)
	if k.host, err = newCheckHost(k.man.Name, grants, k.log, k.o.stubs); err != nil {
		return err
	}
	k.limits = tier.Limits{CallTimeout: k.o.timeout}.WithDefaults()
	if k.config, k.fixed, err = baseSettings(k.man, k.o.sets); err != nil {
		return err
	}
	if k.isWasm() {
		ws, err := wasm.NewStarter(wasm.Options{})
		if err != nil {
			return err
		}
		k.wasm, k.starter = ws, ws
	} else if k.man.Tier == manifest.TierNative {
		// A library is checked as the protocol serves it: loaded in a
		// confined child (isolation = "process"), which speaks the
		// process tier's protocol; in-process it would share the checker's
		// fate.
		k.starter = native.Starter{Process: process.Starter{}}
	} else {
		k.starter = process.Starter{}
	}
	return nil
}

// close stops the plugin and removes what checking created.
func (k *checker) close() {
	if k.inst != nil {
		k.stop(context.Background(), k.inst)
		k.inst = nil
	}
	if k.wasm != nil {
		_ = k.wasm.Close(context.Background())
	}
	for _, f := range k.cleanups {
		f()
	}
}

// start starts the plugin with the given settings, exactly as a host
// does.
func (k *checker) start(ctx context.Context, config map[string]any) (tier.Instance, error) {
	return k.starter.Start(ctx, tier.Spec{
		Manifest:  k.man,
		Dir:       k.dir,
		Code:      k.code,
		Name:      k.man.Name,
		Config:    config,
		Grants:    k.grants,
		Functions: k.host.allowed(),
		Limits:    k.limits,
		Log:       k.log,
		Host:      k.host.call,
		Explain:   true,           // a plugin refused something: the report's log says what and why
		Isolation: native.Process, // for a native library; other tiers ignore it
	})
}

func (k *checker) stop(ctx context.Context, inst tier.Instance) time.Duration {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), k.limits.StopTimeout+5*time.Second)
	defer cancel()
	t0 := time.Now()
	_ = inst.Stop(ctx)
	return time.Since(t0)
}

// running returns the running plugin, starting it again if it has ended
// (as a host restarts a crashed plugin).
func (k *checker) running(ctx context.Context) (tier.Instance, error) {
	if k.inst != nil {
		select {
		case <-k.inst.Done():
			k.noteEnd(k.inst.Err())
			k.inst = nil
		default:
			return k.inst, nil
		}
	}
	inst, err := k.start(ctx, k.config)
	if err != nil {
		k.noteEnd(err)
		return nil, fmt.Errorf("the plugin could not be started again: %v", err)
	}
	k.inst = inst
	return inst, nil
}

// noteEnd records why a plugin ended, when that breaks a rule that a
// later check reports (a protocol violation).
func (k *checker) noteEnd(err error) {
	if err == nil || !isViolation(err) {
		return
	}
	v := violationText(err)
	if !slices.Contains(k.violations, v) {
		k.violations = append(k.violations, v)
	}
}

func isViolation(err error) bool {
	var v *rpc.ViolationError
	return errors.Is(err, tier.ErrViolation) || errors.As(err, &v)
}

// violationText extracts the violation from a tier error, which may
// wrap it more than once.
func violationText(err error) string {
	s := err.Error()
	const mark = "protocol violation: "
	if i := strings.LastIndex(s, mark); i >= 0 {
		s = s[i+len(mark):]
	}
	return strings.TrimSuffix(s, " (plugin stopped)")
}

func isOversize(violation string) bool { return strings.Contains(violation, "exceeds the limit") }

// outcome is how one call ended.
type outcome struct {
	name      string // what was called
	result    json.RawMessage
	rpcErr    *protocol.Error // the plugin's own error
	err       error           // no answer: a deadline, a crash, a violation, a trap
	ended     error           // why the plugin ended with the call, if it did
	hostCalls int64           // host function calls made meanwhile
}

func (o outcome) answered() bool { return o.err == nil }

// kind is what must stay the same when a call is made in flight with
// others: a result, or an error with its code.
func (o outcome) kind() string {
	switch {
	case o.err != nil:
		return "no answer"
	case o.rpcErr != nil:
		return fmt.Sprintf("error %d", o.rpcErr.Code)
	}
	return "a result"
}

func (o outcome) describe() string {
	switch {
	case o.err != nil:
		return "no answer: " + o.err.Error()
	case o.rpcErr != nil:
		return fmt.Sprintf("error %d (%s)", o.rpcErr.Code, clip(o.rpcErr.Message, 100))
	}
	return "a result"
}

// clip shortens s for a report line.
func clip(s string, n int) string {
	if len(s) <= n {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("%q...", s[:n])
}

// names returns the hooks and functions the manifest declares.
func (k *checker) names() []string {
	var out []string
	for _, n := range append(slices.Clone(k.man.Hooks), k.man.Functions...) {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

func (k *checker) phase(name string) string {
	if k.man.Implements(name) {
		return k.man.Phase(name)
	}
	return ""
}

// inputFor returns what name is called with: the --sample for it, or a
// minimal input made up from nothing ({}, or for an after hook
// {"input":{},"output":null}).
func (k *checker) inputFor(name string) (json.RawMessage, string) {
	if in, ok := k.o.samples[name]; ok {
		return in, "sample"
	}
	if k.phase(name) == manifest.PhaseAfter {
		return json.RawMessage(`{"input":{},"output":null}`), "{input:{},output:null}"
	}
	return json.RawMessage(`{}`), "{}"
}

// call makes one call on inst. A call that passes its deadline is sent
// $/cancel by the process tier; call then waits out the grace period and
// records whether the plugin answered it (see checkCancel).
func (k *checker) call(ctx context.Context, inst tier.Instance, name string, input json.RawMessage) outcome {
	before := k.host.calls.Load()
	res, err := inst.Call(ctx, protocol.CallParams{Name: name, Phase: k.phase(name), Input: input})
	o := outcome{name: name, result: res, hostCalls: k.host.calls.Load() - before}
	var re *protocol.Error
	switch {
	case err == nil:
		return o
	case errors.As(err, &re):
		o.rpcErr = re
		return o
	}
	o.err = err
	if errors.Is(err, tier.ErrDeadline) && !k.isWasm() {
		o.ended = k.awaitCancel(inst, name)
		return o
	}
	select {
	case <-inst.Done():
		if o.ended = inst.Err(); o.ended == nil {
			o.ended = err
		}
	default:
	}
	return o
}

// awaitCancel waits, after a call passed its deadline and the process
// tier sent $/cancel for it, for the grace period to run out: a plugin
// that has not answered by then is killed. It records which happened and
// returns why the plugin ended, if it did.
func (k *checker) awaitCancel(inst tier.Instance, name string) error {
	select {
	case <-inst.Done():
		err := inst.Err()
		if errors.Is(err, rpc.ErrOverdue) {
			k.ignored = append(k.ignored, fmt.Sprintf("%s: no answer within %v of the $/cancel sent when its %v deadline passed; the host killed it", name, k.limits.CancelGrace, k.o.timeout))
		}
		return err
	case <-time.After(k.limits.CancelGrace + settle):
		k.cancelled = append(k.cancelled, fmt.Sprintf("%s: passed its %v deadline and answered the $/cancel in time", name, k.o.timeout))
		return nil
	}
}

// interrupted reports a check that could not finish because the plugin
// broke the protocol (which the stdout or message-size check reports).
func (k *checker) interrupted(id string, o outcome) bool {
	if o.ended == nil || !isViolation(o.ended) {
		return false
	}
	k.noteEnd(o.ended)
	see := ckStdout
	if isOversize(violationText(o.ended)) {
		see = ckMessageSize
	}
	k.skip(id, "interrupted: the plugin broke the protocol and was stopped (see %s)", see)
	return true
}

// checkHandshake starts the plugin with its settings. For a wasm plugin
// the host checks the module against the contract first, before any of
// its code runs: that is the abi check.
func (k *checker) checkHandshake(ctx context.Context) bool {
	t0 := time.Now()
	inst, err := k.start(ctx, k.config)
	took := time.Since(t0)
	if err != nil {
		k.noteEnd(err)
		if k.isWasm() {
			if msg, ok := contractError(err); ok {
				k.fail(ckABI, "%s", msg)
				k.skipReason = "not run: the host refuses the module"
				return false
			}
			if errors.Is(err, tier.ErrHandshake) {
				// The host checks the contract before the handshake.
				k.pass(ckABI, "the host checked the module's exports and imports before running any of it")
			}
		}
		k.fail(ckHandshake, "%v", err)
		k.skipReason = "not run: the plugin did not start"
		if isViolation(err) {
			k.checkStdout(ctx)
		}
		return false
	}
	if k.isWasm() {
		k.pass(ckABI, "the host checked the module's exports and imports before running any of it")
	}
	k.inst = inst
	info := inst.Info()
	k.pass(ckHandshake, "started and answered in %v: %s %s, protocol %d, hooks [%s]", took.Round(time.Millisecond), info.Name, info.Version, info.Protocol, strings.Join(info.Hooks, ", "))
	return true
}

// contractError reports whether a wasm start failed because the module
// breaks the contract (internal/wasm checks it before running anything),
// and returns what the host said.
func contractError(err error) (string, bool) {
	s := err.Error()
	for _, mark := range []string{"module breaks the wasm contract", "is not a valid WebAssembly module"} {
		if i := strings.Index(s, mark); i >= 0 {
			return s[i:], true
		}
	}
	return "", false
}

// checkSettings starts the plugin with other configurations its schema
// allows, and lists some the host refuses before any plugin sees them.
func (k *checker) checkSettings(ctx context.Context) {
	if len(k.man.Config) == 0 {
		k.skip(ckSettings, "the manifest declares no settings")
		return
	}
	variants := settingVariants(k.man, k.config, k.fixed)
	var accepted []string
	for _, v := range variants {
		inst, err := k.start(ctx, v.config)
		if err != nil {
			k.noteEnd(err)
			if isViolation(err) {
				k.skip(ckSettings, "interrupted: the plugin broke the protocol and was stopped (see stdout)")
				return
			}
			k.fail(ckSettings, "refused %s, which its schema allows: %v", v.label, err)
			return
		}
		// Only the start matters here: a plugin slow to stop is the
		// shutdown check's business, so it is not waited for.
		sctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		_ = inst.Stop(sctx)
		cancel()
		accepted = append(accepted, v.label)
	}
	refused := refusedSettings(k.man, k.config)
	detail := "started with its defaults"
	if len(accepted) > 0 {
		detail += " and with " + strings.Join(accepted, "; ")
	} else {
		detail += " (no other valid values could be made up: set them with --set)"
	}
	if len(refused) > 0 {
		detail += "; the host refuses before starting it: " + strings.Join(refused, "; ")
	}
	k.pass(ckSettings, "%s", detail)
}

func (k *checker) checkUnknownName(ctx context.Context) {
	inst, err := k.running(ctx)
	if err != nil {
		k.skip(ckUnknown, "%v", err)
		return
	}
	o := k.call(ctx, inst, unknownName, json.RawMessage(`{}`))
	switch {
	case k.interrupted(ckUnknown, o):
	case o.err != nil:
		k.fail(ckUnknown, "a call of %q got no answer: %v", unknownName, o.err)
	case o.rpcErr == nil:
		k.fail(ckUnknown, "a call of %q was answered with a result instead of error -32004", unknownName)
	case o.rpcErr.Code == protocol.CodeNotImplemented:
		k.pass(ckUnknown, "a call of %q was answered with error -32004 (%s)", unknownName, clip(o.rpcErr.Message, 80))
	default:
		k.fail(ckUnknown, "a call of %q was answered with error %d (%s) instead of -32004", unknownName, o.rpcErr.Code, clip(o.rpcErr.Message, 80))
	}
}

// checkCalls calls each declared name once, alone. How each answered is
// kept: the concurrency checks compare with it.
func (k *checker) checkCalls(ctx context.Context) {
	names := k.names()
	if len(names) == 0 {
		k.skip(ckCalls, "the manifest declares no hooks or functions")
		return
	}
	var lines, fails []string
	interrupted := 0
	for _, name := range names {
		inst, err := k.running(ctx)
		if err != nil {
			fails = append(fails, fmt.Sprintf("%s: %v", name, err))
			break
		}
		input, label := k.inputFor(name)
		o := k.call(ctx, inst, name, input)
		k.solo[name] = o
		call := fmt.Sprintf("%s(%s)", name, label)
		switch {
		case o.ended != nil && isViolation(o.ended):
			k.noteEnd(o.ended)
			interrupted++
			lines = append(lines, call+": interrupted by a protocol violation")
		case errors.Is(o.err, tier.ErrDeadline):
			// Slow is allowed: the caller gets a deadline error. What a
			// plugin must do then is the cancel check's business (for a
			// wasm guest, the host stops it).
			k.overran[name] = true
			then := "see cancel"
			if k.isWasm() {
				then = "the host stopped the guest"
			}
			lines = append(lines, fmt.Sprintf("%s: no answer within %v (%s)", call, k.o.timeout, then))
		case o.err != nil:
			fails = append(fails, fmt.Sprintf("%s: %v", call, o.err))
		case o.rpcErr != nil && o.rpcErr.Code == protocol.CodeNotImplemented:
			fails = append(fails, fmt.Sprintf("%s: answered error -32004 (not implemented), but the manifest declares it", call))
		default:
			lines = append(lines, call+": "+o.describe())
		}
	}
	switch {
	case len(fails) > 0:
		k.fail(ckCalls, "%s", strings.Join(fails, "; "))
	case interrupted == len(names):
		k.skip(ckCalls, "interrupted: the plugin broke the protocol and was stopped (see stdout)")
	default:
		k.pass(ckCalls, "%s", strings.Join(lines, "; "))
	}
}

// answeredAlone returns the declared names whose call alone was answered
// (keep: which of them to keep).
func (k *checker) answeredAlone(keep func(outcome) bool) []string {
	var out []string
	for _, name := range k.names() {
		if o, ok := k.solo[name]; ok && o.answered() && keep(o) {
			out = append(out, name)
		}
	}
	return out
}

// inflight makes n calls at once, cycling through names.
func (k *checker) inflight(ctx context.Context, inst tier.Instance, names []string, n int) []outcome {
	out := make([]outcome, n)
	var wg sync.WaitGroup
	for i := range n {
		name := names[i%len(names)]
		wg.Go(func() {
			input, _ := k.inputFor(name)
			res, err := inst.Call(ctx, protocol.CallParams{Name: name, Phase: k.phase(name), Input: input})
			o := outcome{name: name, result: res}
			var re *protocol.Error
			switch {
			case errors.As(err, &re):
				o.rpcErr = re
			case err != nil:
				o.err = err
			}
			out[i] = o
		})
	}
	wg.Wait()
	// Calls that passed their deadline were sent $/cancel: let the grace
	// period run out before going on, and learn whether the plugin ended.
	for _, o := range out {
		if errors.Is(o.err, tier.ErrDeadline) && !k.isWasm() {
			select {
			case <-inst.Done():
			case <-time.After(k.limits.CancelGrace + settle):
			}
			break
		}
	}
	select {
	case <-inst.Done():
		end := inst.Err()
		if end == nil {
			end = errors.New("the plugin ended")
		}
		for i := range out {
			if out[i].err != nil {
				out[i].ended = end
			}
		}
	default:
	}
	return out
}

// compareInflight compares calls made in flight with the same calls made
// alone, and returns what went wrong.
func (k *checker) compareInflight(out []outcome) (fails []string, violation error) {
	noAnswer := 0
	var first string
	for i, o := range out {
		name := o.name
		alone := k.solo[name]
		switch {
		case o.ended != nil && isViolation(o.ended):
			violation = o.ended
		case o.err != nil:
			noAnswer++
			if first == "" {
				first = fmt.Sprintf("%s: %v", name, o.err)
			}
		case o.kind() != alone.kind():
			fails = append(fails, fmt.Sprintf("call %d (%s) was answered with %s in flight, but %s alone", i+1, name, o.describe(), alone.describe()))
		}
	}
	if noAnswer > 0 {
		msg := fmt.Sprintf("%d of %d calls in flight got no answer (first: %s)", noAnswer, len(out), first)
		for _, o := range out {
			if o.ended != nil && !isViolation(o.ended) {
				msg += fmt.Sprintf("; the plugin ended: %v", o.ended)
				break
			}
		}
		fails = append([]string{msg}, fails...)
	}
	return fails, violation
}

func (k *checker) checkConcurrency(ctx context.Context) {
	names := k.answeredAlone(func(o outcome) bool { return true })
	if len(names) == 0 {
		k.skip(ckConcurrency, "no call was answered alone, so none could be compared with calls in flight")
		return
	}
	inst, err := k.running(ctx)
	if err != nil {
		k.skip(ckConcurrency, "%v", err)
		return
	}
	out := k.inflight(ctx, inst, names, checkInflight)
	fails, violation := k.compareInflight(out)
	switch {
	case violation != nil:
		k.interrupted(ckConcurrency, outcome{ended: violation})
	case len(fails) > 0:
		k.fail(ckConcurrency, "%s", strings.Join(fails, "; "))
	default:
		k.pass(ckConcurrency, "%d calls in flight at once (%s) were each answered as alone", checkInflight, strings.Join(names, ", "))
	}
}

// checkHostCalls makes calls in flight of the names that call the host,
// while the checker answers their host calls after random delays, so that
// the answers come back out of order and interleaved with other calls.
func (k *checker) checkHostCalls(ctx context.Context) {
	names := k.answeredAlone(func(o outcome) bool { return o.hostCalls > 0 })
	if len(names) == 0 {
		k.skip(ckHostCalls, "not exercised: no hook or function called the host when called alone with its input ({} unless --sample NAME=JSON gives one)")
		return
	}
	inst, err := k.running(ctx)
	if err != nil {
		k.skip(ckHostCalls, "%v", err)
		return
	}
	k.host.jitter.Store(true)
	before := k.host.calls.Load()
	out := k.inflight(ctx, inst, names, checkInflight)
	made := k.host.calls.Load() - before
	k.host.jitter.Store(false)
	fails, violation := k.compareInflight(out)
	switch {
	case violation != nil:
		k.interrupted(ckHostCalls, outcome{ended: violation})
	case len(fails) > 0:
		k.fail(ckHostCalls, "%s", strings.Join(fails, "; "))
	default:
		k.pass(ckHostCalls, "%d calls in flight (%s) made %d host calls, answered after random delays of up to %v (out of order); each call was answered as alone", checkInflight, strings.Join(names, ", "), made, jitterMax)
	}
}

// checkMessageSize sends a call whose message is just under the size
// limit. A plugin writing a message over the limit anywhere in the checks
// fails it too (see checkStdout).
func (k *checker) checkMessageSize(ctx context.Context) {
	names := k.answeredAlone(func(o outcome) bool { return true })
	if len(names) == 0 {
		k.skip(ckMessageSize, "no call was answered alone, so a large one would tell nothing")
		return
	}
	inst, err := k.running(ctx)
	if err != nil {
		k.skip(ckMessageSize, "%v", err)
		return
	}
	name := names[0]
	limit := k.limits.MaxMessage
	input, size := k.paddedInput(name, limit-sizeMargin)
	o := k.call(ctx, inst, name, input)
	what := "message"
	if k.isWasm() {
		what = "call input"
	}
	switch {
	case o.ended != nil && isViolation(o.ended) && isOversize(violationText(o.ended)):
		k.noteEnd(o.ended)
		k.fail(ckMessageSize, "answered a call of %s with a message over the limit: %s", name, violationText(o.ended))
	case k.interrupted(ckMessageSize, o):
	case o.err != nil:
		k.fail(ckMessageSize, "a call of %s whose %s is %d bytes (the limit is %d) got no answer: %v", name, what, size, limit, o.err)
	default:
		k.pass(ckMessageSize, "a call of %s whose %s is %d bytes (the limit is %d) was answered with %s", name, what, size, limit, o.describe())
	}
}

// paddedInput returns an input for name that makes the call's message
// (process tier) or the call's params (wasm tier) about size bytes long,
// and that size.
func (k *checker) paddedInput(name string, size int) (json.RawMessage, int) {
	wrap := func(pad string) json.RawMessage {
		in := `{"airlock_check_padding":"` + pad + `"}`
		if k.phase(name) == manifest.PhaseAfter {
			in = `{"input":` + in + `,"output":null}`
		}
		return json.RawMessage(in)
	}
	params := protocol.CallParams{Name: name, Phase: k.phase(name), Input: wrap(""), TimeoutMS: k.o.timeout.Milliseconds()}
	raw, _ := params.AppendJSON(nil)
	overhead := len(raw)
	if !k.isWasm() {
		overhead += len(`{"jsonrpc":"2.0","id":1,"method":"call","params":}`)
	}
	pad := max(size-overhead, 0)
	return wrap(strings.Repeat("a", pad)), overhead + pad
}

// checkCancel reports on the calls that passed their deadline; if none
// did, it cancels a call while the plugin waits for the answer to one of
// its host calls, which the checker holds back.
func (k *checker) checkCancel(ctx context.Context) {
	switch {
	case len(k.ignored) > 0:
		k.fail(ckCancel, "%s", strings.Join(k.ignored, "; "))
		return
	case len(k.cancelled) > 0:
		k.pass(ckCancel, "%s", strings.Join(k.cancelled, "; "))
		return
	}
	names := k.answeredAlone(func(o outcome) bool { return o.hostCalls > 0 })
	if len(names) == 0 {
		k.skip(ckCancel, "not exercised: no call ran past its deadline, and none was seen calling the host (the checker would cancel such a call while it holds back the host's answer)")
		return
	}
	inst, err := k.running(ctx)
	if err != nil {
		k.skip(ckCancel, "%v", err)
		return
	}
	name := names[0]
	input, _ := k.inputFor(name)
	k.host.drainArrived()
	k.host.hold.Store(int64(holdBack))
	defer k.host.hold.Store(0)
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan outcome, 1)
	go func() { done <- k.call(cctx, inst, name, input) }()
	var o outcome
	select {
	case <-k.host.arrived:
		cancel()
		o = <-done
	case o = <-done:
	}
	if !errors.Is(o.err, context.Canceled) {
		k.skip(ckCancel, "not exercised: %s was answered (%s) before it could be cancelled", name, o.describe())
		return
	}
	select {
	case <-inst.Done():
		end := inst.Err()
		if errors.Is(end, rpc.ErrOverdue) {
			k.fail(ckCancel, "%s, cancelled while it waited for a host call (held back %v), got no answer within the %v grace period; the host killed it", name, holdBack, k.limits.CancelGrace)
			return
		}
		k.fail(ckCancel, "%s, cancelled while it waited for a host call, ended the plugin: %v", name, end)
	case <-time.After(k.limits.CancelGrace + settle):
		k.pass(ckCancel, "%s, cancelled while it waited for a host call (held back %v), was answered within the %v grace period", name, holdBack, k.limits.CancelGrace)
	}
}

// checkShutdown stops the plugin as a host does: shutdown, then the end
// of its input. The process tier terminates a plugin still running after
// the stop timeout; a stop that takes that long is a failure.
func (k *checker) checkShutdown(ctx context.Context) {
	inst, err := k.running(ctx)
	if err != nil {
		k.skip(ckShutdown, "%v", err)
		return
	}
	k.inst = nil
	took := k.stop(ctx, inst)
	if took >= k.limits.StopTimeout {
		k.fail(ckShutdown, "still running %v after shutdown and the end of its input (it did not answer shutdown, or did not exit at end of input): the host had to terminate it", k.limits.StopTimeout)
		return
	}
	k.pass(ckShutdown, "answered shutdown and exited at the end of its input in %v", took.Round(time.Millisecond))
}

// checkStdout reports the protocol violations seen in all the checks.
// Messages over the size limit are the message-size check's.
func (k *checker) checkStdout(context.Context) {
	var stray, oversize []string
	for _, v := range k.violations {
		if isOversize(v) {
			oversize = append(oversize, v)
		} else {
			stray = append(stray, v)
		}
	}
	if len(oversize) > 0 && k.results[ckMessageSize].Status != statusFail {
		k.fail(ckMessageSize, "wrote a message over the limit: %s", strings.Join(oversize, "; "))
	}
	if len(stray) > 0 {
		k.fail(ckStdout, "the host stopped the plugin for writing this on standard output: %s", strings.Join(stray, "; "))
		return
	}
	k.pass(ckStdout, "every line it wrote on standard output was a valid protocol message")
}
