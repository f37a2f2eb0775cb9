// Type declarations for @airlock-go/plugin, written by hand beside
// index.js and checked by `tsc` (test/types.ts exercises every one).
// docs/sdk/typescript.md is the reference.

/** The contract version this SDK speaks. */
export declare const PROTOCOL: 1;

/** The largest message read or written by default, in bytes (4 MiB, the host's default). */
export declare const DEFAULT_MAX_MESSAGE_BYTES: number;

/** The calls handled at once by default (64, the host's default); more are answered busy. */
export declare const DEFAULT_MAX_IN_FLIGHT: number;

/** Error codes of the protocol (docs/PROTOCOL.md, "Error codes"). */
export declare const Code: Readonly<{
  /** JSON-RPC: parse error. */
  ParseError: -32700;
  /** JSON-RPC: invalid request (a call before initialize, say). */
  InvalidRequest: -32600;
  /** No such method, or no such host function. */
  MethodNotFound: -32601;
  /** The input does not fit (a handler's `parse` threw). */
  InvalidParams: -32602;
  /** JSON-RPC: internal error. */
  InternalError: -32603;
  /** The handler ran and failed; the message says why. */
  Failed: -32000;
  /** A capability the call needs is not granted. */
  Denied: -32001;
  /** Cancelled, or the deadline passed. */
  Cancelled: -32002;
  /** Too many calls in flight. */
  Busy: -32003;
  /** No such hook or function in this plugin. */
  NotImplemented: -32004;
  /** Too many host calls in a short time. */
  RateLimited: -32005;
}>;

/** Any value JSON can carry. */
export type JSONValue = null | boolean | number | string | JSONValue[] | { [key: string]: JSONValue };

/** A hook's phase, or "" for a function called directly. */
export type Phase = "before" | "define" | "after" | "";

/** The levels of the host's log. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** The input of an after-phase hook: the hook's input and the output it produced. */
export interface AfterInput<In = unknown, Out = unknown> {
  input: In;
  output: Out;
}

/** Options of a host call. */
export interface CallOptions {
  /**
   * Gives the call up when it aborts: the promise rejects with a
   * CancelledError and the host is sent `$/cancel`. From a Context the
   * default is the call's own signal; pass `undefined` explicitly for none.
   */
  signal?: AbortSignal | undefined;
}

/** The result of `kv.get`. */
export interface KVEntry<T = unknown> {
  /** The stored value, or null when not found. */
  value: T | null;
  found: boolean;
}

/**
 * The host's key-value store: private to the plugin, kept by the host across
 * restarts, bounded by the host (needs the "kv" capability). Each method is
 * one host call.
 */
export interface KV {
  get<T = unknown>(key: string, options?: CallOptions): Promise<KVEntry<T>>;
  set(key: string, value: unknown, options?: CallOptions): Promise<void>;
  delete(key: string, options?: CallOptions): Promise<void>;
  /** The keys that start with prefix (all keys when it is empty). */
  list(prefix?: string, options?: CallOptions): Promise<string[]>;
  /**
   * Atomically stores value under key if key holds old, and says whether it
   * did. An `old` of undefined means the key must not exist; a `value` of
   * undefined deletes the key (null is a value). Values compare as compact
   * JSON.
   */
  cas(key: string, old: unknown, value: unknown, options?: CallOptions): Promise<boolean>;
}

/**
 * The plugin's view of the host for the whole session: its settings, its
 * grants and the host functions it may call.
 *
 * @typeParam S the shape of the plugin's settings (its manifest's `[config]`).
 */
export interface Host<S extends object = Record<string, unknown>> {
  /** The name the host knows this plugin by (the manifest's name). */
  readonly plugin: string;
  /** The validated settings, defaults filled in. Deeply frozen. */
  readonly config: Readonly<S>;
  /** The capabilities the host granted: the manifest's, narrowed to the operator's grants. */
  readonly grants: readonly string[];
  /** The host functions the grants let this plugin call. */
  readonly functions: readonly string[];
  /** The setting called name (undefined when unset). */
  setting<K extends keyof S & string>(name: K): S[K] | undefined;
  /** The setting called name, or fallback when it is unset or null. */
  setting<K extends keyof S & string>(name: K, fallback: NonNullable<S[K]>): NonNullable<S[K]>;
  /** Whether capability was granted, exactly as written (`"fs.read:/srv"`, not a path beneath it). */
  granted(capability: string): boolean;
  /** Whether the host function fn is among `functions`. */
  canCall(fn: string): boolean;
  /**
   * Calls the host function fn with input (as JSON) and resolves to its
   * result. Rejects with a DeniedError when a capability is missing, a
   * HostError for any other refusal (its `code` says which), a
   * CancelledError when the signal aborts. Many calls may be in flight at
   * once, answered in any order.
   *
   * @typeParam T the result's type, as the host function documents it (not checked).
   */
  call<T = unknown>(fn: string, input?: unknown, options?: CallOptions): Promise<T>;
  /**
   * Writes one line to the host's log, through the host function "log" when
   * the plugin may call it, else on standard error (which the host logs
   * too, unstructured). Never rejects, except with a TypeError for a level
   * that is not a LogLevel.
   */
  log(level: LogLevel, msg: string, attrs?: Record<string, unknown>): Promise<void>;
  /** The host's key-value store. */
  readonly kv: KV;
}

/**
 * What a handler gets besides its input: the Host, plus the call's name,
 * phase, deadline and cancellation.
 */
export interface Context<S extends object = Record<string, unknown>> extends Host<S> {
  /** The hook or function called. */
  readonly name: string;
  /** The hook's phase, or "" for a direct function call. */
  readonly phase: Phase;
  /**
   * Aborts when the host cancels the call (`$/cancel`) or its deadline
   * passes; its reason is then a CancelledError. Pass it to whatever the
   * handler waits on (fetch, timers/promises, streams): a plugin that does
   * not answer within the host's grace period (1 s by default) after a
   * cancellation is killed.
   */
  readonly signal: AbortSignal;
  /** When the host stops waiting, in milliseconds since the epoch (like Date.now()), or undefined. */
  readonly deadline: number | undefined;
  /**
   * The host's trace context for this call, as a W3C traceparent
   * ("00-TRACEID-SPANID-FLAGS"), or "" when the host does not trace it.
   * Give `{ traceparent, tracestate }` to an OpenTelemetry propagator's
   * extract() to make the plugin's spans children of the host's call.
   */
  readonly traceparent: string;
  /** The W3C tracestate that goes with traceparent, or "". */
  readonly tracestate: string;
  /** Milliseconds left before the deadline: Infinity without one, 0 once it has passed. */
  remaining(): number;
  /** Whether the call was cancelled or its deadline passed. */
  readonly cancelled: boolean;
  /** Throws the CancelledError if the call was cancelled or its deadline passed. */
  throwIfCancelled(): void;
  /** Host.call, given up with this call unless `options.signal` says otherwise. */
  call<T = unknown>(fn: string, input?: unknown, options?: CallOptions): Promise<T>;
}

/**
 * Handles one call of a hook or function. Its result (or what its promise
 * resolves to) is sent as JSON; `undefined` is sent as null. What it throws
 * is sent as an error: a PluginError with its code, anything else as
 * Code.Failed with its message, and anything after the call was cancelled
 * as Code.Cancelled.
 */
export type Handler<In = unknown, Out = unknown, S extends object = Record<string, unknown>> = (
  ctx: Context<S>,
  input: In,
) => Out | Promise<Out>;

/** Options of one handler. */
export interface HandlerOptions<In> {
  /**
   * Checks and converts the raw input before the handler sees it (a zod
   * schema's `parse`, say). What it throws is answered Code.InvalidParams.
   */
  parse?: (input: unknown) => In;
}

/** Options of a Plugin. */
export interface PluginOptions<S extends object = Record<string, unknown>> {
  /** The manifest's name: the host checks it in the handshake. */
  name: string;
  /** The manifest's version: the host checks it in the handshake. */
  version: string;
  /** The calls handled at once; more are answered Code.Busy (default 64, the host's default). */
  maxInFlight?: number | undefined;
  /**
   * The largest message read or written, in bytes (default 4 MiB, the
   * host's default; set it to the operator's `max_message_bytes` if they
   * changed it). A larger message from the host ends the session; a larger
   * result is answered with an error instead.
   */
  maxMessageBytes?: number | undefined;
  /**
   * Runs when the host asks the plugin to shut down, before the SDK
   * answers; the host waits 3 s (by default) for the answer.
   */
  onShutdown?: ((host: Host<S>) => void | Promise<void>) | undefined;
}

/**
 * A set of handlers with the plugin's identity.
 *
 * @typeParam S the shape of the plugin's settings.
 */
export declare class Plugin<S extends object = Record<string, unknown>> {
  constructor(options: PluginOptions<S>);
  /** The plugin's name, as in its manifest. */
  readonly name: string;
  /** The plugin's version, as in its manifest. */
  readonly version: string;
  readonly maxInFlight: number;
  readonly maxMessageBytes: number;
  /**
   * Registers handler for the hook called name; every hook the manifest
   * lists needs one, and nothing else may be registered. Throws if name is
   * registered already.
   */
  hook<In = unknown, Out = unknown>(name: string, handler: Handler<In, Out, S>, options?: HandlerOptions<In>): this;
  /** Registers handler for a function the host calls directly, outside any hook. */
  function<In = unknown, Out = unknown>(name: string, handler: Handler<In, Out, S>, options?: HandlerOptions<In>): this;
  /** The registered hooks and functions, sorted: what the handshake answers. */
  readonly names: string[];
  /** The session's view of the host once the handshake is done; undefined before. */
  readonly host: Host<S> | undefined;
  /**
   * Serves the host over standard input and output, then exits the
   * process: status 0 when the host closes the input, 1 if it broke the
   * protocol (the reason goes to standard error).
   *
   * It first keeps standard output for the protocol and points every
   * JavaScript write to it (`process.stdout`, `console.log`) at standard
   * error, so a stray print cannot corrupt the protocol.
   */
  run(): Promise<never>;
  /**
   * Serves the host over the given streams until input ends, without
   * touching the process. Rejects with a ProtocolError if the host breaks
   * the protocol. For tests and unusual embeddings; plugins call run().
   */
  serve(input: AsyncIterable<Uint8Array | string>, output: { write(chunk: Uint8Array): unknown }): Promise<void>;
}

/**
 * An error with a protocol code. Throw one from a handler to choose the
 * code the host sees. `instanceof PluginError` also recognises the errors
 * of another copy of this SDK.
 */
export declare class PluginError extends Error {
  constructor(code: number, message: string, options?: { data?: unknown; cause?: unknown });
  /** The protocol error code. */
  readonly code: number;
  /** Sent to the host as the error's `data`, if not undefined. */
  readonly data: unknown;
}

/** The host answered a host function call with an error. */
export declare class HostError extends PluginError {
  constructor(fn: string, code: number, message: string, data?: unknown);
  /** The host function that was called. */
  readonly function: string;
}

/** The host refused a host function call because a capability is not granted (Code.Denied). */
export declare class DeniedError extends HostError {
  constructor(fn: string, message: string, data?: unknown);
  readonly code: -32001;
}

/** The call was cancelled by the host, or its deadline passed (Code.Cancelled). */
export declare class CancelledError extends PluginError {
  constructor(message?: string);
  readonly code: -32002;
}

/** The host broke the protocol; `serve` rejects with it. */
export declare class ProtocolError extends Error {
  constructor(reason: string, line?: Uint8Array | string);
}
