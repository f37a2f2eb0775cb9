"""Airlock plugin SDK for Python: one module, standard library only.

Write handlers, register them, and call ``run()``; the SDK speaks Airlock's
protocol (JSON-RPC 2.0, one message per line, over the plugin's standard
input and output) so the plugin never sees it::

    import airlock_plugin as airlock

    plugin = airlock.Plugin("hello-python", "0.1.0")

    @plugin.hook("greet")
    def greet(ctx, inp):
        ctx.log("info", "greeting someone", name=inp["name"])
        return {"message": f"{ctx.setting('greeting', 'hello')}, {inp['name']}"}

    if __name__ == "__main__":
        plugin.run()

A plugin ships this file next to its own code. docs/PROTOCOL.md describes the
protocol for languages without an SDK.
"""

import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

__all__ = ["Plugin", "Context", "Error", "HostError", "Denied", "Cancelled", "TooLarge", "PROTOCOL"]

#: The contract version this SDK speaks.
PROTOCOL = 1

# Error codes (see docs/PROTOCOL.md).
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
METHOD_NOT_FOUND = -32601
FAILED = -32000
DENIED = -32001
CANCELLED = -32002
BUSY = -32003
NOT_IMPLEMENTED = -32004

#: The largest message the SDK reads or sends, in bytes, not counting the
#: newline that ends it: the host's default limit, which holds in both
#: directions (docs/PROTOCOL.md, Framing).
MAX_MESSAGE = 4 << 20


class Error(Exception):
    """An error with a protocol code. Raise one from a handler to choose the
    code the host sees; any other exception is sent as FAILED (-32000)."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


class HostError(Error):
    """The host answered a host function call with an error."""


class Denied(HostError):
    """The host refused a host function call: a capability is not granted."""


class Cancelled(Error):
    """The call was cancelled, or its deadline passed."""

    def __init__(self, message="cancelled"):
        super().__init__(CANCELLED, message)


class TooLarge(Error):
    """A message over MAX_MESSAGE, which the SDK did not send: raised by a
    host call whose input is too large. A handler's result that is too large
    is answered with this error (code -32603) instead."""

    def __init__(self, message):
        super().__init__(INTERNAL_ERROR, message)


def _encode(msg):
    """One message as bytes, newline included. Raises ValueError for what is
    not JSON (NaN and infinities, cycles, lone surrogates) and TypeError for
    what JSON has no type for."""
    text = json.dumps(msg, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.encode("utf-8") + b"\n"


def _printable(text):
    """text with lone surrogates escaped, so that it can be sent."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _str(value):
    """value if it is a string, else "" (a trace header is only a hint)."""
    return value if isinstance(value, str) else ""


class Context:
    """What a handler gets besides its input: the plugin's settings and
    grants, the call's phase, deadline and trace context, and the host's
    functions."""

    def __init__(self, session, phase, deadline, cancelled, traceparent="", tracestate="", origin=None):
        self._session = session
        # The id of the host's call request: host calls name it as their
        # "origin", so that the host's spans for them join the call's trace.
        self._origin = origin
        #: The validated settings, defaults filled in.
        self.config = session.config
        #: The capabilities the host granted.
        self.grants = list(session.grants)
        #: The host functions the plugin may call.
        self.functions = list(session.functions)
        #: "before", "define", "after", or "" for a direct function call.
        self.phase = phase
        #: When the host stops waiting (a time.monotonic() value), or None.
        self.deadline = deadline
        #: Set when the host cancels the call; check it in long loops.
        self.cancelled = cancelled
        #: The host's trace context for this call, as W3C Trace Context
        #: headers ("00-TRACEID-SPANID-FLAGS"), or "" when the host does
        #: not trace it. Pass {"traceparent": ctx.traceparent,
        #: "tracestate": ctx.tracestate} to an OpenTelemetry propagator's
        #: extract() to make the plugin's spans children of the host's.
        self.traceparent = traceparent
        self.tracestate = tracestate

    def setting(self, name, default=None):
        """Return the setting called name, or default if it is unset."""
        value = self.config.get(name)
        return default if value is None else value

    def remaining(self):
        """Seconds left before the deadline, or None if there is none."""
        if self.deadline is None:
            return None
        return max(0.0, self.deadline - time.monotonic())

    def call(self, function, inp=None):
        """Call the host function named function with input inp and return
        its result. Raises Denied if a capability is missing, HostError for
        any other refusal, Cancelled when the call's deadline passes or the
        host cancels the call, TooLarge when inp encodes to more than
        MAX_MESSAGE, and ValueError or TypeError when inp is not JSON."""
        return self._session.call_host(function, inp, self.remaining(), self.cancelled, self._origin)

    def log(self, level, msg, **attrs):
        """Write a line to the host's log through its "log" function (needs
        the "log" capability). level is debug, info, warn or error."""
        inp = {"level": level, "msg": msg}
        if attrs:
            inp["attrs"] = attrs
        self.call("log", inp)


class Plugin:
    """A set of handlers with the plugin's identity. name and version must
    match the plugin's manifest; the host checks them in the handshake."""

    def __init__(self, name, version, max_workers=16):
        self.name = name
        self.version = version
        self.max_workers = max_workers
        self._handlers = {}

    def handle(self, name, fn):
        """Register fn(ctx, input) as the handler for the hook or function
        called name. Its return value must be JSON-serialisable."""
        self._handlers[name] = fn

    def hook(self, name):
        """Decorator form of handle for a hook."""

        def register(fn):
            self.handle(name, fn)
            return fn

        return register

    #: Decorator form of handle for a function called directly.
    function = hook

    def names(self):
        """The names of the registered handlers, sorted."""
        return sorted(self._handlers)

    def run(self):
        """Serve the host over standard input and output until the host
        closes the connection, then exit the process.

        Before serving, the protocol moves to a private duplicate of standard
        output and standard output is pointed at standard error, so a stray
        print() lands in the plugin's log instead of corrupting the
        protocol. On Linux the process is also made non-dumpable, so other
        processes of the same user cannot open its pipes through /proc."""
        _protect_process()
        out_fd = os.dup(1)
        os.dup2(2, 1)
        sys.stdout = sys.stderr
        out = os.fdopen(out_fd, "wb", buffering=0)
        session = _Session(self, sys.stdin.buffer, out)
        code = session.serve()
        sys.stderr.flush()
        # Handlers still running (ignoring their cancellation) must not keep
        # the process alive after the host has gone.
        os._exit(code)


def _protect_process():
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_DUMPABLE = 4
        libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    except (OSError, AttributeError):
        pass


class _Session:
    """One connection with the host."""

    def __init__(self, plugin, reader, writer):
        self.plugin = plugin
        self.reader = reader
        self.writer = writer
        self.write_lock = threading.Lock()
        self.lock = threading.Lock()
        self.pending = {}  # our request id -> [Event, response]
        self.running = {}  # host's request id (as JSON text) -> Event
        self.next_id = 0
        self.config = {}
        self.grants = []
        self.functions = []
        self.initialized = False
        self.pool = ThreadPoolExecutor(max_workers=plugin.max_workers, thread_name_prefix="airlock")
        self.slots = threading.BoundedSemaphore(plugin.max_workers * 4)

    # -- transport -------------------------------------------------------

    def send(self, msg):
        self.write(_encode(msg))

    def write(self, data):
        with self.write_lock:
            self.writer.write(data)

    def reply(self, id_, result=None, error=None):
        """Answer request id_. An answer that cannot be encoded becomes a
        FAILED error saying why, and one over MAX_MESSAGE an INTERNAL_ERROR:
        every request is answered, and never with what the host would refuse
        to read (threat: a plugin stopped for a protocol violation, or left
        unanswered until the host kills it, for one bad result)."""
        msg = {"jsonrpc": "2.0", "id": id_}
        if error is not None:
            msg["error"] = error
        else:
            msg["result"] = result
        try:
            data = _encode(msg)
        except (ValueError, TypeError, RecursionError) as e:
            what = "error" if error is not None else "result"
            reason = _printable(f"the {what} cannot be sent as JSON: {type(e).__name__}: {e}")
            data = _encode({"jsonrpc": "2.0", "id": id_, "error": {"code": FAILED, "message": reason}})
        if len(data) - 1 > MAX_MESSAGE:
            reason = f"answer not sent: message of {len(data) - 1} bytes exceeds the limit of {MAX_MESSAGE}"
            data = _encode({"jsonrpc": "2.0", "id": id_, "error": {"code": INTERNAL_ERROR, "message": reason}})
        try:
            self.write(data)
        except (BrokenPipeError, ValueError, OSError):
            pass  # the host has gone

    def serve(self):
        """Read messages until end of input; return the exit status."""
        try:
            while True:
                line = self.reader.readline(MAX_MESSAGE + 2)
                if not line:
                    return 0
                if len(line.rstrip(b"\n")) > MAX_MESSAGE:  # the limit does not count the newline, as the host's
                    print("airlock: message from the host exceeds the limit", file=sys.stderr)
                    return 1
                line = line.strip()
                if not line:
                    continue
                try:
                    msg = json.loads(line.decode("utf-8"))
                except (UnicodeDecodeError, ValueError) as e:
                    print(f"airlock: invalid message from the host: {e}", file=sys.stderr)
                    return 1
                self.dispatch(msg)
        finally:
            self.fail_pending()

    def dispatch(self, msg):
        if not isinstance(msg, dict) or msg.get("jsonrpc") != "2.0":
            print("airlock: ignoring a message that is not JSON-RPC 2.0", file=sys.stderr)
            return
        method = msg.get("method")
        if method is None:
            self.on_response(msg)
            return
        id_ = msg.get("id")
        params = msg.get("params")
        if method == "$/cancel":
            key = json.dumps((params or {}).get("id"))
            with self.lock:
                ev = self.running.get(key)
            if ev is not None:
                ev.set()
                self.wake_host_calls(ev)
        elif method == "initialize":
            self.initialize(id_, params or {})
        elif method == "shutdown":
            self.reply(id_, None)
        elif method == "call":
            self.start_call(id_, params or {})
        elif id_ is not None:
            self.reply(id_, error={"code": METHOD_NOT_FOUND, "message": f"method {method!r} not found"})

    # -- host to plugin --------------------------------------------------

    def initialize(self, id_, params):
        if PROTOCOL not in params.get("protocols", []):
            self.reply(id_, error={"code": FAILED, "message": f"plugin {self.plugin.name} speaks protocol {PROTOCOL}, host offers {params.get('protocols')}"})
            return
        self.config = params.get("config") or {}
        self.grants = params.get("grants") or []
        self.functions = params.get("functions") or []
        self.initialized = True
        self.reply(id_, {"protocol": PROTOCOL, "name": self.plugin.name, "version": self.plugin.version, "hooks": self.plugin.names()})

    def start_call(self, id_, params):
        if not self.initialized:
            self.reply(id_, error={"code": -32600, "message": "call before initialize"})
            return
        if not self.slots.acquire(blocking=False):
            self.reply(id_, error={"code": BUSY, "message": "too many calls in flight"})
            return
        cancelled = threading.Event()
        key = json.dumps(id_)
        with self.lock:
            self.running[key] = cancelled
        timeout_ms = params.get("timeout_ms") or 0
        deadline = time.monotonic() + timeout_ms / 1000 if timeout_ms > 0 else None
        ctx = Context(self, params.get("phase", ""), deadline, cancelled,
                      _str(params.get("traceparent")), _str(params.get("tracestate")), id_)
        self.pool.submit(self.run_call, id_, key, params, ctx)

    def run_call(self, id_, key, params, ctx):
        try:
            name = params.get("name")
            fn = self.plugin._handlers.get(name)
            if fn is None:
                self.reply(id_, error={"code": NOT_IMPLEMENTED, "message": f"plugin {self.plugin.name} does not implement {name!r}"})
                return
            try:
                result = fn(ctx, params.get("input"))
                self.reply(id_, result)
            except Error as e:
                self.reply(id_, error={"code": e.code, "message": e.message})
            except Exception as e:  # a handler's failure is the call's, not the plugin's
                self.reply(id_, error={"code": FAILED, "message": f"{type(e).__name__}: {e}"})
        finally:
            with self.lock:
                self.running.pop(key, None)
            self.slots.release()

    # -- plugin to host --------------------------------------------------

    def call_host(self, function, inp, timeout, cancelled=None, origin=None):
        with self.lock:
            self.next_id += 1
            id_ = self.next_id
        msg = {"jsonrpc": "2.0", "id": id_, "method": function}
        if origin is not None:
            msg["origin"] = origin
        msg["params"] = inp
        data = _encode(msg)
        if len(data) - 1 > MAX_MESSAGE:
            raise TooLarge(f"host function {function}: input not sent: message of {len(data) - 1} bytes exceeds the limit of {MAX_MESSAGE}")
        # slot: [answered or cancelled, the answer, the call's cancel event]
        slot = [threading.Event(), None, cancelled]
        with self.lock:
            self.pending[id_] = slot
        # Checked after the slot is registered: a $/cancel that came before
        # woke nobody (wake_host_calls runs after it sets the event).
        if cancelled is not None and cancelled.is_set():
            slot[0].set()
        else:
            try:
                self.write(data)
            except (BrokenPipeError, ValueError, OSError) as e:
                with self.lock:
                    self.pending.pop(id_, None)
                raise HostError(FAILED, f"host connection lost: {e}")
        woken = slot[0].wait(timeout)
        if not woken or slot[1] is None:
            with self.lock:
                self.pending.pop(id_, None)
            try:
                self.send({"jsonrpc": "2.0", "method": "$/cancel", "params": {"id": id_}})
            except (BrokenPipeError, ValueError, OSError):
                pass
            if woken:
                raise Cancelled(f"host function {function}: the call was cancelled")
            raise Cancelled(f"host function {function}: deadline passed")
        resp = slot[1]
        err = resp.get("error")
        if err is not None:
            code, message = err.get("code", FAILED), err.get("message", "")
            if code == DENIED:
                raise Denied(code, message)
            raise HostError(code, message)
        return resp.get("result")

    def wake_host_calls(self, cancelled):
        """Wake the host calls waiting on behalf of a call the host
        cancelled: they raise Cancelled (threat: a handler blocked in a
        host call past the grace period gets the plugin killed)."""
        with self.lock:
            for slot in self.pending.values():
                if slot[2] is cancelled:
                    slot[0].set()

    def on_response(self, msg):
        with self.lock:
            slot = self.pending.pop(msg.get("id"), None)
        if slot is None:
            return  # the answer to a call we gave up on
        slot[1] = msg
        slot[0].set()

    def fail_pending(self):
        with self.lock:
            pending, self.pending = self.pending, {}
        for slot in pending.values():
            slot[1] = {"error": {"code": FAILED, "message": "host connection closed"}}
            slot[0].set()
