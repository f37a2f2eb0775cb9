//! hello-rust: an example Airlock plugin, in Rust.
//!
//! It implements the hook "greet", which takes {"name": "ada"} and returns
//! {"message": "hello, ada"} using its "greeting" setting, and logs through
//! the host's "log" function.

use airlock_plugin::{json, Context, Error, Level, Plugin, Value};

fn greet(ctx: &Context, input: Value) -> Result<Value, Error> {
    let name = input["name"].as_str().unwrap_or("").trim().to_owned();
    if name.is_empty() {
        return Err("greet: name is empty".into());
    }
    ctx.log_with(Level::Info, "greeting someone", json!({ "name": &name }));
    let greeting = ctx.setting_str("greeting").unwrap_or("hello");
    Ok(json!({ "message": format!("{greeting}, {name}") }))
}

fn main() {
    Plugin::new("hello-rust", "0.1.0").hook("greet", greet).run();
}
