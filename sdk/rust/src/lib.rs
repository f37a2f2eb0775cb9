//! The Rust SDK for [Airlock](https://github.com/airlock-go/airlock)
//! process plugins, with no dependencies beyond `std`.
//!
//! A plugin registers typed handlers for its hooks and functions and calls
//! [`Plugin::run`]; the SDK speaks the protocol (JSON-RPC 2.0, one message
//! per line, over standard input and output) so the plugin never sees it:
//!
//! ```no_run
//! use airlock_plugin::{json, Context, Error, Level, Plugin, Value};
//!
//! fn greet(ctx: &Context, input: Value) -> Result<Value, Error> {
//!     let name = input["name"].as_str().unwrap_or("").trim().to_owned();
//!     if name.is_empty() {
//!         return Err("greet: name is empty".into());
//!     }
//!     ctx.log_with(Level::Info, "greeting someone", json!({ "name": &name }));
//!     let greeting = ctx.setting_str("greeting").unwrap_or("hello");
//!     Ok(json!({ "message": format!("{greeting}, {name}") }))
//! }
//!
//! fn main() {
//!     Plugin::new("hello-rust", "0.1.0").hook("greet", greet).run();
//! }
//! ```
//!
//! - Each call runs on a thread of its own; several are in flight at once,
//!   answered in any order. A handler may call the host ([`Context::call`])
//!   while other calls and host calls are in flight.
//! - Cancellation (`$/cancel`) and deadlines (`timeout_ms`) reach the
//!   handler through its [`Context`]: [`Context::is_cancelled`],
//!   [`Context::check`], [`Context::sleep`]; host calls give up by
//!   themselves. A handler must return soon after its call is cancelled:
//!   the host kills a plugin that has not answered within its grace period
//!   (1 s by default).
//! - JSON is the crate's own strict [`Value`] type ([`json`](mod@json)),
//!   with [`FromValue`] and `Into<Value>` for typed inputs and outputs.
//!
//! docs/sdk/rust.md is the reference; docs/PROTOCOL.md the protocol.

#![deny(missing_docs)]

mod context;
mod error;
pub mod json;
mod plugin;
mod pool;
mod session;
mod sys;

pub use context::{CancelToken, Context, Host, Kv, Level};
pub use error::{code, Error};
pub use json::{FromValue, Map, Number, ParseError, Value, MAX_DEPTH};
pub use plugin::Plugin;

/// The contract version this SDK speaks.
pub const PROTOCOL: u32 = 1;

/// The largest message read or written by default, in bytes (the host's
/// default).
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 4 << 20;

/// The calls handled at once by default (the host's default); more are
/// answered busy.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 64;
