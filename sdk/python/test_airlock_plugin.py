"""Tests of the Python SDK's edges: what it sends must be what the host
reads (docs/PROTOCOL.md), and every call must be answered.

Run: python3 -m unittest discover -s sdk/python (CI: .ci/sdk-tests)."""

import json
import os
import queue
import threading
import time
import unittest

import airlock_plugin as airlock

GUARD = 10  # seconds: bounds every wait; no test depends on it


class _Lines:
    """A writer that splits what the session writes into messages."""

    def __init__(self):
        self.buf = b""
        self.q = queue.Queue()

    def write(self, data):
        self.buf += data
        while b"\n" in self.buf:
            line, self.buf = self.buf.split(b"\n", 1)
            self.q.put(line)
        return len(data)


class Peer:
    """A session served over a pipe, with the test as the host."""

    def __init__(self, plugin):
        r, self.w = os.pipe()
        self.r = os.fdopen(r, "rb")
        self.out = _Lines()
        self.session = airlock._Session(plugin, self.r, self.out)
        self.thread = threading.Thread(target=self.session.serve, daemon=True)
        self.thread.start()
        self.send({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocols": [1], "config": {}}})
        assert self.next()["result"]["protocol"] == 1

    def send(self, msg):
        os.write(self.w, json.dumps(msg).encode() + b"\n")

    def call(self, id_, name, inp=None, timeout_ms=30000):
        self.send({"jsonrpc": "2.0", "id": id_, "method": "call", "params": {"name": name, "input": inp, "timeout_ms": timeout_ms}})

    def next_line(self):
        return self.out.q.get(timeout=GUARD)

    def next(self):
        line = self.next_line()
        # What the host reads: strict JSON (no NaN) in valid UTF-8.
        return json.loads(line.decode("utf-8"), parse_constant=self._refuse)

    @staticmethod
    def _refuse(name):
        raise ValueError(f"not JSON: {name}")

    def close(self):
        os.close(self.w)
        self.thread.join(GUARD)
        self.r.close()
        self.session.pool.shutdown(wait=False)


class EdgesTest(unittest.TestCase):
    def setUp(self):
        self.plugin = airlock.Plugin("edges", "0.1.0")
        self.peer = None

    def tearDown(self):
        if self.peer:
            self.peer.close()

    def start(self):
        self.peer = Peer(self.plugin)
        return self.peer

    def test_unencodable_results_are_answered_with_an_error(self):
        cases = [
            ("nan", float("nan"), "ValueError"),
            ("inf", {"x": float("inf")}, "ValueError"),
            ("neg-inf", [float("-inf")], "ValueError"),
            ("surrogate", "abc\udc80", "UnicodeEncodeError"),
            ("set", {1, 2}, "TypeError"),
        ]
        for name, value, _ in cases:
            self.plugin.handle(name, lambda ctx, inp, v=value: v)
        # A lone surrogate in an error message is escaped, not dropped.
        self.plugin.handle("bad-error", lambda ctx, inp: (_ for _ in ()).throw(airlock.Error(-32000, "no \ud800 here")))
        peer = self.start()
        for i, (name, _, kind) in enumerate(cases, start=10):
            with self.subTest(name):
                peer.call(i, name)
                msg = peer.next()
                self.assertEqual(msg["id"], i)
                self.assertEqual(msg["error"]["code"], airlock.FAILED, msg)
                self.assertIn("the result cannot be sent as JSON: " + kind, msg["error"]["message"])
        peer.call(99, "bad-error")
        msg = peer.next()
        self.assertEqual(msg["id"], 99)
        self.assertIn("the error cannot be sent as JSON", msg["error"]["message"])

    def test_trace_context_reaches_the_handler(self):
        tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        self.plugin.handle("tp", lambda ctx, inp: [ctx.traceparent, ctx.tracestate])
        peer = self.start()
        cases = [
            (20, {"traceparent": tp, "tracestate": "k=v"}, [tp, "k=v"]),
            (21, {}, ["", ""]),  # an untraced call
            (22, {"traceparent": 7}, ["", ""]),  # not a string: ignored
        ]
        for id_, extra, want in cases:
            with self.subTest(id_):
                params = {"name": "tp", "input": None, **extra}
                peer.send({"jsonrpc": "2.0", "id": id_, "method": "call", "params": params})
                msg = peer.next()
                self.assertEqual(msg.get("result"), want, msg)

    def test_result_over_the_limit_becomes_an_error(self):
        old = airlock.MAX_MESSAGE
        airlock.MAX_MESSAGE = 1000
        self.addCleanup(setattr, airlock, "MAX_MESSAGE", old)
        fixed = len('{"jsonrpc":"2.0","id":2,"result":""}')
        self.plugin.handle("sized", lambda ctx, inp: "x" * (inp - fixed))
        peer = self.start()
        peer.call(2, "sized", 1000)  # exactly the limit: sent
        line = peer.next_line()
        self.assertEqual(len(line), 1000)
        peer.call(3, "sized", 1001)  # one byte over (id 3 has as many digits as 2)
        line = peer.next_line()
        self.assertLessEqual(len(line), 1000)
        msg = json.loads(line)
        self.assertEqual(msg["id"], 3)
        self.assertEqual(msg["error"]["code"], airlock.INTERNAL_ERROR, msg)
        self.assertIn("exceeds the limit of 1000", msg["error"]["message"])

    def test_host_call_over_the_limit_is_not_sent(self):
        old = airlock.MAX_MESSAGE
        airlock.MAX_MESSAGE = 1000
        self.addCleanup(setattr, airlock, "MAX_MESSAGE", old)

        def big(ctx, inp):
            try:
                ctx.call("kv.set", {"key": "k", "value": "v" * 2000})
            except airlock.TooLarge as e:
                return {"refused": e.message, "code": e.code}
            return "sent"

        self.plugin.handle("big", big)
        peer = self.start()
        peer.call(2, "big")
        msg = peer.next()  # the answer, not a host call
        self.assertEqual(msg.get("id"), 2, msg)
        self.assertEqual(msg["result"]["code"], airlock.INTERNAL_ERROR)
        self.assertIn("exceeds the limit of 1000", msg["result"]["refused"])

    def test_host_call_woken_by_cancel(self):
        def waits(ctx, inp):
            try:
                ctx.call("slow.fn", {})
            except airlock.Cancelled as e:
                raise airlock.Cancelled(f"gave up: {e.message}")
            return "answered"

        self.plugin.handle("waits", waits)
        self.plugin.handle("ping", lambda ctx, inp: "pong")
        peer = self.start()
        peer.call(2, "waits", timeout_ms=60000)
        req = peer.next()
        self.assertEqual(req["method"], "slow.fn")
        self.assertEqual(req["origin"], 2)  # the call it is made during
        start = time.monotonic()
        peer.send({"jsonrpc": "2.0", "method": "$/cancel", "params": {"id": 2}})
        got = [peer.next(), peer.next()]
        took = time.monotonic() - start
        cancel = next(m for m in got if m.get("method") == "$/cancel")
        answer = next(m for m in got if m.get("id") == 2)
        self.assertEqual(cancel["params"]["id"], req["id"])  # the SDK gives up its own request too
        self.assertEqual(answer["error"]["code"], airlock.CANCELLED)
        self.assertIn("the call was cancelled", answer["error"]["message"])
        self.assertLess(took, 1.0, "the host call must wake within the host's grace period")
        # The host's late answer is dropped; the session goes on.
        peer.send({"jsonrpc": "2.0", "id": req["id"], "result": None})
        peer.call(3, "ping")
        self.assertEqual(peer.next(), {"jsonrpc": "2.0", "id": 3, "result": "pong"})

    def test_cancel_before_the_host_call_is_sent(self):
        started = threading.Event()
        go = threading.Event()

        def late(ctx, inp):
            started.set()
            go.wait(GUARD)
            ctx.call("slow.fn", {})
            return "answered"

        self.plugin.handle("late", late)
        peer = self.start()
        peer.call(2, "late", timeout_ms=60000)
        self.assertTrue(started.wait(GUARD))
        peer.send({"jsonrpc": "2.0", "method": "$/cancel", "params": {"id": 2}})
        deadline = time.monotonic() + GUARD
        while not self.peer.session.running.get("2").is_set():
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.01)
        go.set()
        msgs = [peer.next(), peer.next()]
        answer = next(m for m in msgs if m.get("id") == 2)
        self.assertEqual(answer["error"]["code"], airlock.CANCELLED)
        self.assertFalse(any(m.get("method") == "slow.fn" for m in msgs), msgs)


if __name__ == "__main__":
    unittest.main()
