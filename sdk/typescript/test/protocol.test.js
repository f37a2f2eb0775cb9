// The SDK in a real child process (testdata/conformance.mjs), spoken to
// over pipes by a harness playing the host: each test checks one point of
// docs/PROTOCOL.md.
import { test as nodeTest } from "node:test";
import assert from "node:assert/strict";
import { Peer } from "../testdata/harness.js";

// Every test ends within 15 s, even if the plugin under test never answers.
const test = (name, fn) => nodeTest(name, { timeout: 15000 }, fn);

/** A plugin that has been through the handshake; closed after the test. */
async function ready(t, init, args) {
  const p = new Peer(args);
  t.after(() => p.kill());
  const ans = await p.initialize(init);
  assert.ok(ans.result, `handshake failed: ${JSON.stringify(ans)}`);
  return p;
}

const FUNCTIONS = [
  "barrier", "big", "callhost", "callhost2", "config", "context", "echo", "fail", "failcode", "grants", "greet", "hang",
  "kv", "log", "observe", "panic", "parsed", "print", "sleep", "surrogate",
];

test("handshake answers protocol, name, version and every hook and function, sorted", async (t) => {
  const p = new Peer();
  t.after(() => p.kill());
  const ans = await p.initialize();
  assert.deepEqual(ans, {
    jsonrpc: "2.0",
    id: 1,
    result: { protocol: 1, name: "conformance", version: "1.0.0", hooks: FUNCTIONS },
  });
  // Once is enough.
  assert.equal((await p.initialize()).error.code, -32600);
});

test("the answer is written the way the host reads fastest", async (t) => {
  const p = new Peer();
  t.after(() => p.kill());
  await p.initialize();
  await p.answer(p.call("echo", { a: 1 }));
  assert.match(p.stdoutText, /\n\{"jsonrpc":"2\.0","id":2,"result":\{"a":1\}\}\n$/);
});

test("a host that speaks no protocol this SDK knows is refused with a reason", async (t) => {
  const p = new Peer();
  t.after(() => p.kill());
  const ans = await p.initialize({ protocols: [2, 3] });
  assert.equal(ans.error.code, -32000);
  assert.match(ans.error.message, /speaks protocol 1, host offers \[2,3\]/);
});

test("a call before initialize is an invalid request", async (t) => {
  const p = new Peer();
  t.after(() => p.kill());
  const ans = await p.answer(p.call("echo", 1));
  assert.equal(ans.error.code, -32600);
});

test("a hook gets its input, settings and log function", async (t) => {
  const p = await ready(t, { config: { greeting: "hola" } });
  const id = p.call("greet", { name: "ada" }, { phase: "define", timeout_ms: 10000 });
  const log = await p.hostRequest("log");
  assert.deepEqual(log.params, { level: "info", msg: "greeting someone", attrs: { name: "ada" } });
  assert.equal(typeof log.id, "number");
  p.send({ jsonrpc: "2.0", id: log.id, result: null });
  assert.deepEqual((await p.answer(id)).result, { message: "hola, ada" });
});

test("settings and grants reach the handler as the host sent them", async (t) => {
  const config = { greeting: "hi", retries: 2, tags: ["a", "b"], on: true };
  const p = await ready(t, { config, grants: ["log", "kv"], functions: ["log", "kv.get"] });
  assert.deepEqual((await p.answer(p.call("config"))).result, config);
  assert.deepEqual((await p.answer(p.call("grants"))).result, {
    plugin: "conformance",
    grants: ["log", "kv"],
    functions: ["log", "kv.get"],
    granted_log: true,
  });
});

test("the context carries the name, phase, deadline and trace context", async (t) => {
  const p = await ready(t);
  const untraced = { traceparent: "", tracestate: "" };
  assert.deepEqual((await p.answer(p.call("context", null, { timeout_ms: 5000 }))).result, {
    name: "context",
    phase: "",
    has_deadline: true,
    remaining_ok: true,
    ...untraced,
  });
  assert.deepEqual((await p.answer(p.call("context", null))).result, { name: "context", phase: "", has_deadline: false, remaining_ok: true, ...untraced });
  const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  const traced = (await p.answer(p.call("context", null, { traceparent, tracestate: "k=v" }))).result;
  assert.deepEqual([traced.traceparent, traced.tracestate], [traceparent, "k=v"]);
  const odd = (await p.answer(p.call("context", null, { traceparent: 7 }))).result;
  assert.equal(odd.traceparent, "", "a traceparent that is not a string is ignored");
  const after = { input: { name: "ada" }, output: { message: "hello, ada" } };
  assert.deepEqual((await p.answer(p.call("observe", after, { phase: "after" }))).result, { phase: "after", input: after });
});

test("unknown names: -32004 for a hook or function, -32601 for a method", async (t) => {
  const p = await ready(t);
  const nope = await p.answer(p.call("nope", null));
  assert.equal(nope.error.code, -32004);
  assert.match(nope.error.message, /does not implement "nope"/);
  const m = await p.roundTrip("frobnicate", {});
  assert.equal(m.error.code, -32601);
  // An unknown notification is never answered: the next answer is the echo's.
  p.send({ jsonrpc: "2.0", method: "$/progress", params: {} });
  assert.equal((await p.answer(p.call("echo", 7))).result, 7);
  assert.equal(p.messages.length, 0);
});

test("call params of the wrong shape are invalid params", async (t) => {
  const p = await ready(t);
  assert.equal((await p.roundTrip("call", { name: 42 })).error.code, -32602);
  assert.equal((await p.roundTrip("call", "greet")).error.code, -32602);
});

test("failures: thrown errors are -32000, PluginError chooses the code, parse failures are -32602", async (t) => {
  const p = await ready(t);
  assert.deepEqual((await p.answer(p.call("fail"))).error, { code: -32000, message: "always fails" });
  assert.deepEqual((await p.answer(p.call("panic"))).error, { code: -32000, message: "on purpose" });
  assert.deepEqual((await p.answer(p.call("failcode", { code: -32099, message: "mine", data: { x: 1 } }))).error, {
    code: -32099,
    message: "mine",
    data: { x: 1 },
  });
  const bad = await p.answer(p.call("parsed", { n: "two" }));
  assert.equal(bad.error.code, -32602);
  assert.match(bad.error.message, /parsed: invalid input: "n" must be a number/);
  assert.equal((await p.answer(p.call("parsed", { n: 21 }))).result, 42);
});

test("host calls: ids, params, results, errors and denials", async (t) => {
  const p = await ready(t, { functions: ["log", "secret.read"] });
  const id = p.call("callhost", { fn: "secret.read", input: { key: "k1" } });
  const req = await p.hostRequest("secret.read");
  assert.deepEqual(req.params, { key: "k1" });
  p.send({ jsonrpc: "2.0", id: req.id, result: "value-of-k1" });
  assert.deepEqual((await p.answer(id)).result, { result: "value-of-k1" });

  const denied = p.call("callhost", { fn: "secret.read", input: {} });
  const req2 = await p.hostRequest("secret.read");
  assert.notEqual(req2.id, req.id, "host call ids are unique");
  p.send({ jsonrpc: "2.0", id: req2.id, error: { code: -32001, message: 'capability "secret.read" not granted' } });
  assert.deepEqual((await p.answer(denied)).result, {
    code: -32001,
    message: 'capability "secret.read" not granted',
    denied: true,
    function: "secret.read",
  });

  const missing = p.call("callhost", { fn: "no.such", input: null });
  const req3 = await p.hostRequest("no.such");
  p.send({ jsonrpc: "2.0", id: req3.id, error: { code: -32601, message: "no such function" } });
  assert.deepEqual((await p.answer(missing)).result, { code: -32601, message: "no such function", denied: false, function: "no.such" });
});

test("host calls answered out of order reach the right waiter", async (t) => {
  const p = await ready(t, { functions: ["log", "double"] });
  const id = p.call("callhost2", { fn: "double", a: 1, b: 2 });
  const r1 = await p.hostRequest("double");
  const r2 = await p.hostRequest("double");
  p.send({ jsonrpc: "2.0", id: r2.id, result: r2.params * 2 });
  p.send({ jsonrpc: "2.0", id: r1.id, result: r1.params * 2 });
  assert.deepEqual((await p.answer(id)).result, [2, 4]);
});

test("several calls in flight interleave, each answered with its own id", async (t) => {
  const p = await ready(t);
  const ids = [];
  for (let i = 0; i < 8; i++) ids.push(p.call("barrier", 8));
  for (let i = 0; i < 40; i++) ids.push(p.call("echo", `e${i}`));
  for (const id of ids.slice(8)) assert.equal((await p.answer(id)).result, `e${ids.indexOf(id) - 8}`);
  for (const id of ids.slice(0, 8)) assert.equal((await p.answer(id)).result, 8);
});

test("calls beyond maxInFlight are answered busy", async (t) => {
  const p = await ready(t, undefined, ["--max-in-flight=2"]);
  const a = p.call("sleep", 10000);
  const b = p.call("sleep", 10000);
  assert.equal((await p.answer(p.call("echo", 1))).error.code, -32003);
  p.send({ jsonrpc: "2.0", method: "$/cancel", params: { id: a } });
  p.send({ jsonrpc: "2.0", method: "$/cancel", params: { id: b } });
  await p.answer(a);
  await p.answer(b);
  assert.equal((await p.answer(p.call("echo", 2))).result, 2);
});

test("$/cancel aborts the handler's signal; the call is answered -32002", async (t) => {
  const p = await ready(t);
  const id = p.call("sleep", 60000);
  await new Promise((r) => setTimeout(r, 50));
  const start = Date.now();
  p.send({ jsonrpc: "2.0", method: "$/cancel", params: { id } });
  const ans = await p.answer(id);
  assert.equal(ans.error.code, -32002);
  assert.match(ans.error.message, /cancelled by the host/);
  assert.ok(Date.now() - start < 1000, "answered within the grace period");
  // A cancel for a finished or unknown call is ignored.
  p.send({ jsonrpc: "2.0", method: "$/cancel", params: { id } });
  p.send({ jsonrpc: "2.0", method: "$/cancel", params: { id: 999 } });
  assert.equal((await p.answer(p.call("echo", 3))).result, 3);
});

test("timeout_ms is a deadline: the handler's signal aborts when it passes", async (t) => {
  const p = await ready(t);
  const start = Date.now();
  const ans = await p.answer(p.call("sleep", 60000, { timeout_ms: 150 }));
  assert.equal(ans.error.code, -32002);
  assert.match(ans.error.message, /deadline of 150 ms passed/);
  assert.ok(Date.now() - start >= 140, "not before the deadline");
});

test("a cancelled call cancels its host call at the host, and the late answer is dropped", async (t) => {
  const p = await ready(t, { functions: ["log", "slow"] });
  const id = p.call("callhost", { fn: "slow", input: null });
  const req = await p.hostRequest("slow");
  assert.equal(req.origin, id, "a host call names the call it is made during");
  p.send({ jsonrpc: "2.0", method: "$/cancel", params: { id } });
  const cancel = await p.hostRequest("$/cancel");
  assert.deepEqual(cancel, { jsonrpc: "2.0", method: "$/cancel", params: { id: req.id } });
  assert.equal((await p.answer(id)).error.code, -32002);
  // The host answers anyway: that is allowed once, and changes nothing.
  p.send({ jsonrpc: "2.0", id: req.id, error: { code: -32002, message: "cancelled" } });
  assert.equal((await p.answer(p.call("echo", 4))).result, 4);
});

test("stray console.log and process.stdout.write go to stderr, not the protocol", async (t) => {
  const p = await ready(t);
  assert.equal((await p.answer(p.call("print"))).result, "printed");
  assert.equal((await p.answer(p.call("echo", 5))).result, 5);
  assert.ok(p.messages.every((m) => !m.notJSON));
  assert.doesNotMatch(p.stdoutText, /stray/);
  await p.stderrMatching(/stray print from console.log/);
  await p.stderrMatching(/stray write to process.stdout/);
});

test("log goes through the host's log function when allowed, else to stderr", async (t) => {
  const p = await ready(t, { functions: [] });
  const ans = await p.answer(p.call("log", { level: "warn", msg: "careful", attrs: { n: 1 } }));
  assert.equal(ans.result, "logged");
  await p.stderrMatching(/warn: careful \{"n":1\}/);
  const bad = await p.answer(p.call("log", { level: "loud", msg: "x" }));
  assert.equal(bad.error.code, -32000);
  assert.match(bad.error.message, /level must be/);
});

test("kv helpers call kv.set, kv.get, kv.list and kv.delete", async (t) => {
  const p = await ready(t, { functions: ["kv.get", "kv.set", "kv.list", "kv.delete"] });
  const id = p.call("kv");
  const store = new Map();
  const seen = [];
  for (let i = 0; i < 5; i++) {
    const r = await p.hostRequest();
    seen.push(r.method);
    let result = null;
    if (r.method === "kv.set") store.set(r.params.key, r.params.value);
    if (r.method === "kv.get") result = { value: store.get(r.params.key) ?? null, found: store.has(r.params.key) };
    if (r.method === "kv.list") result = { keys: [...store.keys()].filter((k) => k.startsWith(r.params.prefix)) };
    if (r.method === "kv.delete") store.delete(r.params.key);
    p.send({ jsonrpc: "2.0", id: r.id, result });
  }
  assert.deepEqual(seen, ["kv.set", "kv.get", "kv.list", "kv.delete", "kv.get"]);
  assert.deepEqual((await p.answer(id)).result, { got: { value: { n: 1 }, found: true }, keys: ["k1"], gone: { value: null, found: false } });
});

test("a result over the message limit is an error answer, not a violation", async (t) => {
  const p = await ready(t, undefined, ["--max-message-bytes=4096"]);
  assert.equal((await p.answer(p.call("big", 1000))).result.length, 1000);
  const ans = await p.answer(p.call("big", 5000));
  assert.equal(ans.error.code, -32603);
  assert.match(ans.error.message, /exceeds the message limit of 4096 bytes/);
});

test("a lone surrogate in a result is sent as U+FFFD, never as an escape the host refuses", async (t) => {
  const p = await ready(t);
  await p.answer(p.call("surrogate"));
  // The escape of U+FFFD; the escaped backslash before "ud800" is text, left alone.
  assert.ok(p.stdoutText.includes(String.raw`"result":"\ufffdx\\ud800\ufffd"`), p.stdoutText);
});

test("framing: CRLF, blank lines, several messages in one write, one message over several writes", async (t) => {
  const p = await ready(t);
  p.write('\r\n\n{"jsonrpc":"2.0","id":"a","method":"call","params":{"name":"echo","input":1}}\r\n');
  p.write('{"jsonrpc":"2.0","id":"b","method":"call","params":{"name":"echo","input":2}}\n{"jsonrpc":"2.0",');
  await new Promise((r) => setTimeout(r, 30));
  p.write('"id":"c","method":"call","params":{"input":3,"name":"echo"}}\n');
  assert.equal((await p.answer("a")).result, 1);
  assert.equal((await p.answer("b")).result, 2);
  assert.equal((await p.answer("c")).result, 3);
});

test("shutdown is answered null, then end of input ends the process with status 0", async (t) => {
  const p = await ready(t);
  assert.deepEqual(await p.roundTrip("shutdown"), { jsonrpc: "2.0", id: 2, result: null });
  assert.deepEqual(await p.close(), { code: 0, signal: null });
  assert.match(p.stderr, /conformance: shutting down/);
});

test("end of input ends the process even with calls in flight", async (t) => {
  const p = await ready(t);
  p.call("hang");
  const start = Date.now();
  assert.deepEqual(await p.close(), { code: 0, signal: null });
  assert.ok(Date.now() - start < 2000);
});

for (const [what, text, say] of [
  ["invalid JSON", '{"jsonrpc":"2.0",\n', /invalid JSON/],
  ["invalid UTF-8", Buffer.from([0x7b, 0xff, 0x7d, 0x0a]), /not valid UTF-8/],
  ["no jsonrpc member", '{"id":5,"method":"call"}\n', /missing "jsonrpc"/],
  ["a JSON array", "[1,2]\n", /not a JSON-RPC message/],
  ["a response to an unknown id", '{"jsonrpc":"2.0","id":77,"result":null}\n', /unknown or already answered id/],
  ["a request id of the wrong type", '{"jsonrpc":"2.0","id":{"x":1},"method":"call"}\n', /id must be a number or a string/],
  ["a message over the limit", `{"jsonrpc":"2.0","id":9,"method":"call","params":{"name":"echo","input":"${"x".repeat(5000)}"}}\n`, /exceeds the limit/],
  ["a flood with no newline", "x".repeat(9000), /exceeds the limit/],
]) {
  test(`a protocol violation by the host ends the plugin with status 1: ${what}`, async (t) => {
    const p = await ready(t, undefined, ["--max-message-bytes=4096"]);
    p.write(text);
    const { code } = await p.exited;
    assert.equal(code, 1);
    assert.match(p.stderr, say);
  });
}

test("a request id already in flight is a violation", async (t) => {
  const p = await ready(t);
  p.send({ jsonrpc: "2.0", id: 50, method: "call", params: { name: "sleep", input: 10000 } });
  p.send({ jsonrpc: "2.0", id: 50, method: "call", params: { name: "echo", input: 1 } });
  assert.equal((await p.exited).code, 1);
  assert.match(p.stderr, /request id already in use/);
});
