//! One connection with the host: the reader, the writer, the calls in
//! flight both ways.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::Instant;

use crate::context::{CancelToken, Context, Host};
use crate::error::{code, Error};
use crate::json::{write_string, Map, Parser, Value, MAX_DEPTH};
use crate::pool::Pool;
use crate::PROTOCOL;

pub(crate) type HandlerFn = Arc<dyn Fn(&Context, Value) -> Result<Value, Error> + Send + Sync>;
pub(crate) type ShutdownFn = Arc<dyn Fn(&Host) + Send + Sync>;

/// What the handshake told the plugin.
pub(crate) struct Init {
    pub(crate) plugin: String,
    pub(crate) config: Map,
    pub(crate) grants: Vec<String>,
    pub(crate) functions: Vec<String>,
}

/// What a host call waits for.
pub(crate) enum Answer {
    /// The host's response; true if it held values beyond the parser's
    /// limits (replaced by null).
    Response(Map, bool),
    /// The call's token was cancelled.
    Cancelled,
    /// The connection ended.
    Closed,
}

pub(crate) struct Shared {
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) handlers: BTreeMap<String, HandlerFn>,
    pub(crate) on_shutdown: Option<ShutdownFn>,
    pub(crate) max_in_flight: usize,
    pub(crate) max_message: usize,
    pub(crate) writer: Mutex<Box<dyn Write + Send>>,
    state: Mutex<State>,
    next_id: AtomicU64,
    pool: Pool,
}

#[derive(Default)]
struct State {
    init: Option<Arc<Init>>,
    closed: bool,
    // Our requests to the host, waiting for answers.
    pending: HashMap<u64, mpsc::Sender<Answer>>,
    // Our requests given up on, whose answers may still come (once).
    abandoned: HashSet<u64>,
    // The host's requests being handled, by id as JSON text; the token of
    // each call (None for a shutdown).
    running: HashMap<String, Option<CancelToken>>,
    in_flight: usize,
}

fn violation(reason: &str, line: &[u8]) -> io::Error {
    let cut = &line[..line.len().min(80)];
    let prefix = String::from_utf8_lossy(cut);
    io::Error::new(io::ErrorKind::InvalidData, format!("protocol violation: {reason}: {prefix:?}"))
}

/// Reads one line into buf, without its newline; false at end of input.
/// A line longer than max is a violation, found before it is all read.
fn read_line(r: &mut impl BufRead, buf: &mut Vec<u8>, max: usize) -> io::Result<bool> {
    buf.clear();
    loop {
        let avail = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if avail.is_empty() {
            if buf.is_empty() {
                return Ok(false);
            }
            return Err(violation("input ended inside a message", buf));
        }
        let (take, done) = match avail.iter().position(|&b| b == b'\n') {
            Some(i) => (i, true),
            None => (avail.len(), false),
        };
        if buf.len() + take > max {
            buf.extend_from_slice(&avail[..take.min(80)]);
            return Err(violation(&format!("message exceeds the limit of {max} bytes"), buf));
        }
        buf.extend_from_slice(&avail[..take]);
        r.consume(if done { take + 1 } else { take });
        if done {
            return Ok(true);
        }
    }
}

impl Shared {
    pub(crate) fn new(
        name: String,
        version: String,
        handlers: BTreeMap<String, HandlerFn>,
        on_shutdown: Option<ShutdownFn>,
        max_in_flight: usize,
        max_message: usize,
        writer: Box<dyn Write + Send>,
    ) -> Shared {
        Shared {
            name,
            version,
            handlers,
            on_shutdown,
            max_in_flight,
            max_message,
            writer: Mutex::new(writer),
            state: Mutex::new(State::default()),
            next_id: AtomicU64::new(0),
            pool: Pool::default(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reads and handles messages until the input ends (Ok) or the host
    /// breaks the protocol (Err, of kind InvalidData).
    pub(crate) fn serve(self: &Arc<Self>, input: impl Read) -> io::Result<()> {
        let mut r = BufReader::with_capacity(64 << 10, input);
        let mut buf = Vec::new();
        let result = loop {
            match read_line(&mut r, &mut buf, self.max_message) {
                Ok(true) => {}
                Ok(false) => break Ok(()),
                Err(e) => break Err(e),
            }
            if let Err(e) = self.on_line(&buf) {
                break Err(e);
            }
        };
        self.close();
        result
    }

    fn close(&self) {
        let (pending, running) = {
            let mut st = self.state();
            st.closed = true;
            (std::mem::take(&mut st.pending), st.running.values().flatten().cloned().collect::<Vec<_>>())
        };
        for (_, tx) in pending {
            let _ = tx.send(Answer::Closed);
        }
        for t in running {
            t.cancel("host connection closed");
        }
    }

    // -- transport ------------------------------------------------------

    /// Writes one message (and its newline) in one write.
    fn send(&self, mut line: String) -> io::Result<()> {
        line.push('\n');
        let mut w = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        w.write_all(line.as_bytes())?;
        w.flush()
    }

    fn reply(&self, id: &Value, result: Result<Value, Error>) {
        let mut line = String::from(r#"{"jsonrpc":"2.0","id":"#);
        id.write_json(&mut line);
        let head = line.len();
        match result {
            Ok(v) => {
                line.push_str(r#","result":"#);
                v.write_json(&mut line);
                line.push('}');
                if line.len() > self.max_message {
                    let e = Error::new(
                        code::INTERNAL_ERROR,
                        format!("result of {} bytes exceeds the message limit of {} bytes", line.len(), self.max_message),
                    );
                    line.truncate(head);
                    self.error_member(&mut line, &e);
                }
            }
            Err(e) => self.error_member(&mut line, &e),
        }
        let _ = self.send(line); // the host has gone: the reader sees it
    }

    fn error_member(&self, line: &mut String, e: &Error) {
        let head = line.len();
        line.push_str(r#","error":{"code":"#);
        line.push_str(&e.code().to_string());
        line.push_str(r#","message":"#);
        write_string(e.message(), line);
        if let Some(d) = e.data() {
            line.push_str(r#","data":"#);
            d.write_json(line);
        }
        line.push_str("}}");
        if line.len() > self.max_message {
            // Too long to send: the start of the message, no data.
            line.truncate(head);
            let mut cut = 4096.min(e.message().len());
            while !e.message().is_char_boundary(cut) {
                cut -= 1;
            }
            let short = Error::new(e.code(), format!("{} [cut: over the message limit]", &e.message()[..cut]));
            self.error_member(line, &short);
        }
    }

    // -- dispatch -------------------------------------------------------

    fn on_line(self: &Arc<Self>, line: &[u8]) -> io::Result<()> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r')) {
            return Ok(()); // blank
        }
        let text = std::str::from_utf8(line).map_err(|_| violation("message is not valid UTF-8", line))?;
        let mut p = Parser::new(text, MAX_DEPTH, true);
        let v = p.document().map_err(|e| violation(&format!("invalid JSON: {} at byte {}", e.message(), e.offset()), line))?;
        let limited = p.limited;
        let Value::Object(mut msg) = v else {
            return Err(violation("line is not a JSON-RPC message", line));
        };
        if msg.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
            return Err(violation(r#"missing "jsonrpc": "2.0""#, line));
        }
        let (has_result, has_error) = (msg.contains_key("result"), msg.contains_key("error"));
        if let Some(method) = msg.remove("method") {
            let method = match method {
                Value::String(m) if !m.is_empty() && !has_result && !has_error => m,
                _ => return Err(violation("neither a request nor a response", line)),
            };
            let params = msg.remove("params").unwrap_or(Value::Null);
            // $/cancel is never answered, even if it came with an id.
            let id = if method == "$/cancel" { None } else { msg.remove("id") };
            return match id {
                None => {
                    self.on_notification(&method, &params);
                    Ok(())
                }
                Some(id @ (Value::Number(_) | Value::String(_))) => {
                    let key = id.to_json();
                    if self.state().running.contains_key(&key) {
                        return Err(violation("request id already in use", line));
                    }
                    self.on_request(id, key, &method, params, limited);
                    Ok(())
                }
                Some(_) => Err(violation("request id must be a number or a string", line)),
            };
        }
        if msg.contains_key("id") && has_result != has_error {
            return self.on_response(msg, limited, line);
        }
        Err(violation("neither a request nor a response", line))
    }

    fn on_notification(&self, method: &str, params: &Value) {
        if method == "$/cancel" {
            let key = params["id"].to_json();
            let token = self.state().running.get(&key).cloned().flatten();
            if let Some(t) = token {
                t.cancel("cancelled by the host");
            }
        }
        // Other notifications are none of ours: ignored.
    }

    fn on_request(self: &Arc<Self>, id: Value, key: String, method: &str, params: Value, limited: bool) {
        match method {
            "initialize" => self.initialize(&id, params),
            "call" => self.call(id, key, params, limited),
            "shutdown" => self.shutdown(id, key),
            _ => self.reply(&id, Err(Error::new(code::METHOD_NOT_FOUND, format!("method {method:?} not found")))),
        }
    }

    fn initialize(&self, id: &Value, params: Value) {
        let Value::Object(mut p) = params else {
            return self.reply(id, Err(Error::invalid_input("initialize: params must be an object")));
        };
        if self.state().init.is_some() {
            return self.reply(id, Err(Error::new(code::INVALID_REQUEST, "initialize: already initialized")));
        }
        let offered = p.remove("protocols").unwrap_or(Value::Null);
        let speaks = offered.as_array().is_some_and(|a| a.iter().any(|v| v.as_u64() == Some(u64::from(PROTOCOL))));
        if !speaks {
            return self.reply(id, Err(Error::failed(format!("plugin {} speaks protocol {PROTOCOL}, host offers {offered}", self.name))));
        }
        let strings = |v: Option<Value>| -> Vec<String> {
            match v {
                Some(Value::Array(a)) => a.into_iter().filter_map(|x| if let Value::String(s) = x { Some(s) } else { None }).collect(),
                _ => Vec::new(),
            }
        };
        let init = Init {
            plugin: match p.remove("plugin") {
                Some(Value::String(s)) => s,
                _ => self.name.clone(),
            },
            config: match p.remove("config") {
                Some(Value::Object(m)) => m,
                _ => Map::new(),
            },
            grants: strings(p.remove("grants")),
            functions: strings(p.remove("functions")),
        };
        self.state().init = Some(Arc::new(init));
        let hooks: Vec<Value> = self.handlers.keys().map(|k| Value::from(k.as_str())).collect();
        let mut result = Map::new();
        result.insert("protocol".into(), Value::from(PROTOCOL));
        result.insert("name".into(), Value::from(self.name.as_str()));
        result.insert("version".into(), Value::from(self.version.as_str()));
        result.insert("hooks".into(), Value::Array(hooks));
        self.reply(id, Ok(Value::Object(result)));
    }

    fn call(self: &Arc<Self>, id: Value, key: String, params: Value, limited: bool) {
        let Some(init) = self.state().init.clone() else {
            return self.reply(&id, Err(Error::new(code::INVALID_REQUEST, "call before initialize")));
        };
        let Value::Object(mut p) = params else {
            return self.reply(&id, Err(Error::invalid_input(r#"call: params must be an object with a string "name""#)));
        };
        let Some(Value::String(name)) = p.remove("name") else {
            return self.reply(&id, Err(Error::invalid_input(r#"call: params must be an object with a string "name""#)));
        };
        let phase = match p.remove("phase") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s,
            Some(_) => return self.reply(&id, Err(Error::invalid_input(r#"call: "phase" must be a string"#))),
        };
        let timeout_ms = match p.remove("timeout_ms") {
            None | Some(Value::Null) => 0,
            Some(Value::Number(n)) => n.as_f64().max(0.0).ceil() as u64,
            Some(_) => return self.reply(&id, Err(Error::invalid_input(r#"call: "timeout_ms" must be a number"#))),
        };
        if limited {
            return self.reply(
                &id,
                Err(Error::invalid_input(format!(
                    "{name}: the input is beyond this SDK's limits (nested deeper than {MAX_DEPTH} levels, or a number out of range)"
                ))),
            );
        }
        let input = p.remove("input").unwrap_or(Value::Null);
        // Trace context: a hint only, ignored unless it is a string.
        let mut header = |key: &str| match p.remove(key) {
            Some(Value::String(s)) => s,
            _ => String::new(),
        };
        let (traceparent, tracestate) = (header("traceparent"), header("tracestate"));
        let token = CancelToken::with_timeout(timeout_ms, Some(key.clone()));
        {
            let mut st = self.state();
            if st.in_flight >= self.max_in_flight {
                drop(st);
                return self.reply(&id, Err(Error::new(code::BUSY, format!("too many calls in flight (limit {})", self.max_in_flight))));
            }
            st.in_flight += 1;
            st.running.insert(key.clone(), Some(token.clone()));
        }
        let Some(handler) = self.handlers.get(&name).cloned() else {
            self.finish(&key);
            return self.reply(&id, Err(Error::new(code::NOT_IMPLEMENTED, format!("plugin {} does not implement {name:?}", self.name))));
        };
        let ctx = Context { host: Host { shared: Arc::clone(self), init }, name, phase, token, traceparent, tracestate };
        let shared = Arc::clone(self);
        let slot = key.clone();
        let spawned = self.pool.spawn(Box::new(move || {
            let out = panic::catch_unwind(AssertUnwindSafe(|| handler(&ctx, input)));
            let result = out.unwrap_or_else(|p| {
                let what =
                    p.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| p.downcast_ref::<String>().cloned()).unwrap_or_default();
                Err(Error::failed(format!("{}: handler panicked: {what}", ctx.name)))
            });
            // Free the id and the slot before answering: the host may reuse
            // the id as soon as it has the answer.
            shared.finish(&slot);
            shared.reply(&id, result);
        }));
        if let Err(e) = spawned {
            // The closure, and with it id, went with the failed spawn.
            self.finish(&key);
            let id = Value::parse(&key).unwrap_or(Value::Null);
            self.reply(&id, Err(Error::new(code::BUSY, format!("cannot start a thread for the call: {e}"))));
        }
    }

    fn finish(&self, key: &str) {
        let mut st = self.state();
        if st.running.remove(key).flatten().is_some() {
            st.in_flight -= 1;
        }
    }

    fn shutdown(self: &Arc<Self>, id: Value, key: String) {
        let init = {
            let mut st = self.state();
            st.running.insert(key.clone(), None);
            st.init.clone()
        };
        let shared = Arc::clone(self);
        let done = move || {
            if let (Some(f), Some(init)) = (&shared.on_shutdown, init) {
                let host = Host { shared: Arc::clone(&shared), init };
                if let Err(p) = panic::catch_unwind(AssertUnwindSafe(|| f(&host))) {
                    drop(p);
                    eprintln!("{}: on_shutdown panicked", shared.name);
                }
            }
            shared.state().running.remove(&key);
            shared.reply(&id, Ok(Value::Null));
        };
        // On a thread of its own: the callback may call the host, whose
        // answers this reader must read.
        let _ = thread::Builder::new().name("airlock-shutdown".into()).spawn(done);
    }

    // -- plugin to host -------------------------------------------------

    pub(crate) fn call_host(&self, function: &str, input: Value, token: Option<&CancelToken>) -> Result<Value, Error> {
        if let Some(t) = token {
            t.check()?;
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let mut line = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"#);
        write_string(function, &mut line);
        if let Some(origin) = token.and_then(CancelToken::origin) {
            line.push_str(r#","origin":"#);
            line.push_str(origin);
        }
        line.push_str(r#","params":"#);
        input.write_json(&mut line);
        line.push('}');
        if line.len() > self.max_message {
            return Err(Error::failed(format!(
                "host call {function}: request of {} bytes exceeds the message limit of {} bytes",
                line.len(),
                self.max_message
            )));
        }
        let (tx, rx) = mpsc::channel();
        {
            let mut st = self.state();
            if st.closed {
                return Err(Error::failed("host connection closed"));
            }
            if st.init.is_none() {
                return Err(Error::new(code::INVALID_REQUEST, format!("host call {function} before initialize")));
            }
            st.pending.insert(id, tx.clone());
        }
        if let Some(t) = token {
            if !t.register(id, tx) {
                self.state().pending.remove(&id);
                return t.check().and(Err(Error::cancelled("cancelled")));
            }
        }
        if let Err(e) = self.send(line) {
            self.state().pending.remove(&id);
            if let Some(t) = token {
                t.unregister(id);
            }
            return Err(Error::failed(format!("host call {function}: {e}")));
        }
        let deadline = token.and_then(CancelToken::deadline);
        let got = match deadline {
            Some(d) => rx.recv_timeout(d.saturating_duration_since(Instant::now())),
            None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        if let Some(t) = token {
            t.unregister(id);
        }
        let answer = match got {
            Ok(Answer::Response(msg, limited)) => return response(function, msg, limited),
            Ok(Answer::Closed) | Err(RecvTimeoutError::Disconnected) => return Err(Error::failed("host connection closed")),
            Ok(Answer::Cancelled) | Err(RecvTimeoutError::Timeout) => {
                // Give up, unless the answer won the race.
                let gave_up = {
                    let mut st = self.state();
                    let gave_up = st.pending.remove(&id).is_some();
                    if gave_up {
                        st.abandoned.insert(id);
                    }
                    gave_up
                };
                if gave_up {
                    let _ = self.send(format!(r#"{{"jsonrpc":"2.0","method":"$/cancel","params":{{"id":{id}}}}}"#));
                    None
                } else {
                    rx.try_recv().ok()
                }
            }
        };
        match answer {
            Some(Answer::Response(msg, limited)) => response(function, msg, limited),
            _ => Err(Error::cancelled(token.and_then(CancelToken::reason).unwrap_or_else(|| "cancelled".into()))),
        }
    }

    fn on_response(&self, mut msg: Map, limited: bool, line: &[u8]) -> io::Result<()> {
        let id = msg.get("id").and_then(Value::as_u64);
        let mut st = self.state();
        if let Some(tx) = id.and_then(|id| st.pending.remove(&id)) {
            drop(st);
            msg.remove("id");
            let _ = tx.send(Answer::Response(msg, limited));
            return Ok(());
        }
        if id.is_some_and(|id| st.abandoned.remove(&id)) {
            return Ok(()); // the answer to a call we gave up on
        }
        Err(violation("response to an unknown or already answered id", line))
    }
}

/// The result of a host call from the host's response.
fn response(function: &str, mut msg: Map, limited: bool) -> Result<Value, Error> {
    if let Some(e) = msg.remove("error") {
        let code = e["code"].as_i64().unwrap_or(code::FAILED);
        let message = e["message"].as_str().map_or_else(|| format!("host call {function} failed"), str::to_owned);
        let mut err = Error::new(code, message);
        if let Some(d) = e.get("data") {
            err = err.with_data(d.clone());
        }
        return Err(err);
    }
    if limited {
        return Err(Error::failed(format!("host call {function}: the result is beyond this SDK's limits (nested deeper than {MAX_DEPTH} levels, or a number out of range)")));
    }
    Ok(msg.remove("result").unwrap_or(Value::Null))
}
