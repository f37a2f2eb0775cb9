// The conformance plugin: one handler per protocol point, driven by
// test/protocol.test.js over pipes and, through a real host, by
// sdk_languages_test.go (which lays it out beside a copy of the SDK, so it
// imports the SDK by its package name). sdk/rust/examples/conformance.rs is
// the same plugin in Rust.
import { setTimeout as sleep } from "node:timers/promises";
import { Plugin, PluginError, DeniedError, CancelledError } from "@airlock-go/plugin";

const opts = Object.fromEntries(
  process.argv
    .slice(2)
    .filter((a) => a.startsWith("--"))
    .map((a) => a.slice(2).split("=", 2))
    .map(([k, v]) => [k, Number(v)]),
);

const plugin = new Plugin({
  name: "conformance",
  version: "1.0.0",
  maxInFlight: opts["max-in-flight"],
  maxMessageBytes: opts["max-message-bytes"],
  onShutdown: async () => {
    process.stderr.write("conformance: shutting down\n");
  },
});

plugin.hook("greet", async (ctx, input) => {
  const name = String(input?.name ?? "").trim();
  if (!name) throw new Error("greet: name is empty");
  await ctx.log("info", "greeting someone", { name });
  return { message: `${ctx.setting("greeting", "hello")}, ${name}` };
});

plugin.hook("observe", (ctx, input) => ({ phase: ctx.phase, input }));

plugin.function("echo", (ctx, input) => input);

plugin.function("config", (ctx) => ctx.config);

plugin.function("grants", (ctx) => ({ plugin: ctx.plugin, grants: ctx.grants, functions: ctx.functions, granted_log: ctx.granted("log") }));

plugin.function("context", (ctx) => ({
  name: ctx.name,
  phase: ctx.phase,
  has_deadline: ctx.deadline !== undefined,
  remaining_ok: ctx.deadline === undefined ? ctx.remaining() === Infinity : ctx.remaining() > 0,
  traceparent: ctx.traceparent,
  tracestate: ctx.tracestate,
}));

// Calls a host function and reports what happened, as data.
plugin.function("callhost", async (ctx, input) => {
  try {
    return { result: await ctx.call(input.fn, input.input) };
  } catch (e) {
    if (e instanceof CancelledError) throw e;
    return { code: e.code, message: e.message, denied: e instanceof DeniedError, function: e.function };
  }
});

// Two host calls at once, answered in whatever order the host likes.
plugin.function("callhost2", async (ctx, input) => {
  const [a, b] = await Promise.all([ctx.call(input.fn, input.a), ctx.call(input.fn, input.b)]);
  return [a, b];
});

plugin.function("sleep", async (ctx, ms) => {
  await sleep(ms, undefined, { signal: ctx.signal });
  return "slept";
});

// Ignores its cancellation: the host kills the plugin after the grace period.
plugin.function("hang", () => new Promise(() => {}));

plugin.function("fail", () => {
  throw new Error("always fails");
});

// Not an Error: the message is the value as a string.
plugin.function("panic", () => {
  throw "on purpose";
});

plugin.function("failcode", (ctx, input) => {
  throw new PluginError(input.code, input.message, { data: input.data });
});

plugin.function("print", () => {
  console.log("stray print from console.log");
  process.stdout.write("stray write to process.stdout\n");
  return "printed";
});

// Waits until n calls of barrier are in flight at once: only a plugin that
// handles calls concurrently answers.
const waiting = [];
plugin.function("barrier", async (ctx, n) => {
  await new Promise((resolve, reject) => {
    waiting.push(resolve);
    ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason), { once: true });
    if (waiting.length >= n) waiting.splice(0).forEach((r) => r());
  });
  return n;
});

plugin.function("big", (ctx, n) => "x".repeat(n));

plugin.function("surrogate", () => "\ud800x\\ud800\udfff");

plugin.function("log", async (ctx, input) => {
  await ctx.log(input.level, input.msg, input.attrs);
  return "logged";
});

plugin.function("kv", async (ctx) => {
  await ctx.kv.set("k1", { n: 1 });
  const got = await ctx.kv.get("k1");
  const keys = await ctx.kv.list("k");
  await ctx.kv.delete("k1");
  const gone = await ctx.kv.get("k1");
  return { got, keys, gone };
});

plugin.function(
  "parsed",
  (ctx, input) => input.n * 2,
  {
    parse: (raw) => {
      if (typeof raw?.n !== "number") throw new Error('"n" must be a number');
      return raw;
    },
  },
);

plugin.run();
