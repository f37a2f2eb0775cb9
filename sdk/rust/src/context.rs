//! What handlers see: the host, the call, its cancellation.

use std::sync::mpsc::Sender;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::json::{FromValue, Map, Value};
use crate::session::{Answer, Init, Shared};

/// A level of the host's log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Level {
    /// `debug`
    Debug,
    /// `info`
    Info,
    /// `warn`
    Warn,
    /// `error`
    Error,
}

impl Level {
    /// The level's name in the protocol.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

/// The plugin's view of the host for the whole session: its settings, its
/// grants and the host functions it may call. Cheap to clone, `Send` and
/// `Sync`: a thread a handler starts may keep one.
#[derive(Clone)]
pub struct Host {
    pub(crate) shared: Arc<Shared>,
    pub(crate) init: Arc<Init>,
}

impl Host {
    /// The name the host knows this plugin by (the manifest's name).
    pub fn plugin(&self) -> &str {
        &self.init.plugin
    }

    /// The validated settings, defaults filled in.
    pub fn config(&self) -> &Map {
        &self.init.config
    }

    /// The setting called name; `None` when it is unset or null.
    pub fn setting(&self, name: &str) -> Option<&Value> {
        self.init.config.get(name).filter(|v| !v.is_null())
    }

    /// A `string` or `secret` setting; `None` when unset or not a string.
    pub fn setting_str(&self, name: &str) -> Option<&str> {
        self.setting(name).and_then(Value::as_str)
    }

    /// A `number` setting; `None` when unset or not a number.
    pub fn setting_f64(&self, name: &str) -> Option<f64> {
        self.setting(name).and_then(Value::as_f64)
    }

    /// A `bool` setting; `None` when unset or not a boolean.
    pub fn setting_bool(&self, name: &str) -> Option<bool> {
        self.setting(name).and_then(Value::as_bool)
    }

    /// A `list` setting; `None` when unset or not a list of strings.
    pub fn setting_list(&self, name: &str) -> Option<Vec<&str>> {
        self.setting(name)?.as_array()?.iter().map(Value::as_str).collect()
    }

    /// The capabilities the host granted: the manifest's, narrowed to the
    /// operator's grants.
    pub fn grants(&self) -> &[String] {
        &self.init.grants
    }

    /// Whether capability was granted, exactly as written.
    pub fn granted(&self, capability: &str) -> bool {
        self.init.grants.iter().any(|g| g == capability)
    }

    /// The host functions the grants let this plugin call.
    pub fn functions(&self) -> &[String] {
        &self.init.functions
    }

    /// Whether the host function is among [`functions`](Host::functions).
    pub fn can_call(&self, function: &str) -> bool {
        self.init.functions.iter().any(|f| f == function)
    }

    /// Calls the host function with input and waits for its result, for as
    /// long as the host takes. A handler calls [`Context::call`] instead,
    /// which gives up when the call is cancelled.
    pub fn call(&self, function: &str, input: impl Into<Value>) -> Result<Value, Error> {
        self.shared.call_host(function, input.into(), None)
    }

    /// Calls the host function, giving up when token is cancelled: the call
    /// then returns a cancelled error and the host is sent `$/cancel`.
    pub fn call_with(&self, function: &str, input: impl Into<Value>, token: &CancelToken) -> Result<Value, Error> {
        self.shared.call_host(function, input.into(), Some(token))
    }

    /// Writes one line to the host's log (see [`Context::log`]).
    pub fn log(&self, level: Level, msg: &str) {
        self.log_with(level, msg, Value::Null)
    }

    /// Writes one line with attributes (an object) to the host's log.
    pub fn log_with(&self, level: Level, msg: &str, attrs: impl Into<Value>) {
        log(self, None, level, msg, attrs.into())
    }

    /// The host's key-value store.
    pub fn kv(&self) -> Kv<'_> {
        Kv { host: self, token: None }
    }
}

fn log(host: &Host, token: Option<&CancelToken>, level: Level, msg: &str, attrs: Value) {
    let mut params = Map::new();
    params.insert("level".into(), level.as_str().into());
    params.insert("msg".into(), msg.into());
    let attrs = match attrs {
        Value::Object(m) if m.is_empty() => None,
        Value::Null => None,
        Value::Object(m) => Some(Value::Object(m)),
        other => Some(Value::Object(Map::from([("value".to_string(), other)]))),
    };
    if let Some(a) = &attrs {
        params.insert("attrs".into(), a.clone());
    }
    if host.can_call("log") && host.shared.call_host("log", Value::Object(params), token).is_ok() {
        return;
    }
    // Not granted, refused or cancelled: standard error is the log too.
    match attrs {
        Some(a) => eprintln!("{}: {msg} {a}", level.as_str()),
        None => eprintln!("{}: {msg}", level.as_str()),
    }
}

/// The host's key-value store: private to the plugin, kept by the host
/// across restarts, bounded by the host (needs the `kv` capability). Each
/// method is one host call.
pub struct Kv<'a> {
    host: &'a Host,
    token: Option<&'a CancelToken>,
}

impl Kv<'_> {
    fn call(&self, function: &str, input: Value) -> Result<Value, Error> {
        self.host.shared.call_host(function, input, self.token)
    }

    /// The value stored under key, or `None`.
    pub fn get(&self, key: &str) -> Result<Option<Value>, Error> {
        let mut r = self.call("kv.get", crate::json!({ "key": key }))?;
        Ok(if r["found"].as_bool() == Some(true) { r.as_object_mut().and_then(|m| m.remove("value")) } else { None })
    }

    /// Stores value under key.
    pub fn set(&self, key: &str, value: impl Into<Value>) -> Result<(), Error> {
        self.call("kv.set", crate::json!({ "key": key, "value": value.into() })).map(drop)
    }

    /// Deletes key.
    pub fn delete(&self, key: &str) -> Result<(), Error> {
        self.call("kv.delete", crate::json!({ "key": key })).map(drop)
    }

    /// The keys that start with prefix (all of them when it is empty).
    pub fn list(&self, prefix: &str) -> Result<Vec<String>, Error> {
        let r = self.call("kv.list", crate::json!({ "prefix": prefix }))?;
        r.field::<Vec<String>>("keys").map_err(|e| Error::failed(format!("kv.list: unexpected answer: {}", e.message())))
    }

    /// Atomically stores new under key if key holds old, and reports
    /// whether it did. An `old` of `None` means the key must not exist; a
    /// `new` of `None` deletes the key. Values compare as compact JSON.
    pub fn cas(&self, key: &str, old: Option<Value>, new: Option<Value>) -> Result<bool, Error> {
        let mut input = Map::from([("key".to_string(), Value::from(key))]);
        if let Some(old) = old {
            input.insert("old".to_string(), old);
        }
        if let Some(new) = new {
            input.insert("new".to_string(), new);
        }
        let r = self.call("kv.cas", Value::Object(input))?;
        r["swapped"].as_bool().ok_or_else(|| Error::failed("kv.cas: unexpected answer"))
    }
}

/// What a handler gets besides its input: the [`Host`], plus the call's
/// name, phase, deadline, cancellation and trace context.
pub struct Context {
    pub(crate) host: Host,
    pub(crate) name: String,
    pub(crate) phase: String,
    pub(crate) token: CancelToken,
    pub(crate) traceparent: String,
    pub(crate) tracestate: String,
}

impl Context {
    /// The hook or function called.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `"before"`, `"define"` or `"after"` for a hook; `""` for a function
    /// called directly.
    pub fn phase(&self) -> &str {
        &self.phase
    }

    /// The host's trace context for this call, as a W3C `traceparent`
    /// (`"00-TRACEID-SPANID-FLAGS"`), or `""` when the host does not trace
    /// it. Give it (with [`Context::tracestate`]) to an OpenTelemetry
    /// propagator's extract to make the plugin's spans children of the
    /// host's call span.
    pub fn traceparent(&self) -> &str {
        &self.traceparent
    }

    /// The W3C `tracestate` that goes with [`Context::traceparent`], or `""`.
    pub fn tracestate(&self) -> &str {
        &self.tracestate
    }

    /// The session's view of the host, to keep beyond this call.
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// See [`Host::plugin`].
    pub fn plugin(&self) -> &str {
        self.host.plugin()
    }

    /// See [`Host::config`].
    pub fn config(&self) -> &Map {
        self.host.config()
    }

    /// See [`Host::setting`].
    pub fn setting(&self, name: &str) -> Option<&Value> {
        self.host.setting(name)
    }

    /// See [`Host::setting_str`].
    pub fn setting_str(&self, name: &str) -> Option<&str> {
        self.host.setting_str(name)
    }

    /// See [`Host::setting_f64`].
    pub fn setting_f64(&self, name: &str) -> Option<f64> {
        self.host.setting_f64(name)
    }

    /// See [`Host::setting_bool`].
    pub fn setting_bool(&self, name: &str) -> Option<bool> {
        self.host.setting_bool(name)
    }

    /// See [`Host::setting_list`].
    pub fn setting_list(&self, name: &str) -> Option<Vec<&str>> {
        self.host.setting_list(name)
    }

    /// See [`Host::grants`].
    pub fn grants(&self) -> &[String] {
        self.host.grants()
    }

    /// See [`Host::granted`].
    pub fn granted(&self, capability: &str) -> bool {
        self.host.granted(capability)
    }

    /// See [`Host::functions`].
    pub fn functions(&self) -> &[String] {
        self.host.functions()
    }

    /// See [`Host::can_call`].
    pub fn can_call(&self, function: &str) -> bool {
        self.host.can_call(function)
    }

    /// Calls the host function with input and waits for its result. It
    /// gives up when this call is cancelled or its deadline passes: it then
    /// returns a cancelled error ([`Error::is_cancelled`]) and tells the
    /// host (`$/cancel`). A missing capability is an error for which
    /// [`Error::is_denied`] is true. Other threads may call the host at the
    /// same time; answers reach the right caller in any order.
    pub fn call(&self, function: &str, input: impl Into<Value>) -> Result<Value, Error> {
        self.host.shared.call_host(function, input.into(), Some(&self.token))
    }

    /// [`call`](Context::call), with the result converted into a `T`.
    pub fn call_as<T: FromValue>(&self, function: &str, input: impl Into<Value>) -> Result<T, Error> {
        let v = self.call(function, input)?;
        T::from_value(v).map_err(|e| Error::failed(format!("host call {function}: unexpected result: {}", e.message())))
    }

    /// Writes one line to the host's log: through the host function `log`
    /// when the plugin may call it (the `log` capability), else on standard
    /// error, which the host logs too. It never fails.
    pub fn log(&self, level: Level, msg: &str) {
        log(&self.host, Some(&self.token), level, msg, Value::Null)
    }

    /// [`log`](Context::log) with attributes (an object; any other value is
    /// logged as the attribute `value`).
    pub fn log_with(&self, level: Level, msg: &str, attrs: impl Into<Value>) {
        log(&self.host, Some(&self.token), level, msg, attrs.into())
    }

    /// The host's key-value store; its calls give up with this call.
    pub fn kv(&self) -> Kv<'_> {
        Kv { host: &self.host, token: Some(&self.token) }
    }

    /// Whether the host cancelled this call or its deadline passed.
    pub fn is_cancelled(&self) -> bool {
        self.token.is_cancelled()
    }

    /// `Err` (a cancelled error) once the call is cancelled or its deadline
    /// passed, so that long loops can stop with `ctx.check()?`.
    pub fn check(&self) -> Result<(), Error> {
        self.token.check()
    }

    /// Waits for d, or less if the call is cancelled (then `Err`).
    pub fn sleep(&self, d: Duration) -> Result<(), Error> {
        self.token.sleep(d)
    }

    /// When the host stops waiting, if it said.
    pub fn deadline(&self) -> Option<Instant> {
        self.token.deadline()
    }

    /// The time left before the deadline (zero once passed), if there is one.
    pub fn remaining(&self) -> Option<Duration> {
        self.token.deadline().map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// The call's cancellation, to hand to threads the handler starts.
    pub fn cancel_token(&self) -> &CancelToken {
        &self.token
    }
}

/// The cancellation of one call: cancelled by the host (`$/cancel`), by
/// its deadline, or when the connection ends. Clones share the state.
#[derive(Clone)]
pub struct CancelToken {
    inner: Arc<TokenInner>,
}

struct TokenInner {
    state: Mutex<TokenState>,
    cv: Condvar,
    deadline: Option<(Instant, u64)>,
    // The id of the host's call (as JSON) whose token this is: host calls
    // under it name it as their "origin", so that the host's spans for
    // them join the call's trace.
    origin: Option<String>,
}

struct TokenState {
    reason: Option<String>,
    // Host calls waiting under this token: woken when it is cancelled.
    waiters: Vec<(u64, Sender<Answer>)>,
}

impl Default for CancelToken {
    fn default() -> CancelToken {
        CancelToken::new()
    }
}

impl CancelToken {
    /// A token that is cancelled only by [`cancel`](CancelToken::cancel).
    pub fn new() -> CancelToken {
        CancelToken::with_timeout(0, None)
    }

    /// A token whose deadline is timeout_ms from now (none if 0).
    pub(crate) fn with_timeout(timeout_ms: u64, origin: Option<String>) -> CancelToken {
        let deadline =
            (timeout_ms > 0).then(|| Instant::now().checked_add(Duration::from_millis(timeout_ms)).map(|d| (d, timeout_ms))).flatten();
        CancelToken {
            inner: Arc::new(TokenInner {
                state: Mutex::new(TokenState { reason: None, waiters: Vec::new() }),
                cv: Condvar::new(),
                deadline,
                origin,
            }),
        }
    }

    /// The id of the host's call this token belongs to, as JSON.
    pub(crate) fn origin(&self) -> Option<&str> {
        self.inner.origin.as_deref()
    }

    fn lock(&self) -> MutexGuard<'_, TokenState> {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Cancels: whatever waits on the token (host calls, [`sleep`](CancelToken::sleep)) returns
    /// a cancelled error. The first reason stays.
    pub fn cancel(&self, reason: impl Into<String>) {
        let waiters = {
            let mut st = self.lock();
            if st.reason.is_none() {
                st.reason = Some(reason.into());
            }
            std::mem::take(&mut st.waiters)
        };
        self.inner.cv.notify_all();
        for (_, w) in waiters {
            let _ = w.send(Answer::Cancelled);
        }
    }

    /// The deadline, if any.
    pub fn deadline(&self) -> Option<Instant> {
        self.inner.deadline.map(|(d, _)| d)
    }

    /// Why the token was cancelled, or `None` while it is not.
    pub fn reason(&self) -> Option<String> {
        if let Some(r) = &self.lock().reason {
            return Some(r.clone());
        }
        match self.inner.deadline {
            Some((d, ms)) if Instant::now() >= d => Some(format!("deadline of {ms} ms passed")),
            _ => None,
        }
    }

    /// Whether the token was cancelled or its deadline passed.
    pub fn is_cancelled(&self) -> bool {
        self.reason().is_some()
    }

    /// `Err` with a cancelled error once the token is cancelled.
    pub fn check(&self) -> Result<(), Error> {
        match self.reason() {
            Some(r) => Err(Error::cancelled(r)),
            None => Ok(()),
        }
    }

    /// Waits for d, or less if the token is cancelled first (then `Err`).
    pub fn sleep(&self, d: Duration) -> Result<(), Error> {
        let until = Instant::now() + d;
        let mut st = self.lock();
        loop {
            if st.reason.is_some() {
                drop(st);
                return self.check();
            }
            let now = Instant::now();
            if let Some((dl, _)) = self.inner.deadline {
                if now >= dl {
                    drop(st);
                    return self.check();
                }
            }
            if now >= until {
                return Ok(());
            }
            let mut wait = until - now;
            if let Some((dl, _)) = self.inner.deadline {
                wait = wait.min(dl - now);
            }
            st = self.inner.cv.wait_timeout(st, wait).unwrap_or_else(|p| p.into_inner()).0;
        }
    }

    /// Adds a host call's answer channel, to be sent `Cancelled`; false if
    /// the token is cancelled already.
    pub(crate) fn register(&self, id: u64, tx: Sender<Answer>) -> bool {
        let mut st = self.lock();
        if st.reason.is_some() {
            return false;
        }
        st.waiters.push((id, tx));
        true
    }

    pub(crate) fn unregister(&self, id: u64) {
        self.lock().waiters.retain(|(i, _)| *i != id);
    }
}
