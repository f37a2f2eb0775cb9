"""The Python plugin of cmd/airlock's gen tests, on bindings generated from
testdata/gen/hostdef's contract (contract.py, beside it)."""

import airlock_plugin as airlock
import contract

plugin = airlock.Plugin("gen-python", "1.0.0")


def check(ctx: airlock.Context, inv: contract.Invoice) -> contract.Verdict:
    if inv["customer"]["name"] == "misspell":
        # What the bindings cannot stop in Python: the host refuses it.
        return {"aproved": True, "total": 0, "flags": [], "score": None}  # type: ignore[typeddict-unknown-key]
    cfg = contract.settings(ctx)
    rates = contract.rates_lookup(ctx, {"currency": inv["currency"]})
    total = sum(line["quantity"] * line["price"] for line in inv["lines"] or [])
    total = total * rates["rate"] - inv.get("discount", 0)
    if "ratio" in cfg:
        total *= cfg["ratio"]
    flags = sorted(inv.get("tags", {}))
    score = None
    if inv["note"] is None:
        flags.append("no-note")
    else:
        score = inv["priority"] * 10
    if inv.get("meta") is not None:
        flags.append("meta")
    flags.append(f"h{len(rates['history'])}")
    flags.append(f"w{cfg['workers']}")  # an int: w3, not w3.0
    if "regions" in cfg:
        flags.append(f"r{len(cfg['regions'])}")
    if cfg["strict"]:
        flags.append("strict")
    return {
        "approved": total < 1000,
        "reason": f"{cfg['greeting']}:{inv['customer']['name']}/{inv['currency']}/p{inv['priority']}",
        "total": total,
        "flags": flags,
        "score": score,
    }


def noted(ctx: airlock.Context, text: str, answer: bool) -> None:
    """An after handler: it logs what the hook was given and answered."""
    ctx.log("info", f"after note.add: {text} -> {str(answer).lower()}")


contract.register_hooks(plugin, {"invoice.check": check})
contract.register_after_hooks(plugin, {"note.add": noted})

if __name__ == "__main__":
    plugin.run()
