//! hello-native-rust: the greet plugin in Rust as a `cdylib` for the native
//! tier (docs/NATIVE.md). The hook "greet" takes {"name": "ada"} and
//! returns {"message": "hello, ada"} using the "greeting" setting, and logs
//! through the host. It keeps no state, so it is safe on many threads.

use airlock_native::{json, native_plugin, Call, Error};

fn greet(call: &Call) -> Result<Vec<u8>, Error> {
    if call.name() != "greet" {
        return Err(Error { code: airlock_native::code::NOT_IMPLEMENTED, message: format!("no hook {}", call.name()) });
    }
    let name = json::string_member(call.input(), "name").unwrap_or_default();
    let name = name.trim();
    if name.is_empty() {
        return Err(Error::failed("greet: name is empty"));
    }
    call.log("info", &format!("greeting {name}"))?;
    let greeting = json::string_member(call.config(), "greeting").unwrap_or_else(|| "hello".into());
    Ok(format!("{{\"message\":{}}}", json::quote(&format!("{greeting}, {name}"))).into_bytes())
}

native_plugin!(c"hello-native-rust", c"0.1.0", c"greet", greet);
