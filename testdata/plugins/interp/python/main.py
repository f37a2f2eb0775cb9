# interp-python: the protocol by hand (docs/PROTOCOL.md), standard library only.
import json
import sys

sys.dont_write_bytecode = True


def send(msg):
    sys.stdout.write(json.dumps(msg, separators=(",", ":")) + "\n")
    sys.stdout.flush()


for line in sys.stdin:
    if not line.strip():
        continue
    msg = json.loads(line)
    method, id_ = msg.get("method"), msg.get("id")
    if method == "initialize":
        send({"jsonrpc": "2.0", "id": id_, "result": {"protocol": 1, "name": "interp-python", "version": "0.1.0", "hooks": ["greet"]}})
    elif method == "call":
        send({"jsonrpc": "2.0", "id": id_, "result": {"lang": "python", "input": msg["params"].get("input")}})
    elif method == "shutdown":
        send({"jsonrpc": "2.0", "id": id_, "result": None})
sys.exit(0)
