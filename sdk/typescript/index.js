// @ts-check
/**
 * Airlock plugin SDK for Node.js: one ECMAScript module, no dependencies.
 *
 * Register handlers and call `run()`; the SDK speaks Airlock's process
 * protocol (JSON-RPC 2.0, one message per line, over the plugin's standard
 * input and output) so the plugin never sees it:
 *
 *     import { Plugin } from "@airlock-go/plugin";
 *
 *     const plugin = new Plugin({ name: "hello-ts", version: "0.1.0" });
 *     plugin.hook("greet", async (ctx, input) => {
 *       await ctx.log("info", "greeting someone", { name: input.name });
 *       return { message: `${ctx.setting("greeting", "hello")}, ${input.name}` };
 *     });
 *     plugin.run();
 *
 * The types are in index.d.ts, written by hand and checked by tsc; this file
 * is the implementation that runs, exactly as it is published.
 * docs/sdk/typescript.md is the reference; docs/PROTOCOL.md the protocol.
 */

import { Buffer } from "node:buffer";
import process from "node:process";

/** The contract version this SDK speaks. */
export const PROTOCOL = 1;

/** The largest message read or written by default, in bytes (the host's default). */
export const DEFAULT_MAX_MESSAGE_BYTES = 4 << 20;

/** The calls handled at once by default; more are answered "busy" (the host's default). */
export const DEFAULT_MAX_IN_FLIGHT = 64;

/** Error codes of the protocol (docs/PROTOCOL.md). */
export const Code = Object.freeze({
  ParseError: -32700,
  InvalidRequest: -32600,
  MethodNotFound: -32601,
  InvalidParams: -32602,
  InternalError: -32603,
  Failed: -32000,
  Denied: -32001,
  Cancelled: -32002,
  Busy: -32003,
  NotImplemented: -32004,
  RateLimited: -32005,
});

const LEVELS = new Set(["debug", "info", "warn", "error"]);

// The SDK's own members of the objects handlers see, out of their way.
const ABORT = Symbol("abort");
const LOG_SIGNAL = Symbol("logSignal");
const ORIGIN = Symbol("origin");
const HANDLER = Symbol("handler");

// Marks the SDK's errors, so that a PluginError from another copy of this
// module (a library bundling its own) still chooses the code the host sees.
const BRAND = Symbol.for("airlock-go.plugin.PluginError");

/**
 * An error with a protocol code. Throw one from a handler to choose the code
 * the host sees; anything else thrown is sent as Code.Failed (-32000) with
 * its message.
 */
export class PluginError extends Error {
  /**
   * @param {number} code
   * @param {string} message
   * @param {{ data?: unknown, cause?: unknown }} [options]
   */
  constructor(code, message, options) {
    super(message, options && "cause" in options ? { cause: options.cause } : undefined);
    if (!Number.isInteger(code)) throw new TypeError(`PluginError: code must be an integer, got ${code}`);
    this.name = "PluginError";
    /** @type {number} */
    this.code = code;
    /** @type {unknown} */
    this.data = options?.data;
  }

  /** @param {unknown} value */
  static [Symbol.hasInstance](value) {
    // Subclasses keep the ordinary prototype check; PluginError itself also
    // recognises other copies of the SDK.
    if (this !== PluginError) return Function.prototype[Symbol.hasInstance].call(this, value);
    return typeof value === "object" && value !== null && /** @type {any} */ (value)[BRAND] === true;
  }
}
Object.defineProperty(PluginError.prototype, BRAND, { value: true });

/** The host answered a host function call with an error. */
export class HostError extends PluginError {
  /**
   * @param {string} fn
   * @param {number} code
   * @param {string} message
   * @param {unknown} [data]
   */
  constructor(fn, code, message, data) {
    super(code, message, { data });
    this.name = "HostError";
    /** The host function that was called. */
    this.function = fn;
  }
}

/** The host refused a host function call: a capability is not granted (Code.Denied). */
export class DeniedError extends HostError {
  /**
   * @param {string} fn
   * @param {string} message
   * @param {unknown} [data]
   */
  constructor(fn, message, data) {
    super(fn, Code.Denied, message, data);
    this.name = "DeniedError";
  }
}

/** The call was cancelled by the host, or its deadline passed (Code.Cancelled). */
export class CancelledError extends PluginError {
  /** @param {string} [message] */
  constructor(message = "cancelled") {
    super(Code.Cancelled, message);
    this.name = "CancelledError";
  }
}

/** The host broke the protocol; the session ends with it. */
export class ProtocolError extends Error {
  /**
   * @param {string} reason
   * @param {Uint8Array | string} [line]
   */
  constructor(reason, line) {
    super(line === undefined ? `protocol violation: ${reason}` : `protocol violation: ${reason}: ${quote(line)}`);
    this.name = "ProtocolError";
  }
}

/**
 * The start of an offending line, for an error message.
 * @param {Uint8Array | string} line
 */
function quote(line) {
  const s = typeof line === "string" ? line : Buffer.from(line.subarray(0, 80)).toString("utf8");
  return JSON.stringify(s.length > 80 ? s.slice(0, 80) : s);
}

/** @param {unknown} e */
function messageOf(e) {
  if (e instanceof Error) return e.message;
  try {
    return String(e);
  } catch {
    return "unprintable error";
  }
}

/**
 * The CancelledError for an aborted signal.
 * @param {AbortSignal} signal
 */
function cancelledBy(signal) {
  const r = signal.reason;
  if (r instanceof CancelledError) return r;
  return new CancelledError(r === undefined ? "cancelled" : messageOf(r));
}

/**
 * JSON text made safe for the wire: JSON.stringify escapes a lone surrogate
 * as \udXXX, which is not UTF-8 and which the host refuses as a protocol
 * violation (stopping the plugin); it becomes U+FFFD, as Go's encoder and
 * TextEncoder do. A surrogate pair is never escaped, so any escaped
 * surrogate is a lone one.
 * @param {string} json
 */
function wellFormed(json) {
  if (json.indexOf("\\ud") < 0) return json;
  return json.replace(/(?<!\\)((?:\\\\)*)\\ud[89a-f][0-9a-f]{2}/g, "$1\\ufffd");
}

/**
 * JSON text for a value, or throws a PluginError saying why it has none.
 * @param {unknown} value
 * @param {string} what
 */
function encode(value, what) {
  let json;
  try {
    json = JSON.stringify(value === undefined ? null : value);
  } catch (e) {
    throw new PluginError(Code.Failed, `${what}: cannot encode as JSON: ${messageOf(e)}`);
  }
  // A function or a symbol has no JSON text.
  return json === undefined ? "null" : wellFormed(json);
}

/**
 * A frozen, deep copy of a JSON value from the host.
 * @template T
 * @param {T} v
 * @returns {T}
 */
function frozen(v) {
  if (typeof v === "object" && v !== null) {
    for (const k of Object.keys(v)) frozen(/** @type {any} */ (v)[k]);
    Object.freeze(v);
  }
  return v;
}

/** @param {unknown} v */
function isObject(v) {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** @param {unknown} v @returns {string[]} */
function stringList(v) {
  return Array.isArray(v) ? v.filter((x) => typeof x === "string") : [];
}

/**
 * What a handler's code sees of the host for the whole session: settings,
 * grants and host functions. A Context adds the current call to it.
 */
class Host {
  /** @type {Session} */ #session;

  /** @param {Session} session */
  constructor(session) {
    this.#session = session;
    const kv = {
      /** @param {string} key @param {{signal?: AbortSignal}} [o] */
      get: (key, o) => this.call("kv.get", { key }, o),
      /** @param {string} key @param {unknown} value @param {{signal?: AbortSignal}} [o] */
      set: async (key, value, o) => void (await this.call("kv.set", { key, value }, o)),
      /** @param {string} key @param {{signal?: AbortSignal}} [o] */
      delete: async (key, o) => void (await this.call("kv.delete", { key }, o)),
      /** @param {string} [prefix] @param {{signal?: AbortSignal}} [o] */
      list: async (prefix = "", o) => {
        const r = /** @type {any} */ (await this.call("kv.list", { prefix }, o));
        return stringList(r?.keys);
      },
      /** @param {string} key @param {unknown} old @param {unknown} value @param {{signal?: AbortSignal}} [o] */
      cas: async (key, old, value, o) => {
        const r = /** @type {any} */ (await this.call("kv.cas", { key, old, new: value }, o));
        return r?.swapped === true;
      },
    };
    /** The host's key-value store (the "kv" capability). */
    this.kv = Object.freeze(kv);
  }

  /** The name the host knows this plugin by. */
  get plugin() {
    return this.#session.pluginName;
  }

  /** The validated settings, defaults filled in (frozen). */
  get config() {
    return this.#session.config;
  }

  /** The capabilities the host granted (frozen). */
  get grants() {
    return this.#session.grants;
  }

  /** The host functions this plugin may call (frozen). */
  get functions() {
    return this.#session.functions;
  }

  /**
   * The setting called name, or fallback when it is unset or null.
   * @param {string} name
   * @param {unknown} [fallback]
   */
  setting(name, fallback) {
    const v = Object.hasOwn(this.config, name) ? /** @type {any} */ (this.config)[name] : undefined;
    return v === undefined || v === null ? fallback : v;
  }

  /**
   * Whether the host granted capability, exactly as written in the grant.
   * @param {string} capability
   */
  granted(capability) {
    return this.grants.includes(capability);
  }

  /**
   * Whether the host lets this plugin call the host function fn.
   * @param {string} fn
   */
  canCall(fn) {
    return this.functions.includes(fn);
  }

  /**
   * Calls the host function fn with input and resolves to its result.
   * @param {string} fn
   * @param {unknown} [input]
   * @param {{signal?: AbortSignal}} [options]
   * @returns {Promise<any>}
   */
  call(fn, input, options) {
    return this.#session.callHost(fn, input, options?.signal, this[ORIGIN]());
  }

  /**
   * Writes a line to the host's log: through the host function "log" when
   * the plugin may call it, else on standard error (which the host also
   * logs). It never rejects, except for an unknown level.
   * @param {"debug" | "info" | "warn" | "error"} level
   * @param {string} msg
   * @param {Record<string, unknown>} [attrs]
   * @returns {Promise<void>}
   */
  async log(level, msg, attrs) {
    if (!LEVELS.has(level)) throw new TypeError(`log: level must be debug, info, warn or error, not ${JSON.stringify(level)}`);
    const params = attrs && Object.keys(attrs).length > 0 ? { level, msg: String(msg), attrs } : { level, msg: String(msg) };
    if (this.canCall("log")) {
      try {
        await this.#session.callHost("log", params, this[LOG_SIGNAL](), this[ORIGIN]());
        return;
      } catch {
        // Denied, rate-limited, cancelled or gone: standard error still works.
      }
    }
    let line = `${level}: ${params.msg}`;
    if (params.attrs) {
      try {
        line += " " + JSON.stringify(params.attrs);
      } catch {
        // Attributes that cannot be encoded are left out.
      }
    }
    this.#session.writeLog(line);
  }

  /** @returns {AbortSignal | undefined} */
  [LOG_SIGNAL]() {
    return undefined;
  }

  /** @returns {number | string | undefined} the id of the host's call this host call is made during */
  [ORIGIN]() {
    return undefined;
  }
}

/** What a handler gets besides its input. */
class Context extends Host {
  /** @type {AbortController} */ #abort;
  /** @type {number | undefined} */ #deadlineMono;
  /** @type {number | string | undefined} */ #origin;

  /**
   * @param {Session} session
   * @param {string} name
   * @param {string} phase
   * @param {number} timeoutMs
   * @param {string} [traceparent]
   * @param {string} [tracestate]
   * @param {number | string} [origin] the host's id of the call: host calls name it, so that the host's spans for them join the call's trace
   */
  constructor(session, name, phase, timeoutMs, traceparent = "", tracestate = "", origin = undefined) {
    super(session);
    this.#origin = origin;
    this.#abort = new AbortController();
    /** The hook or function called. */
    this.name = name;
    /** "before", "define", "after", or "" for a direct function call. */
    this.phase = phase;
    /** Aborted, with a CancelledError as its reason, when the host cancels the call or its deadline passes. */
    this.signal = this.#abort.signal;
    /** When the host stops waiting, in milliseconds since the epoch (like Date.now()), or undefined. */
    this.deadline = timeoutMs > 0 ? Date.now() + timeoutMs : undefined;
    this.#deadlineMono = timeoutMs > 0 ? performance.now() + timeoutMs : undefined;
    /** The host's W3C trace context for this call ("00-TRACEID-SPANID-FLAGS"), or "" when it is not traced. */
    this.traceparent = traceparent;
    /** The W3C tracestate that goes with traceparent, or "". */
    this.tracestate = tracestate;
  }

  /** Milliseconds left before the deadline (Infinity without one, 0 once passed). */
  remaining() {
    return this.#deadlineMono === undefined ? Infinity : Math.max(0, this.#deadlineMono - performance.now());
  }

  /** Whether the call was cancelled or its deadline passed. */
  get cancelled() {
    return this.signal.aborted;
  }

  /** Throws the CancelledError if the call was cancelled or its deadline passed. */
  throwIfCancelled() {
    if (this.signal.aborted) throw cancelledBy(this.signal);
  }

  /**
   * Like Host.call, but given up (and cancelled at the host) when this call
   * is cancelled, unless options.signal says otherwise.
   * @param {string} fn
   * @param {unknown} [input]
   * @param {{signal?: AbortSignal}} [options]
   * @returns {Promise<any>}
   */
  call(fn, input, options) {
    return super.call(fn, input, { signal: options && "signal" in options ? options.signal : this.signal });
  }

  [LOG_SIGNAL]() {
    return this.signal;
  }

  [ORIGIN]() {
    return this.#origin;
  }

  /**
   * Ends the call: the SDK's, not the handler's.
   * @param {unknown} reason
   */
  [ABORT](reason) {
    this.#abort.abort(reason);
  }
}

/**
 * A set of handlers with the plugin's identity. name and version must match
 * the plugin's manifest: the host checks them in the handshake.
 * @template {object} [S=Record<string, unknown>]
 */
export class Plugin {
  /** @type {Map<string, {fn: Function, parse?: Function | undefined}>} */ #handlers = new Map();
  /** @type {Session | undefined} */ #session;

  /**
   * @param {{name: string, version: string, maxInFlight?: number, maxMessageBytes?: number,
   *   onShutdown?: (host: any) => void | Promise<void>}} options
   */
  constructor(options) {
    const { name, version, maxInFlight = DEFAULT_MAX_IN_FLIGHT, maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES, onShutdown } = options ?? {};
    if (typeof name !== "string" || name === "") throw new TypeError("Plugin: name must be the manifest's name");
    if (typeof version !== "string" || version === "") throw new TypeError("Plugin: version must be the manifest's version");
    if (!Number.isInteger(maxInFlight) || maxInFlight < 1) throw new TypeError("Plugin: maxInFlight must be a positive integer");
    if (!Number.isInteger(maxMessageBytes) || maxMessageBytes < 1024) throw new TypeError("Plugin: maxMessageBytes must be an integer of at least 1024");
    if (onShutdown !== undefined && typeof onShutdown !== "function") throw new TypeError("Plugin: onShutdown must be a function");
    /** The plugin's name, as in its manifest. */
    this.name = name;
    /** The plugin's version, as in its manifest. */
    this.version = version;
    this.maxInFlight = maxInFlight;
    this.maxMessageBytes = maxMessageBytes;
    this.onShutdown = onShutdown;
  }

  /**
   * Registers handler for the hook called name.
   * @param {string} name
   * @param {(ctx: any, input: any) => unknown} handler
   * @param {{parse?: (input: unknown) => unknown}} [options]
   */
  hook(name, handler, options) {
    return this.#register(name, handler, options);
  }

  /**
   * Registers handler for the function called name (called directly by the
   * host, outside any hook).
   * @param {string} name
   * @param {(ctx: any, input: any) => unknown} handler
   * @param {{parse?: (input: unknown) => unknown}} [options]
   */
  function(name, handler, options) {
    return this.#register(name, handler, options);
  }

  /**
   * @param {string} name
   * @param {Function} fn
   * @param {{parse?: Function}} [options]
   */
  #register(name, fn, options) {
    if (typeof name !== "string" || name === "") throw new TypeError("handler name must be a non-empty string");
    if (typeof fn !== "function") throw new TypeError(`handler for ${JSON.stringify(name)} must be a function`);
    if (options?.parse !== undefined && typeof options.parse !== "function") throw new TypeError(`parse for ${JSON.stringify(name)} must be a function`);
    if (this.#handlers.has(name)) throw new Error(`a handler for ${JSON.stringify(name)} is already registered`);
    this.#handlers.set(name, { fn, parse: options?.parse });
    return this;
  }

  /** The names of the registered hooks and functions, sorted. */
  get names() {
    return [...this.#handlers.keys()].sort();
  }

  /**
   * The session's view of the host once the handshake is done, else undefined.
   */
  get host() {
    return this.#session?.initialized ? this.#session.host : undefined;
  }

  /** @param {string} name */
  [HANDLER](name) {
    return this.#handlers.get(name);
  }

  /**
   * Serves the host over the given streams until input ends. Resolves then;
   * rejects with a ProtocolError if the host breaks the protocol. Tests and
   * unusual embeddings use it; plugins call run().
   * @param {AsyncIterable<Uint8Array | string>} input
   * @param {{write(chunk: Uint8Array): unknown}} output
   * @returns {Promise<void>}
   */
  serve(input, output) {
    const session = new Session(this, (chunk) => output.write(chunk), (line) => process.stderr.write(line + "\n"));
    this.#session = session;
    return session.serve(input);
  }

  /**
   * Serves the host over standard input and output, then exits the process:
   * status 0 when the host closes the input, 1 if it broke the protocol
   * (the reason goes to standard error, the plugin's log).
   *
   * First it keeps standard output for the protocol and points
   * process.stdout, and writes through the stream it was, at standard error,
   * so that a stray console.log lands in the plugin's log instead of
   * corrupting the protocol.
   * @returns {Promise<never>}
   */
  run() {
    const write = protectStdout();
    const session = new Session(this, write, (line) => process.stderr.write(line + "\n"));
    this.#session = session;
    return session.serve(process.stdin).then(
      () => exit(0),
      (e) => {
        process.stderr.write(`${this.name}: ${messageOf(e)}\n`, () => exit(1));
        return new Promise(() => {});
      },
    );
  }
}

/** @param {number} code @returns {never} */
function exit(code) {
  // Handlers still running (ignoring their cancellation) must not keep the
  // process alive after the host has gone.
  process.exit(code);
}

let stdoutWrite = /** @type {((chunk: Uint8Array) => void) | undefined} */ (undefined);

/**
 * Moves the protocol off process.stdout: returns a writer to the real
 * standard output and redirects every JavaScript write to it (the stream
 * object, console.log, process.stdout looked up later) to standard error.
 * Node cannot duplicate descriptors, so output written to descriptor 1 by
 * native code or by a child process that inherits it is not redirected:
 * spawn children with stdio ["ignore", "pipe" or 2, 2]. Idempotent.
 */
function protectStdout() {
  if (stdoutWrite) return stdoutWrite;
  const out = process.stdout;
  const write = out.write;
  const err = process.stderr;
  /** @param {Uint8Array} chunk */
  stdoutWrite = (chunk) => void write.call(out, chunk);
  // The original stream object, which console may already hold.
  out.write = /** @type {any} */ (function (/** @type {any[]} */ ...args) {
    return /** @type {any} */ (err.write)(...args);
  });
  // process.stdout read from now on: console reads it lazily.
  Object.defineProperty(process, "stdout", { configurable: true, enumerable: true, get: () => err });
  // The host closed the pipe: it has gone, and so do we.
  out.on("error", () => exit(0));
  return stdoutWrite;
}

const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** One connection with the host. */
class Session {
  /** @type {Plugin<any>} */ plugin;
  /** @type {(chunk: Uint8Array) => void} */ #out;
  /** @type {(line: string) => void} */ writeLog;
  initialized = false;
  pluginName = "";
  /** @type {Readonly<Record<string, unknown>>} */ config = Object.freeze({});
  /** @type {readonly string[]} */ grants = Object.freeze([]);
  /** @type {readonly string[]} */ functions = Object.freeze([]);
  /** @type {Host} */ host;

  // The host's requests being handled: id as JSON text -> their context.
  /** @type {Map<string, Context | null>} */ #running = new Map();
  // Our requests to the host: id -> how to settle them.
  /** @type {Map<number, {fn: string, settle: (msg: any) => void}>} */ #pending = new Map();
  // Our requests given up on, whose answers may still come.
  /** @type {Set<number>} */ #abandoned = new Set();
  #nextId = 0;
  #inFlight = 0;
  #closed = false;
  /** @type {string[]} */ #queue = [];
  #flushScheduled = false;
  // A line longer than one chunk, in pieces.
  /** @type {Uint8Array[]} */ #parts = [];
  #partLen = 0;

  /**
   * @param {Plugin<any>} plugin
   * @param {(chunk: Uint8Array) => void} out
   * @param {(line: string) => void} writeLog
   */
  constructor(plugin, out, writeLog) {
    this.plugin = plugin;
    this.#out = out;
    this.writeLog = writeLog;
    this.host = new Host(this);
  }

  // -- transport ------------------------------------------------------

  /**
   * Queues one message; the messages queued while the event loop handles
   * one batch of input leave in one write.
   * @param {string} line
   */
  #send(line) {
    if (this.#closed) return;
    this.#queue.push(line);
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => this.#flush());
    }
  }

  #flush() {
    this.#flushScheduled = false;
    if (this.#queue.length === 0 || this.#closed) return;
    const text = this.#queue.join("\n") + "\n";
    this.#queue = [];
    this.#out(Buffer.from(text, "utf8"));
  }

  /**
   * @param {string | number} id
   * @param {unknown} value
   */
  #reply(id, value) {
    let json;
    try {
      json = encode(value, "result");
    } catch (e) {
      return this.#replyError(id, /** @type {PluginError} */ (e));
    }
    const line = `{"jsonrpc":"2.0","id":${JSON.stringify(id)},"result":${json}}`;
    const size = Buffer.byteLength(line, "utf8");
    if (size > this.plugin.maxMessageBytes) {
      return this.#replyError(id, new PluginError(Code.InternalError, `result of ${size} bytes exceeds the message limit of ${this.plugin.maxMessageBytes} bytes`));
    }
    this.#send(line);
  }

  /**
   * @param {string | number} id
   * @param {{code: number, message: string, data?: unknown}} err
   */
  #replyError(id, err) {
    const head = `{"jsonrpc":"2.0","id":${JSON.stringify(id)},"error":`;
    const error = { code: err.code, message: String(err.message) };
    let json;
    try {
      json = err.data === undefined ? encode(error, "error") : encode({ ...error, data: err.data }, "error data");
    } catch {
      json = encode(error, "error");
    }
    if (Buffer.byteLength(head, "utf8") + Buffer.byteLength(json, "utf8") + 1 > this.plugin.maxMessageBytes) {
      json = encode({ code: err.code, message: error.message.slice(0, 4096) + " [cut: over the message limit]" }, "error");
    }
    this.#send(`${head}${json}}`);
  }

  /**
   * @param {AsyncIterable<Uint8Array | string>} input
   * @returns {Promise<void>}
   */
  async serve(input) {
    try {
      for await (const chunk of input) {
        this.#onData(typeof chunk === "string" ? Buffer.from(chunk, "utf8") : chunk);
      }
      if (this.#partLen > 0) throw new ProtocolError("input ended inside a message", Buffer.concat(this.#parts));
    } finally {
      this.#close();
    }
  }

  /** @param {Uint8Array} chunk */
  #onData(chunk) {
    const max = this.plugin.maxMessageBytes;
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(10, start);
      if (nl < 0) {
        if (start < chunk.length) {
          const rest = chunk.subarray(start);
          this.#partLen += rest.length;
          if (this.#partLen > max) throw new ProtocolError(`message exceeds the limit of ${max} bytes`, this.#parts[0] ?? rest);
          this.#parts.push(rest);
        }
        return;
      }
      let line = chunk.subarray(start, nl);
      start = nl + 1;
      if (this.#partLen > 0) {
        this.#parts.push(line);
        line = Buffer.concat(this.#parts, this.#partLen + line.length);
        this.#parts = [];
        this.#partLen = 0;
      }
      if (line.length > max) throw new ProtocolError(`message of ${line.length} bytes exceeds the limit of ${max}`, line);
      this.#onLine(line);
    }
  }

  /** @param {Uint8Array} line */
  #onLine(line) {
    let end = line.length;
    if (end > 0 && line[end - 1] === 13) end--;
    let text;
    try {
      text = decoder.decode(line.subarray(0, end));
    } catch {
      throw new ProtocolError("message is not valid UTF-8", line);
    }
    if (text.trim() === "") return;
    let msg;
    try {
      msg = JSON.parse(text);
    } catch (e) {
      throw new ProtocolError(`invalid JSON: ${messageOf(e)}`, text);
    }
    this.#dispatch(msg, text);
  }

  /**
   * @param {any} msg
   * @param {string} text
   */
  #dispatch(msg, text) {
    if (!isObject(msg)) throw new ProtocolError("line is not a JSON-RPC message", text);
    if (msg.jsonrpc !== "2.0") throw new ProtocolError('missing "jsonrpc": "2.0"', text);
    const hasResult = Object.hasOwn(msg, "result");
    const hasError = Object.hasOwn(msg, "error");
    if (Object.hasOwn(msg, "method")) {
      if (typeof msg.method !== "string" || msg.method === "" || hasResult || hasError) {
        throw new ProtocolError("neither a request nor a response", text);
      }
      // $/cancel is never answered, even if it came with an id.
      if (!Object.hasOwn(msg, "id") || msg.method === "$/cancel") return this.#onNotification(msg.method, msg.params);
      const id = msg.id;
      if (typeof id !== "number" && typeof id !== "string") throw new ProtocolError("request id must be a number or a string", text);
      const key = JSON.stringify(id);
      if (this.#running.has(key)) throw new ProtocolError("request id already in use", text);
      return this.#onRequest(id, key, msg.method, msg.params);
    }
    if (Object.hasOwn(msg, "id") && hasResult !== hasError) return this.#onResponse(msg, text);
    throw new ProtocolError("neither a request nor a response", text);
  }

  #close() {
    if (this.#closed) return;
    this.#flush();
    this.#closed = true;
    for (const [, p] of this.#pending) p.settle({ error: { code: Code.Failed, message: "host connection closed" } });
    this.#pending.clear();
    for (const [, ctx] of this.#running) ctx?.[ABORT](new CancelledError("host connection closed"));
  }

  // -- host to plugin -------------------------------------------------

  /**
   * @param {string} method
   * @param {any} params
   */
  #onNotification(method, params) {
    if (method === "$/cancel" && isObject(params)) {
      const key = JSON.stringify(params.id);
      this.#running.get(key)?.[ABORT](new CancelledError("cancelled by the host"));
    }
    // Other notifications are none of ours: ignored.
  }

  /**
   * @param {string | number} id
   * @param {string} key
   * @param {string} method
   * @param {any} params
   */
  #onRequest(id, key, method, params) {
    switch (method) {
      case "initialize":
        return this.#initialize(id, params);
      case "call":
        return this.#call(id, key, params);
      case "shutdown":
        return this.#shutdown(id, key);
    }
    this.#replyError(id, { code: Code.MethodNotFound, message: `method ${JSON.stringify(method)} not found` });
  }

  /**
   * @param {string | number} id
   * @param {any} params
   */
  #initialize(id, params) {
    const plugin = this.plugin;
    if (this.initialized) return this.#replyError(id, { code: Code.InvalidRequest, message: "initialize: already initialized" });
    if (!isObject(params)) return this.#replyError(id, { code: Code.InvalidParams, message: "initialize: params must be an object" });
    const offered = Array.isArray(params.protocols) ? params.protocols : [];
    if (!offered.includes(PROTOCOL)) {
      return this.#replyError(id, { code: Code.Failed, message: `plugin ${plugin.name} speaks protocol ${PROTOCOL}, host offers ${JSON.stringify(offered)}` });
    }
    this.pluginName = typeof params.plugin === "string" ? params.plugin : plugin.name;
    this.config = frozen(isObject(params.config) ? params.config : {});
    this.grants = Object.freeze(stringList(params.grants));
    this.functions = Object.freeze(stringList(params.functions));
    this.initialized = true;
    this.#reply(id, { protocol: PROTOCOL, name: plugin.name, version: plugin.version, hooks: plugin.names });
  }

  /**
   * @param {string | number} id
   * @param {string} key
   * @param {any} params
   */
  #call(id, key, params) {
    if (!this.initialized) return this.#replyError(id, { code: Code.InvalidRequest, message: "call before initialize" });
    if (!isObject(params) || typeof params.name !== "string") {
      return this.#replyError(id, { code: Code.InvalidParams, message: 'call: params must be an object with a string "name"' });
    }
    const phase = params.phase ?? "";
    const timeoutMs = params.timeout_ms ?? 0;
    if (typeof phase !== "string" || typeof timeoutMs !== "number") {
      return this.#replyError(id, { code: Code.InvalidParams, message: 'call: "phase" must be a string and "timeout_ms" a number' });
    }
    if (this.#inFlight >= this.plugin.maxInFlight) {
      return this.#replyError(id, { code: Code.Busy, message: `too many calls in flight (limit ${this.plugin.maxInFlight})` });
    }
    const entry = this.plugin[HANDLER](params.name);
    if (!entry) {
      return this.#replyError(id, { code: Code.NotImplemented, message: `plugin ${this.plugin.name} does not implement ${JSON.stringify(params.name)}` });
    }
    // Trace context: a hint only, ignored unless it is a string.
    const traceparent = typeof params.traceparent === "string" ? params.traceparent : "";
    const tracestate = typeof params.tracestate === "string" ? params.tracestate : "";
    const ctx = new Context(this, params.name, phase, timeoutMs, traceparent, tracestate, id);
    this.#running.set(key, ctx);
    this.#inFlight++;
    // setTimeout holds at most 2^31-1 ms; a longer deadline is no deadline.
    const timer =
      timeoutMs > 0 && timeoutMs < 2 ** 31 ? setTimeout(() => ctx[ABORT](new CancelledError(`deadline of ${timeoutMs} ms passed`)), timeoutMs) : undefined;
    const input = params.input === undefined ? null : params.input;
    this.#runCall(id, key, ctx, entry, input, timer);
  }

  /**
   * @param {string | number} id
   * @param {string} key
   * @param {Context} ctx
   * @param {{fn: Function, parse?: Function | undefined}} entry
   * @param {unknown} input
   * @param {ReturnType<typeof setTimeout> | undefined} timer
   */
  async #runCall(id, key, ctx, entry, input, timer) {
    /** @type {{ok: true, value: unknown} | {ok: false, error: {code: number, message: string, data?: unknown}}} */
    let outcome;
    try {
      let arg = input;
      if (entry.parse) {
        try {
          arg = entry.parse(input);
        } catch (e) {
          throw new PluginError(Code.InvalidParams, `${ctx.name}: invalid input: ${messageOf(e)}`);
        }
      }
      outcome = { ok: true, value: await entry.fn(ctx, arg) };
    } catch (e) {
      outcome = { ok: false, error: wireError(e, ctx) };
    }
    // Free the id and the slot before answering: the host may reuse the id
    // as soon as it has the answer.
    if (timer !== undefined) clearTimeout(timer);
    this.#running.delete(key);
    this.#inFlight--;
    if (outcome.ok) this.#reply(id, outcome.value);
    else this.#replyError(id, outcome.error);
  }

  /**
   * @param {string | number} id
   * @param {string} key
   */
  async #shutdown(id, key) {
    this.#running.set(key, null);
    const done = this.plugin.onShutdown;
    if (done) {
      try {
        await done(this.host);
      } catch (e) {
        this.writeLog(`${this.plugin.name}: onShutdown: ${messageOf(e)}`);
      }
    }
    this.#running.delete(key);
    this.#reply(id, null);
  }

  // -- plugin to host -------------------------------------------------

  /**
   * @param {string} fn
   * @param {unknown} input
   * @param {AbortSignal | undefined} signal
   * @param {number | string} [origin] the id of the host's call this one is made during
   * @returns {Promise<any>}
   */
  callHost(fn, input, signal, origin) {
    if (typeof fn !== "string" || fn === "") return Promise.reject(new TypeError("call: the host function's name must be a non-empty string"));
    if (this.#closed) return Promise.reject(new HostError(fn, Code.Failed, "host connection closed"));
    if (!this.initialized) return Promise.reject(new HostError(fn, Code.InvalidRequest, `host call ${fn} before initialize`));
    if (signal?.aborted) return Promise.reject(cancelledBy(signal));
    let params;
    try {
      params = encode(input, `host call ${fn}: input`);
    } catch (e) {
      return Promise.reject(e);
    }
    const id = ++this.#nextId;
    const from = origin === undefined ? "" : `,"origin":${JSON.stringify(origin)}`;
    const line = `{"jsonrpc":"2.0","id":${id},"method":${wellFormed(JSON.stringify(fn))}${from},"params":${params}}`;
    const size = Buffer.byteLength(line, "utf8");
    if (size > this.plugin.maxMessageBytes) {
      return Promise.reject(new PluginError(Code.Failed, `host call ${fn}: request of ${size} bytes exceeds the message limit of ${this.plugin.maxMessageBytes} bytes`));
    }
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        if (!this.#pending.delete(id)) return;
        this.#abandoned.add(id);
        this.#send(`{"jsonrpc":"2.0","method":"$/cancel","params":{"id":${id}}}`);
        reject(cancelledBy(/** @type {AbortSignal} */ (signal)));
      };
      this.#pending.set(id, {
        fn,
        settle: (msg) => {
          signal?.removeEventListener("abort", onAbort);
          if (!Object.hasOwn(msg, "error")) return resolve(msg.result);
          const e = isObject(msg.error) ? msg.error : {};
          const code = Number.isInteger(e.code) ? e.code : Code.Failed;
          const message = typeof e.message === "string" ? e.message : `host call ${fn} failed`;
          reject(code === Code.Denied ? new DeniedError(fn, message, e.data) : new HostError(fn, code, message, e.data));
        },
      });
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#send(line);
    });
  }

  /**
   * @param {any} msg
   * @param {string} text
   */
  #onResponse(msg, text) {
    const id = msg.id;
    const p = typeof id === "number" ? this.#pending.get(id) : undefined;
    if (p) {
      this.#pending.delete(id);
      return p.settle(msg);
    }
    if (typeof id === "number" && this.#abandoned.delete(id)) return; // the answer to a call we gave up on
    throw new ProtocolError("response to an unknown or already answered id", text);
  }
}

/**
 * The error object the host sees for what a handler threw.
 * @param {unknown} e
 * @param {Context} ctx
 */
function wireError(e, ctx) {
  if (e instanceof PluginError) {
    const pe = /** @type {PluginError} */ (e);
    return { code: pe.code, message: String(pe.message), data: pe.data };
  }
  if (ctx.signal.aborted) {
    // Whatever the handler threw once it was told to stop (an AbortError
    // from a timer, say) is the cancellation.
    return { code: Code.Cancelled, message: cancelledBy(ctx.signal).message };
  }
  return { code: Code.Failed, message: messageOf(e) };
}
