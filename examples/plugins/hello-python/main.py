"""hello-python: an example Airlock plugin.

It implements the hook "greet", which takes {"name": "ada"} and returns
{"message": "hello, ada"} using its "greeting" setting, and logs through the
host's "log" function.
"""

import sys

sys.dont_write_bytecode = True  # the plugin directory may be read-only

import airlock_plugin as airlock  # noqa: E402

plugin = airlock.Plugin("hello-python", "0.1.0")


@plugin.hook("greet")
def greet(ctx, inp):
    name = str((inp or {}).get("name", "")).strip()
    if not name:
        raise ValueError("greet: name is empty")
    ctx.log("info", "greeting someone", name=name)
    return {"message": f"{ctx.setting('greeting', 'hello')}, {name}"}


if __name__ == "__main__":
    plugin.run()
