// Compiled by `npx tsc` only (never run): the declarations in index.d.ts
// used the way a plugin author would, and misuses that must not compile.
import {
  Code,
  CancelledError,
  DeniedError,
  HostError,
  Plugin,
  PluginError,
  PROTOCOL,
  type AfterInput,
  type Context,
  type Handler,
  type Host,
  type JSONValue,
} from "@airlock-go/plugin";

interface Settings {
  greeting: string;
  retries: number;
  tags?: string[];
}
interface GreetIn {
  name: string;
}
interface GreetOut {
  message: string;
}

const plugin = new Plugin<Settings>({ name: "typed", version: "1.0.0", maxInFlight: 8, onShutdown: async (host) => void host.plugin });

// Handlers: typed input and output, sync or async.
plugin.hook<GreetIn, GreetOut>("greet", async (ctx, input) => {
  const greeting: string = ctx.setting("greeting", "hello");
  const retries: number | undefined = ctx.setting("retries");
  const tags: string[] = ctx.setting("tags", []);
  await ctx.log("info", "greeting", { name: input.name, retries, tags });
  ctx.throwIfCancelled();
  const left: number = ctx.remaining();
  const when: number | undefined = ctx.deadline;
  void left, when;
  return { message: `${greeting}, ${input.name}` };
});

const observe: Handler<AfterInput<GreetIn, GreetOut>, null, Settings> = (ctx, input) => {
  if (ctx.phase === "after" && input.output.message === "") throw new PluginError(Code.Failed, "empty");
  return null;
};
plugin.hook("greet.observe", observe);

// parse infers the input type.
plugin.function(
  "double",
  (_ctx, input) => input.n * 2,
  { parse: (raw: unknown): { n: number } => raw as { n: number } },
);

// Host calls: typed results, signals, errors.
plugin.function("peek", async (ctx: Context<Settings>) => {
  const balance = await ctx.call<{ cents: number }>("ledger.balance", { account: "a" });
  const cents: number = balance.cents;
  const detached = await ctx.call("log", { level: "info", msg: "x" }, { signal: undefined });
  const timed = await ctx.call("kv.get", { key: "k" }, { signal: AbortSignal.timeout(100) });
  const entry = await ctx.kv.get<number>("k");
  const n: number | null = entry.value;
  const keys: string[] = await ctx.kv.list("k");
  await ctx.kv.set("k", 1);
  await ctx.kv.delete("k");
  try {
    await ctx.call("secret.read");
  } catch (e) {
    if (e instanceof DeniedError) {
      const code: -32001 = e.code;
      const fn: string = e.function;
      void code, fn;
    } else if (e instanceof HostError) {
      const code: number = e.code;
      void code;
    } else if (e instanceof CancelledError) {
      throw e;
    }
  }
  const ok: boolean = ctx.granted("ledger.read") && ctx.canCall("ledger.balance");
  return { cents, detached, timed, n, keys, ok, signal: ctx.signal.aborted, protocol: PROTOCOL };
});

const host: Host<Settings> | undefined = plugin.host;
const names: string[] = plugin.names;
const json: JSONValue = { a: [1, "x", null, { b: true }] };
void host, names, json;

// Misuses that must not compile.
// @ts-expect-error a setting the Settings do not declare
plugin.hook("bad1", (ctx) => ctx.setting("colour"));
// @ts-expect-error not a log level
plugin.hook("bad2", (ctx) => ctx.log("loud", "x"));
// @ts-expect-error the output must be a GreetOut
plugin.hook<GreetIn, GreetOut>("bad3", () => ({ msg: "x" }));
// @ts-expect-error the input is a GreetIn
plugin.hook<GreetIn, GreetOut>("bad4", (_ctx, input) => ({ message: input.nme }));
// @ts-expect-error name and version are required
new Plugin({ name: "x" });
// @ts-expect-error the error code is a number
new PluginError("x", "y");
// @ts-expect-error settings are read-only
plugin.hook("bad5", (ctx) => void (ctx.config.greeting = "x"));

export default plugin.run;
