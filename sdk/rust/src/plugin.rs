//! The plugin: its identity, its handlers, and how it serves the host.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::sync::Arc;

use crate::context::{Context, Host};
use crate::error::Error;
use crate::json::{FromValue, Value};
use crate::session::{HandlerFn, Shared, ShutdownFn};
use crate::{sys, DEFAULT_MAX_IN_FLIGHT, DEFAULT_MAX_MESSAGE_BYTES};

/// A set of handlers with the plugin's identity, built with chained calls
/// and then run:
///
/// ```no_run
/// use airlock_plugin::{json, Context, Error, Plugin, Value};
///
/// fn echo(_ctx: &Context, input: Value) -> Result<Value, Error> {
///     Ok(input)
/// }
///
/// Plugin::new("echoer", "1.0.0")
///     .function("echo", echo)
///     .hook("greet", |ctx: &Context, name: String| -> Result<Value, Error> {
///         Ok(json!({ "message": format!("{}, {name}", ctx.setting_str("greeting").unwrap_or("hello")) }))
///     })
///     .run();
/// ```
pub struct Plugin {
    name: String,
    version: String,
    handlers: BTreeMap<String, HandlerFn>,
    on_shutdown: Option<ShutdownFn>,
    max_in_flight: usize,
    max_message_bytes: usize,
}

impl Plugin {
    /// A plugin with no handlers. name and version must match the plugin's
    /// manifest: the host checks them in the handshake.
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> Plugin {
        Plugin {
            name: name.into(),
            version: version.into(),
            handlers: BTreeMap::new(),
            on_shutdown: None,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
        }
    }

    /// Registers handler for the hook called name. The input is converted
    /// into `I` (a failure is answered `INVALID_PARAMS` without running the
    /// handler), the output from `O`. Every hook the manifest lists needs a
    /// handler, and nothing else may be registered.
    ///
    /// Each call runs on a thread of its own, so a handler may block: on
    /// host calls, on I/O, on [`Context::sleep`]. A panic fails the call,
    /// not the plugin.
    ///
    /// # Panics
    ///
    /// If a handler for name is registered already.
    pub fn hook<I, O, F>(self, name: &str, handler: F) -> Plugin
    where
        I: FromValue,
        O: Into<Value>,
        F: Fn(&Context, I) -> Result<O, Error> + Send + Sync + 'static,
    {
        self.register(name, handler)
    }

    /// Registers handler for a function the host calls directly, outside
    /// any hook. Otherwise the same as [`hook`](Plugin::hook).
    ///
    /// # Panics
    ///
    /// If a handler for name is registered already.
    pub fn function<I, O, F>(self, name: &str, handler: F) -> Plugin
    where
        I: FromValue,
        O: Into<Value>,
        F: Fn(&Context, I) -> Result<O, Error> + Send + Sync + 'static,
    {
        self.register(name, handler)
    }

    fn register<I, O, F>(mut self, name: &str, handler: F) -> Plugin
    where
        I: FromValue,
        O: Into<Value>,
        F: Fn(&Context, I) -> Result<O, Error> + Send + Sync + 'static,
    {
        assert!(!name.is_empty(), "airlock_plugin: a handler's name must not be empty");
        assert!(!self.handlers.contains_key(name), "airlock_plugin: a handler for {name:?} is registered already");
        let f: HandlerFn = Arc::new(move |ctx: &Context, input: Value| {
            let input =
                I::from_value(input).map_err(|e| Error::new(e.code(), format!("{}: invalid input: {}", ctx.name(), e.message())))?;
            handler(ctx, input).map(Into::into)
        });
        self.handlers.insert(name.to_owned(), f);
        self
    }

    /// Runs f when the host asks the plugin to shut down, before the SDK
    /// answers (the host waits 3 s by default). It may call the host.
    pub fn on_shutdown(mut self, f: impl Fn(&Host) + Send + Sync + 'static) -> Plugin {
        self.on_shutdown = Some(Arc::new(f));
        self
    }

    /// Bounds the calls handled at once (default 64, the host's default);
    /// more are answered `BUSY`.
    pub fn max_in_flight(mut self, n: usize) -> Plugin {
        self.max_in_flight = n.max(1);
        self
    }

    /// Bounds one message, read or written, in bytes (default 4 MiB, the
    /// host's default: set it to the operator's `max_message_bytes` if they
    /// changed it). A larger message from the host ends the session; a
    /// larger result is answered with an error instead.
    pub fn max_message_bytes(mut self, n: usize) -> Plugin {
        self.max_message_bytes = n.max(1024);
        self
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The plugin's version.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The registered hooks and functions, sorted: what the handshake
    /// answers.
    pub fn names(&self) -> Vec<&str> {
        self.handlers.keys().map(String::as_str).collect()
    }

    /// Serves the host over standard input and output, then exits the
    /// process: status 0 when the host closes the input, 1 if it broke the
    /// protocol or the protocol could not be set up (the reason goes to
    /// standard error, the plugin's log).
    ///
    /// On Unix it first moves the protocol onto a private duplicate of
    /// standard output and points descriptor 1 at standard error, so that
    /// a stray `println!` lands in the log instead of corrupting the
    /// protocol; on Linux it also makes the process non-dumpable, so that
    /// other processes of the same user cannot open its pipes through
    /// /proc. Handlers still running when the input ends are abandoned.
    pub fn run(self) -> ! {
        let name = self.name.clone();
        sys::protect_process();
        let code = match sys::private_stdout() {
            Err(e) => {
                eprintln!("{name}: move the protocol off standard output: {e}");
                1
            }
            Ok(out) => match self.serve_boxed(io::stdin().lock(), out) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("{name}: {e}");
                    1
                }
            },
        };
        let _ = io::stderr().flush();
        std::process::exit(code)
    }

    /// Serves the host over input and output until input ends (`Ok`) or
    /// the host breaks the protocol (an error of kind `InvalidData`).
    /// Handlers may still be running when it returns. Tests and unusual
    /// embeddings use it; plugins call [`run`](Plugin::run).
    pub fn serve<R: Read, W: Write + Send + 'static>(self, input: R, output: W) -> io::Result<()> {
        self.serve_boxed(input, Box::new(output))
    }

    fn serve_boxed<R: Read>(self, input: R, output: Box<dyn Write + Send>) -> io::Result<()> {
        let shared = Arc::new(Shared::new(
            self.name,
            self.version,
            self.handlers,
            self.on_shutdown,
            self.max_in_flight,
            self.max_message_bytes,
            output,
        ));
        shared.serve(input)
    }
}
