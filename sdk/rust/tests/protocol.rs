//! The SDK in a real child process (examples/conformance.rs), spoken to
//! over pipes by a harness playing the host: each test checks one point of
//! docs/PROTOCOL.md.
//!
//! This test has no libtest harness (Cargo.toml: harness = false): the
//! binary is both the harness and, started by itself with
//! AIRLOCK_CONFORMANCE=1, the plugin, which must own its standard output.
//! `cargo test --test protocol -- NAME` runs the tests whose names contain
//! NAME.

#[path = "../examples/conformance.rs"]
mod conformance;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use airlock_plugin::{json, Value};

type TestResult = Result<(), String>;
type Test = (&'static str, fn() -> TestResult);

macro_rules! check {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!("{} (line {})", format!($($fmt)+), line!()));
        }
    };
}

macro_rules! check_eq {
    ($got:expr, $want:expr) => {{
        let (got, want) = (&$got, &$want);
        if got != want {
            return Err(format!("line {}: got {:?}, want {:?}", line!(), got, want));
        }
    }};
}

/// A plugin process and the host's end of its pipes.
struct Peer {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<Option<Value>>,
    queue: Vec<Value>,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    next_id: i64,
    eof: bool,
}

const FUNCTIONS: &[&str] = &[
    "barrier",
    "big",
    "callhost",
    "callhost2",
    "config",
    "context",
    "echo",
    "fail",
    "failcode",
    "grants",
    "greet",
    "hang",
    "kv",
    "log",
    "observe",
    "panic",
    "parsed",
    "print",
    "sleep",
    "surrogate",
];

impl Peer {
    fn start(args: &[&str]) -> Peer {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(args)
            .env_clear()
            .env("AIRLOCK_CONFORMANCE", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the plugin");
        let (tx, lines) = mpsc::channel();
        let stdout = Arc::new(Mutex::new(String::new()));
        let text = Arc::clone(&stdout);
        let out = child.stdout.take().unwrap();
        thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                text.lock().unwrap().push_str(&line);
                text.lock().unwrap().push('\n');
                let v = Value::parse(&line).unwrap_or_else(|_| json!({ "notJSON": line }));
                if tx.send(Some(v)).is_err() {
                    return;
                }
            }
            let _ = tx.send(None);
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let text = Arc::clone(&stderr);
        let mut err = child.stderr.take().unwrap();
        thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                text.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let stdin = child.stdin.take();
        Peer { child, stdin, lines, queue: Vec::new(), stdout, stderr, next_id: 1, eof: false }
    }

    fn ready(args: &[&str], init: Value) -> Result<Peer, String> {
        let mut p = Peer::start(args);
        let ans = p.initialize(init)?;
        check!(!ans["result"].is_null(), "handshake failed: {ans}");
        Ok(p)
    }

    fn initialize(&mut self, init: Value) -> Result<Value, String> {
        let mut params = json!({
            "protocols": [1], "plugin": "conformance", "config": {"greeting": "hello"}, "grants": ["log"], "functions": ["log"],
        });
        if let (Some(p), Value::Object(over)) = (params.as_object_mut(), init) {
            p.extend(over);
        }
        self.round_trip("initialize", params)
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits until standard error (read apart from standard output)
    /// holds needle.
    fn stderr_holds(&self, needle: &str) -> TestResult {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.stderr().contains(needle) {
            if Instant::now() > deadline {
                return Err(format!("standard error does not say {needle:?}:\n{}", self.stderr()));
            }
            thread::sleep(Duration::from_millis(5));
        }
        Ok(())
    }

    fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    fn write(&mut self, bytes: &[u8]) {
        if let Some(w) = self.stdin.as_mut() {
            let _ = w.write_all(bytes);
            let _ = w.flush();
        }
    }

    fn send(&mut self, msg: Value) {
        let mut line = msg.to_json();
        line.push('\n');
        self.write(line.as_bytes());
    }

    fn request(&mut self, method: &str, params: Value) -> i64 {
        let id = self.next_id;
        self.next_id += 1;
        self.send(json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }));
        id
    }

    fn call(&mut self, name: &str, input: Value) -> i64 {
        self.request("call", json!({ "name": name, "input": input }))
    }

    fn call_with(&mut self, name: &str, input: Value, extra: Value) -> i64 {
        let mut params = json!({ "name": name, "input": input });
        if let (Some(p), Value::Object(e)) = (params.as_object_mut(), extra) {
            p.extend(e);
        }
        self.request("call", params)
    }

    fn cancel(&mut self, id: impl Into<Value>) {
        self.send(json!({ "jsonrpc": "2.0", "method": "$/cancel", "params": { "id": id.into() } }));
    }

    /// The next message pred accepts, removed from the queue.
    fn next(&mut self, pred: impl Fn(&Value) -> bool, timeout: Duration) -> Result<Value, String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(i) = self.queue.iter().position(&pred) {
                return Ok(self.queue.remove(i));
            }
            if self.eof {
                return Err(format!("the plugin closed its output; have {:?}; stderr:\n{}", self.queue, self.stderr()));
            }
            match self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(Some(v)) => self.queue.push(v),
                Ok(None) | Err(RecvTimeoutError::Disconnected) => self.eof = true,
                Err(RecvTimeoutError::Timeout) => {
                    return Err(format!("no matching message within {timeout:?}; have {:?}; stderr:\n{}", self.queue, self.stderr()))
                }
            }
        }
    }

    fn answer(&mut self, id: impl Into<Value>) -> Result<Value, String> {
        let id = id.into();
        self.next(|m| m["id"] == id && m.get("method").is_none(), Duration::from_secs(5))
    }

    fn host_request(&mut self, method: &str) -> Result<Value, String> {
        self.next(|m| m["method"].as_str().is_some_and(|x| method.is_empty() || x == method), Duration::from_secs(5))
    }

    fn round_trip(&mut self, method: &str, params: Value) -> Result<Value, String> {
        let id = self.request(method, params);
        self.answer(id)
    }

    fn reply(&mut self, id: &Value, result: Value) {
        self.send(json!({ "jsonrpc": "2.0", "id": id.clone(), "result": result }));
    }

    fn wait(&mut self, timeout: Duration) -> Result<ExitStatus, String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(st) = self.child.try_wait().map_err(|e| e.to_string())? {
                return Ok(st);
            }
            if Instant::now() > deadline {
                return Err(format!("the plugin did not exit within {timeout:?}; stderr:\n{}", self.stderr()));
            }
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Closes the plugin's standard input and waits for it to exit.
    fn close(&mut self) -> Result<ExitStatus, String> {
        self.stdin = None;
        self.wait(Duration::from_secs(5))
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn none() -> Value {
    json!({})
}

fn t_handshake() -> TestResult {
    let mut p = Peer::start(&[]);
    let ans = p.initialize(none())?;
    check_eq!(
        ans,
        json!({ "jsonrpc": "2.0", "id": 1, "result": { "protocol": 1, "name": "conformance", "version": "1.0.0", "hooks": FUNCTIONS.to_vec() } })
    );
    // Once is enough.
    check_eq!(p.initialize(none())?["error"]["code"], json!(-32600));
    Ok(())
}

fn t_wire_format() -> TestResult {
    let mut p = Peer::ready(&[], none())?;
    let id = p.call("echo", json!({ "a": 1 }));
    p.answer(id)?;
    check!(p.stdout().ends_with("\n{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"a\":1}}\n"), "stdout: {}", p.stdout());
    Ok(())
}

fn t_protocol_refused() -> TestResult {
    let mut p = Peer::start(&[]);
    let ans = p.initialize(json!({ "protocols": [2, 3] }))?;
    check_eq!(ans["error"]["code"], json!(-32000));
    check!(ans["error"]["message"].as_str().unwrap_or("").contains("speaks protocol 1, host offers [2,3]"), "{ans}");
    Ok(())
}

fn t_call_before_initialize() -> TestResult {
    let mut p = Peer::start(&[]);
    let id = p.call("echo", json!(1));
    check_eq!(p.answer(id)?["error"]["code"], json!(-32600));
    Ok(())
}

fn t_hook_settings_and_log() -> TestResult {
    let mut p = Peer::ready(&[], json!({ "config": { "greeting": "hola" } }))?;
    let id = p.call_with("greet", json!({ "name": "ada" }), json!({ "phase": "define", "timeout_ms": 10000 }));
    let log = p.host_request("log")?;
    check_eq!(log["params"], json!({ "level": "info", "msg": "greeting someone", "attrs": { "name": "ada" } }));
    check!(log["id"].as_u64().is_some(), "host call id {} is not an integer", log["id"]);
    p.reply(&log["id"], Value::Null);
    check_eq!(p.answer(id)?["result"], json!({ "message": "hola, ada" }));
    Ok(())
}

fn t_settings_and_grants() -> TestResult {
    let config = json!({ "greeting": "hi", "retries": 2, "tags": ["a", "b"], "on": true, "ratio": 0.5 });
    let mut p = Peer::ready(&[], json!({ "config": config.clone(), "grants": ["log", "kv"], "functions": ["log", "kv.get"] }))?;
    let id = p.call("config", Value::Null);
    check_eq!(p.answer(id)?["result"], config);
    let id = p.call("grants", Value::Null);
    check_eq!(
        p.answer(id)?["result"],
        json!({ "plugin": "conformance", "grants": ["log", "kv"], "functions": ["log", "kv.get"], "granted_log": true })
    );
    Ok(())
}

fn t_context() -> TestResult {
    let mut p = Peer::ready(&[], none())?;
    let id = p.call_with("context", Value::Null, json!({ "timeout_ms": 5000 }));
    check_eq!(
        p.answer(id)?["result"],
        json!({ "name": "context", "phase": "", "has_deadline": true, "remaining_ok": true, "traceparent": "", "tracestate": "" })
    );
    let id = p.call("context", Value::Null);
    check_eq!(
        p.answer(id)?["result"],
        json!({ "name": "context", "phase": "", "has_deadline": false, "remaining_ok": true, "traceparent": "", "tracestate": "" })
    );
    let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let id = p.call_with("context", Value::Null, json!({ "traceparent": tp, "tracestate": "k=v" }));
    let ans = p.answer(id)?;
    check_eq!((ans["result"]["traceparent"].clone(), ans["result"]["tracestate"].clone()), (json!(tp), json!("k=v")));
    let id = p.call_with("context", Value::Null, json!({ "traceparent": 7 }));
    check_eq!(p.answer(id)?["result"]["traceparent"], json!(""));
    let after = json!({ "input": { "name": "ada" }, "output": { "message": "hello, ada" } });
    let id = p.call_with("observe", after.clone(), json!({ "phase": "after" }));
    check_eq!(p.answer(id)?["result"], json!({ "phase": "after", "input": after }));
    Ok(())
}

fn t_unknown_names() -> TestResult {
    let mut p = Peer::ready(&[], none())?;
    let id = p.call("nope", Value::Null);
    let ans = p.answer(id)?;
    check_eq!(ans["error"]["code"], json!(-32004));
    check!(ans["error"]["message"].as_str().unwrap_or("").contains("does not implement \"nope\""), "{ans}");
    check_eq!(p.round_trip("frobnicate", none())?["error"]["code"], json!(-32601));
    p.send(json!({ "jsonrpc": "2.0", "method": "$/progress", "params": {} }));
    let id = p.call("echo", json!(7));
    check_eq!(p.answer(id)?["result"], json!(7));
    check!(p.queue.is_empty(), "unexpected messages {:?}", p.queue);
    Ok(())
}

fn t_bad_call_params() -> TestResult {
    let mut p = Peer::ready(&[], none())?;
    check_eq!(p.round_trip("call", json!({ "name": 42 }))?["error"]["code"], json!(-32602));
    check_eq!(p.round_trip("call", json!("greet"))?["error"]["code"], json!(-32602));
    check_eq!(p.round_trip("call", json!({ "name": "echo", "timeout_ms": "soon" }))?["error"]["code"], json!(-32602));
    Ok(())
}

fn t_failures() -> TestResult {
    let mut p = Peer::ready(&[], none())?;
    let id = p.call("fail", Value::Null);
    check_eq!(p.answer(id)?["error"], json!({ "code": -32000, "message": "always fails" }));
    let id = p.call("failcode", json!({ "code": -32099, "message": "mine", "data": { "x": 1 } }));
    check_eq!(p.answer(id)?["error"], json!({ "code": -32099, "message": "mine", "data": { "x": 1 } }));
    let id = p.call("parsed", json!({ "n": "two" }));
    check_eq!(
        p.answer(id)?["error"],
        json!({ "code": -32602, "message": "parsed: invalid input: n: expected an integer, found a string" })
    );
    let id = p.call("parsed", json!({ "n": 21 }));
    check_eq!(p.answer(id)?["result"], json!(42));
    let id = p.call("panic", Value::Null);
    check_eq!(p.answer(id)?["error"], json!({ "code": -32000, "message": "panic: handler panicked: on purpose" }));
    // The plugin survives its handler's panic.
    let id = p.call("echo", json!("alive"));
    check_eq!(p.answer(id)?["result"], json!("alive"));
    Ok(())
}

fn t_host_calls() -> TestResult {
    let mut p = Peer::ready(&[], json!({ "functions": ["log", "secret.read"] }))?;
    let id = p.call("callhost", json!({ "fn": "secret.read", "input": { "key": "k1" } }));
    let req = p.host_request("secret.read")?;
    check_eq!(req["params"], json!({ "key": "k1" }));
    p.reply(&req["id"], json!("value-of-k1"));
    check_eq!(p.answer(id)?["result"], json!({ "result": "value-of-k1" }));

    let id = p.call("callhost", json!({ "fn": "secret.read", "input": {} }));
    let req2 = p.host_request("secret.read")?;
    check!(req2["id"] != req["id"], "host call ids repeat: {}", req["id"]);
    p.send(json!({ "jsonrpc": "2.0", "id": req2["id"].clone(), "error": { "code": -32001, "message": "capability \"secret.read\" not granted" } }));
    check_eq!(p.answer(id)?["result"], json!({ "code": -32001, "message": "capability \"secret.read\" not granted", "denied": true }));

    let id = p.call("callhost", json!({ "fn": "no.such", "input": null }));
    let req3 = p.host_request("no.such")?;
    p.send(json!({ "jsonrpc": "2.0", "id": req3["id"].clone(), "error": { "code": -32601, "message": "no such function" } }));
    check_eq!(p.answer(id)?["result"], json!({ "code": -32601, "message": "no such function", "denied": false }));
    Ok(())
}

fn t_host_calls_out_of_order() -> TestResult {
    let mut p = Peer::ready(&[], json!({ "functions": ["log", "double"] }))?;
    let id = p.call("callhost2", json!({ "fn": "double", "a": 1, "b": 2 }));
    let r1 = p.host_request("double")?;
    let r2 = p.host_request("double")?;
    let (a, b) = (r1["params"].as_i64().unwrap_or(0), r2["params"].as_i64().unwrap_or(0));
    p.reply(&r2["id"], json!(b * 2));
    p.reply(&r1["id"], json!(a * 2));
    check_eq!(p.answer(id)?["result"], json!([2, 4]));
    Ok(())
}

fn t_interleaved() -> TestResult {
    let mut p = Peer::ready(&[], none())?;
    let barriers: Vec<i64> = (0..8).map(|_| p.call("barrier", json!(8))).collect();
    let echoes: Vec<i64> = (0..40).map(|i| p.call("echo", json!(format!("e{i}")))).collect();
    for (i, id) in echoes.into_iter().enumerate() {
        check_eq!(p.answer(id)?["result"], json!(format!("e{i}")));
    }
    for id in barriers {
        check_eq!(p.answer(id)?["result"], json!(8));
    }
    Ok(())
}

fn t_busy() -> TestResult {
    let mut p = Peer::ready(&["--max-in-flight=2"], none())?;
    let a = p.call("sleep", json!(10000));
    let b = p.call("sleep", json!(10000));
    let id = p.call("echo", json!(1));
    check_eq!(p.answer(id)?["error"]["code"], json!(-32003));
    p.cancel(a);
    p.cancel(b);
    p.answer(a)?;
    p.answer(b)?;
    let id = p.call("echo", json!(2));
    check_eq!(p.answer(id)?["result"], json!(2));
    Ok(())
}

fn t_cancel() -> TestResult {
    let mut p = Peer::ready(&[], none())?;
    let id = p.call("sleep", json!(60000));
    thread::sleep(Duration::from_millis(50));
    let start = Instant::now();
    p.cancel(id);
    let ans = p.answer(id)?;
    check_eq!(ans["error"], json!({ "code": -32002, "message": "cancelled by the host" }));
    check!(start.elapsed() < Duration::from_secs(1), "answered after {:?}", start.elapsed());
    // A cancel for a finished or unknown call is ignored.
    p.cancel(id);
    p.cancel(999);
    let id = p.call("echo", json!(3));
    check_eq!(p.answer(id)?["result"], json!(3));
    Ok(())
}

fn t_deadline() -> TestResult {
    let mut p = Peer::ready(&[], none())?;
    let start = Instant::now();
    let id = p.call_with("sleep", json!(60000), json!({ "timeout_ms": 150 }));
    let ans = p.answer(id)?;
    check_eq!(ans["error"], json!({ "code": -32002, "message": "deadline of 150 ms passed" }));
    check!(start.elapsed() >= Duration::from_millis(140), "answered after {:?}", start.elapsed());
    Ok(())
}

fn t_cancel_reaches_host_call() -> TestResult {
    let mut p = Peer::ready(&[], json!({ "functions": ["log", "slow"] }))?;
    let id = p.call("callhost", json!({ "fn": "slow", "input": null }));
    let req = p.host_request("slow")?;
    check_eq!(req["origin"], json!(id)); // the call it is made during
    p.cancel(id);
    let cancel = p.host_request("$/cancel")?;
    check_eq!(cancel, json!({ "jsonrpc": "2.0", "method": "$/cancel", "params": { "id": req["id"].clone() } }));
    check_eq!(p.answer(id)?["error"]["code"], json!(-32002));
    // The host answers anyway: allowed once, and it changes nothing.
    p.send(json!({ "jsonrpc": "2.0", "id": req["id"].clone(), "error": { "code": -32002, "message": "cancelled" } }));
    let id = p.call("echo", json!(4));
    check_eq!(p.answer(id)?["result"], json!(4));
    Ok(())
}

fn t_deadline_reaches_host_call() -> TestResult {
    let mut p = Peer::ready(&[], json!({ "functions": ["log", "slow"] }))?;
    let id = p.call_with("callhost", json!({ "fn": "slow", "input": null }), json!({ "timeout_ms": 100 }));
    let req = p.host_request("slow")?;
    let cancel = p.host_request("$/cancel")?;
    check_eq!(cancel["params"]["id"], req["id"]);
    check_eq!(p.answer(id)?["error"], json!({ "code": -32002, "message": "deadline of 100 ms passed" }));
    Ok(())
}

fn t_stray_print() -> TestResult {
    let mut p = Peer::ready(&[], none())?;
    let id = p.call("print", Value::Null);
    check_eq!(p.answer(id)?["result"], json!("printed"));
    let id = p.call("echo", json!(5));
    check_eq!(p.answer(id)?["result"], json!(5));
    check!(!p.stdout().contains("stray"), "stray print on the protocol: {}", p.stdout());
    p.stderr_holds("stray print from println!")
}

fn t_log_fallback() -> TestResult {
    let mut p = Peer::ready(&[], json!({ "functions": [] }))?;
    let id = p.call("log", json!({ "level": "warn", "msg": "careful", "attrs": { "n": 1 } }));
    check_eq!(p.answer(id)?["result"], json!("logged"));
    p.stderr_holds("warn: careful {\"n\":1}")
}

fn t_kv() -> TestResult {
    let mut p = Peer::ready(&[], json!({ "functions": ["kv.get", "kv.set", "kv.list", "kv.delete"] }))?;
    let id = p.call("kv", Value::Null);
    let mut store = std::collections::BTreeMap::<String, Value>::new();
    let mut seen = Vec::new();
    for _ in 0..5 {
        let r = p.host_request("")?;
        let method = r["method"].as_str().unwrap_or("").to_owned();
        let key = r["params"]["key"].as_str().unwrap_or("").to_owned();
        let result = match method.as_str() {
            "kv.set" => {
                store.insert(key, r["params"]["value"].clone());
                Value::Null
            }
            "kv.get" => json!({ "value": store.get(&key).cloned(), "found": store.contains_key(&key) }),
            "kv.list" => {
                json!({ "keys": store.keys().filter(|k| k.starts_with(r["params"]["prefix"].as_str().unwrap_or(""))).cloned().collect::<Vec<_>>() })
            }
            "kv.delete" => {
                store.remove(&key);
                Value::Null
            }
            _ => Value::Null,
        };
        seen.push(method);
        p.reply(&r["id"], result);
    }
    check_eq!(seen, vec!["kv.set", "kv.get", "kv.list", "kv.delete", "kv.get"]);
    check_eq!(p.answer(id)?["result"], json!({ "got": { "n": 1 }, "keys": ["k1"], "gone": null }));
    Ok(())
}

fn t_result_over_limit() -> TestResult {
    let mut p = Peer::ready(&["--max-message-bytes=4096"], none())?;
    let id = p.call("big", json!(1000));
    check_eq!(p.answer(id)?["result"].as_str().map(str::len), Some(1000));
    let id = p.call("big", json!(5000));
    let ans = p.answer(id)?;
    check_eq!(ans["error"]["code"], json!(-32603));
    check!(ans["error"]["message"].as_str().unwrap_or("").contains("exceeds the message limit of 4096 bytes"), "{ans}");
    Ok(())
}

fn t_unicode_round_trip() -> TestResult {
    let mut p = Peer::ready(&[], none())?;
    let text = "h\u{e9}llo \u{1F600} \"q\" \\ \n\t\u{1} \u{2028} end";
    p.write(
        b"{\"jsonrpc\":\"2.0\",\"id\":\"u\",\"method\":\"call\",\"params\":{\"name\":\"echo\",\"input\":\"\\ud83d\\ude00 \\u00e9 \\/\"}}\n",
    );
    check_eq!(p.answer("u")?["result"], json!("\u{1F600} \u{e9} /"));
    let id = p.call("echo", json!(text));
    check_eq!(p.answer(id)?["result"], json!(text));
    Ok(())
}

fn t_limits_answered_not_fatal() -> TestResult {
    let mut p = Peer::ready(&[], none())?;
    let deep = format!("{}{}", "[".repeat(600), "]".repeat(600));
    p.write(
        format!("{{\"jsonrpc\":\"2.0\",\"id\":\"d\",\"method\":\"call\",\"params\":{{\"name\":\"echo\",\"input\":{deep}}}}}\n").as_bytes(),
    );
    let ans = p.answer("d")?;
    check_eq!(ans["error"]["code"], json!(-32602));
    check!(ans["error"]["message"].as_str().unwrap_or("").contains("nested deeper than 512"), "{ans}");
    p.write(b"{\"jsonrpc\":\"2.0\",\"id\":\"n\",\"method\":\"call\",\"params\":{\"name\":\"echo\",\"input\":1e400}}\n");
    check_eq!(p.answer("n")?["error"]["code"], json!(-32602));
    let id = p.call("echo", json!(6));
    check_eq!(p.answer(id)?["result"], json!(6));
    Ok(())
}

fn t_framing() -> TestResult {
    let mut p = Peer::ready(&[], none())?;
    p.write(b"\r\n\n{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"method\":\"call\",\"params\":{\"name\":\"echo\",\"input\":1}}\r\n");
    p.write(b"{\"jsonrpc\":\"2.0\",\"id\":\"b\",\"method\":\"call\",\"params\":{\"name\":\"echo\",\"input\":2}}\n{\"jsonrpc\":\"2.0\",");
    thread::sleep(Duration::from_millis(30));
    p.write(b" \"id\" : \"c\", \"method\":\"call\",\"params\":{\"input\":3,\"name\":\"echo\"}}\n");
    check_eq!(p.answer("a")?["result"], json!(1));
    check_eq!(p.answer("b")?["result"], json!(2));
    check_eq!(p.answer("c")?["result"], json!(3));
    Ok(())
}

fn t_shutdown() -> TestResult {
    let mut p = Peer::ready(&[], none())?;
    check_eq!(p.round_trip("shutdown", Value::Null)?, json!({ "jsonrpc": "2.0", "id": 2, "result": null }));
    let st = p.close()?;
    check!(st.success(), "exit status {st}");
    p.stderr_holds("conformance: shutting down")
}

fn t_eof_with_calls_in_flight() -> TestResult {
    let mut p = Peer::ready(&[], none())?;
    p.call("hang", Value::Null);
    let start = Instant::now();
    let st = p.close()?;
    check!(st.success(), "exit status {st}");
    check!(start.elapsed() < Duration::from_secs(2), "took {:?}", start.elapsed());
    Ok(())
}

fn violation(text: &[u8], say: &str) -> TestResult {
    let mut p = Peer::ready(&["--max-message-bytes=4096"], none())?;
    p.write(text);
    let st = p.wait(Duration::from_secs(5))?;
    check_eq!(st.code(), Some(1));
    p.stderr_holds(say)
}

fn t_violations() -> TestResult {
    let big = format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"call\",\"params\":{{\"name\":\"echo\",\"input\":\"{}\"}}}}\n",
        "x".repeat(5000)
    );
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("invalid JSON", b"{\"jsonrpc\":\"2.0\",\n".to_vec(), "invalid JSON"),
        ("invalid UTF-8", vec![0x7b, 0xff, 0x7d, 0x0a], "not valid UTF-8"),
        ("no jsonrpc", b"{\"id\":5,\"method\":\"call\"}\n".to_vec(), "missing \"jsonrpc\""),
        ("an array", b"[1,2]\n".to_vec(), "not a JSON-RPC message"),
        ("duplicate member", b"{\"jsonrpc\":\"2.0\",\"id\":5,\"id\":6,\"method\":\"call\"}\n".to_vec(), "duplicate member name"),
        ("unknown response id", b"{\"jsonrpc\":\"2.0\",\"id\":77,\"result\":null}\n".to_vec(), "unknown or already answered id"),
        (
            "id of the wrong type",
            b"{\"jsonrpc\":\"2.0\",\"id\":{\"x\":1},\"method\":\"call\"}\n".to_vec(),
            "id must be a number or a string",
        ),
        ("over the limit", big.into_bytes(), "exceeds the limit"),
        ("flood without newline", vec![b'x'; 9000], "exceeds the limit"),
    ];
    for (what, text, say) in cases {
        violation(&text, say).map_err(|e| format!("{what}: {e}"))?;
    }
    Ok(())
}

fn t_duplicate_request_id() -> TestResult {
    let mut p = Peer::ready(&[], none())?;
    p.send(json!({ "jsonrpc": "2.0", "id": 50, "method": "call", "params": { "name": "sleep", "input": 10000 } }));
    p.send(json!({ "jsonrpc": "2.0", "id": 50, "method": "call", "params": { "name": "echo", "input": 1 } }));
    let st = p.wait(Duration::from_secs(5))?;
    check_eq!(st.code(), Some(1));
    p.stderr_holds("request id already in use")
}

fn main() {
    if std::env::var_os("AIRLOCK_CONFORMANCE").is_some() {
        conformance::plugin().run();
    }
    let tests: &[Test] = &[
        ("handshake", t_handshake),
        ("wire_format", t_wire_format),
        ("protocol_refused", t_protocol_refused),
        ("call_before_initialize", t_call_before_initialize),
        ("hook_settings_and_log", t_hook_settings_and_log),
        ("settings_and_grants", t_settings_and_grants),
        ("context", t_context),
        ("unknown_names", t_unknown_names),
        ("bad_call_params", t_bad_call_params),
        ("failures", t_failures),
        ("host_calls", t_host_calls),
        ("host_calls_out_of_order", t_host_calls_out_of_order),
        ("interleaved", t_interleaved),
        ("busy", t_busy),
        ("cancel", t_cancel),
        ("deadline", t_deadline),
        ("cancel_reaches_host_call", t_cancel_reaches_host_call),
        ("deadline_reaches_host_call", t_deadline_reaches_host_call),
        ("stray_print", t_stray_print),
        ("log_fallback", t_log_fallback),
        ("kv", t_kv),
        ("result_over_limit", t_result_over_limit),
        ("unicode_round_trip", t_unicode_round_trip),
        ("limits_answered_not_fatal", t_limits_answered_not_fatal),
        ("framing", t_framing),
        ("shutdown", t_shutdown),
        ("eof_with_calls_in_flight", t_eof_with_calls_in_flight),
        ("violations", t_violations),
        ("duplicate_request_id", t_duplicate_request_id),
    ];
    let filter: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let selected: Vec<_> = tests.iter().filter(|(n, _)| filter.is_empty() || filter.iter().any(|f| n.contains(f.as_str()))).collect();
    println!("\nrunning {} tests", selected.len());
    // Each test has its own plugin process: run them on a few threads.
    let results: Vec<(&str, TestResult)> = thread::scope(|s| {
        let chunks: Vec<_> = selected.chunks(selected.len().div_ceil(4).max(1)).collect();
        let handles: Vec<_> = chunks.into_iter().map(|c| s.spawn(move || c.iter().map(|(n, f)| (*n, f())).collect::<Vec<_>>())).collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let mut failed = 0;
    for (name, r) in &results {
        match r {
            Ok(()) => println!("test {name} ... ok"),
            Err(e) => {
                failed += 1;
                println!("test {name} ... FAILED\n    {}", e.replace('\n', "\n    "));
            }
        }
    }
    let passed = results.len() - failed;
    println!("\ntest result: {}. {passed} passed; {failed} failed\n", if failed == 0 { "ok" } else { "FAILED" });
    if failed > 0 {
        std::process::exit(1);
    }
}
