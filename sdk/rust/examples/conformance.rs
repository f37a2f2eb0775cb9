//! The conformance plugin: one handler per protocol point, driven by
//! tests/protocol.rs over pipes and, through a real host, by
//! sdk_languages_test.go. sdk/typescript/testdata/conformance.mjs is the
//! same plugin in TypeScript.
//!
//! ```text
//! cargo build --example conformance
//! ```

use std::sync::{Condvar, Mutex};
use std::thread;
use std::time::Duration;

use airlock_plugin::{json, Context, Error, FromValue, Level, Plugin, Value};

/// The input of "parsed": converted before the handler runs.
struct Parsed {
    n: i64,
}

impl FromValue for Parsed {
    fn from_value(v: Value) -> Result<Parsed, Error> {
        Ok(Parsed { n: v.field("n")? })
    }
}

fn greet(ctx: &Context, input: Value) -> Result<Value, Error> {
    let name = input["name"].as_str().unwrap_or("").trim().to_owned();
    if name.is_empty() {
        return Err("greet: name is empty".into());
    }
    ctx.log_with(Level::Info, "greeting someone", json!({ "name": &name }));
    let greeting = ctx.setting_str("greeting").unwrap_or("hello");
    Ok(json!({ "message": format!("{greeting}, {name}") }))
}

/// Calls a host function and reports what happened, as data.
fn callhost(ctx: &Context, input: Value) -> Result<Value, Error> {
    let function = input["fn"].as_str().unwrap_or("");
    match ctx.call(function, input["input"].clone()) {
        Ok(result) => Ok(json!({ "result": result })),
        Err(e) if e.is_cancelled() => Err(e),
        Err(e) => Ok(json!({ "code": e.code(), "message": e.message(), "denied": e.is_denied() })),
    }
}

/// Two host calls at once, from two threads, answered in whatever order
/// the host likes.
fn callhost2(ctx: &Context, input: Value) -> Result<Value, Error> {
    let function = input["fn"].as_str().unwrap_or("").to_owned();
    let host = ctx.host().clone();
    let token = ctx.cancel_token().clone();
    let b = input["b"].clone();
    let f = function.clone();
    let other = thread::spawn(move || host.call_with(&f, b, &token));
    let a = ctx.call(&function, input["a"].clone())?;
    let b = other.join().map_err(|_| Error::failed("host call thread panicked"))??;
    Ok(json!([a, b]))
}

/// Waits until n calls of barrier are in flight at once: only a plugin that
/// handles calls concurrently answers.
fn barrier(ctx: &Context, n: usize) -> Result<usize, Error> {
    static WAITING: Mutex<(usize, u64)> = Mutex::new((0, 0)); // (waiting, generation)
    static CV: Condvar = Condvar::new();
    let mut st = WAITING.lock().unwrap();
    let generation = st.1;
    st.0 += 1;
    if st.0 >= n {
        *st = (0, generation + 1);
        CV.notify_all();
        return Ok(n);
    }
    while st.1 == generation {
        st = CV.wait_timeout(st, Duration::from_millis(20)).unwrap().0;
        if st.1 == generation && ctx.is_cancelled() {
            st.0 -= 1;
            return ctx.check().map(|_| 0);
        }
    }
    Ok(n)
}

fn kv(ctx: &Context, _: Value) -> Result<Value, Error> {
    let kv = ctx.kv();
    kv.set("k1", json!({ "n": 1 }))?;
    let got = kv.get("k1")?;
    let keys = kv.list("k")?;
    kv.delete("k1")?;
    let gone = kv.get("k1")?;
    Ok(json!({ "got": got, "keys": keys, "gone": gone }))
}

fn option(name: &str) -> Option<usize> {
    let prefix = format!("--{name}=");
    std::env::args().find_map(|a| a.strip_prefix(&prefix).and_then(|v| v.parse().ok()))
}

/// The plugin, with the options given as arguments.
pub fn plugin() -> Plugin {
    let mut p = Plugin::new("conformance", "1.0.0");
    if let Some(n) = option("max-in-flight") {
        p = p.max_in_flight(n);
    }
    if let Some(n) = option("max-message-bytes") {
        p = p.max_message_bytes(n);
    }
    p.on_shutdown(|_| eprintln!("conformance: shutting down"))
        .hook("greet", greet)
        .hook("observe", |ctx: &Context, input: Value| Ok::<_, Error>(json!({ "phase": ctx.phase(), "input": input })))
        .function("echo", |_: &Context, input: Value| Ok::<_, Error>(input))
        .function("config", |ctx: &Context, _: Value| Ok::<_, Error>(Value::Object(ctx.config().clone())))
        .function("grants", |ctx: &Context, _: Value| {
            Ok::<_, Error>(
                json!({ "plugin": ctx.plugin(), "grants": ctx.grants(), "functions": ctx.functions(), "granted_log": ctx.granted("log") }),
            )
        })
        .function("context", |ctx: &Context, _: Value| {
            Ok::<_, Error>(json!({
                "name": ctx.name(),
                "phase": ctx.phase(),
                "has_deadline": ctx.deadline().is_some(),
                "remaining_ok": ctx.remaining().map_or(true, |r| r > Duration::ZERO),
                "traceparent": ctx.traceparent(),
                "tracestate": ctx.tracestate(),
            }))
        })
        .function("callhost", callhost)
        .function("callhost2", callhost2)
        .function("sleep", |ctx: &Context, ms: u64| ctx.sleep(Duration::from_millis(ms)).map(|_| "slept"))
        // Ignores its cancellation: the host kills the plugin after the grace period.
        .function("hang", |_: &Context, _: Value| -> Result<Value, Error> {
            loop {
                thread::sleep(Duration::from_secs(3600));
            }
        })
        .function("fail", |_: &Context, _: Value| Err::<Value, _>(Error::failed("always fails")))
        .function("failcode", |_: &Context, input: Value| {
            let code = input["code"].as_i64().unwrap_or(-32000);
            Err::<Value, _>(Error::new(code, input["message"].as_str().unwrap_or("")).with_data(input["data"].clone()))
        })
        .function("panic", |_: &Context, _: Value| -> Result<Value, Error> { panic!("on purpose") })
        // A Rust string cannot hold a lone surrogate: this is what the
        // TypeScript plugin must send for its lone surrogates.
        .function("surrogate", |_: &Context, _: Value| Ok::<_, Error>("\u{fffd}x\\ud800\u{fffd}"))
        .function("print", |_: &Context, _: Value| {
            println!("stray print from println!");
            Ok::<_, Error>("printed")
        })
        .function("barrier", barrier)
        .function("big", |_: &Context, n: usize| Ok::<_, Error>("x".repeat(n)))
        .function("log", |ctx: &Context, input: Value| {
            let level = match input["level"].as_str() {
                Some("debug") => Level::Debug,
                Some("warn") => Level::Warn,
                Some("error") => Level::Error,
                _ => Level::Info,
            };
            ctx.log_with(level, input["msg"].as_str().unwrap_or(""), input["attrs"].clone());
            Ok::<_, Error>("logged")
        })
        .function("kv", kv)
        .function("parsed", |_: &Context, input: Parsed| Ok::<_, Error>(input.n * 2))
}

#[allow(dead_code)] // tests/protocol.rs includes this file and has its own main
fn main() {
    plugin().run();
}
