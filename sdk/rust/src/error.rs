//! Errors with protocol codes.

use std::fmt;

use crate::json::{ParseError, Value};

/// The protocol's error codes (docs/PROTOCOL.md, "Error codes").
pub mod code {
    /// JSON-RPC: parse error.
    pub const PARSE_ERROR: i64 = -32700;
    /// JSON-RPC: invalid request (a call before initialize, say).
    pub const INVALID_REQUEST: i64 = -32600;
    /// No such method, or no such host function.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// The input does not fit.
    pub const INVALID_PARAMS: i64 = -32602;
    /// JSON-RPC: internal error.
    pub const INTERNAL_ERROR: i64 = -32603;
    /// The handler ran and failed; the message says why.
    pub const FAILED: i64 = -32000;
    /// A capability the call needs is not granted.
    pub const DENIED: i64 = -32001;
    /// Cancelled, or the deadline passed.
    pub const CANCELLED: i64 = -32002;
    /// Too many calls in flight.
    pub const BUSY: i64 = -32003;
    /// No such hook or function in this plugin.
    pub const NOT_IMPLEMENTED: i64 = -32004;
    /// Too many host calls in a short time.
    pub const RATE_LIMITED: i64 = -32005;
}

/// An error with a protocol code: what a handler returns to fail a call
/// (the host sees the code and the message), and what a host call returns
/// when the host refuses it.
///
/// ```
/// use airlock_plugin::{code, Error};
///
/// let e: Error = "greet: name is empty".into();
/// assert_eq!((e.code(), e.message()), (code::FAILED, "greet: name is empty"));
/// assert!(Error::new(code::DENIED, "no").is_denied());
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Error {
    code: i64,
    message: String,
    data: Option<Value>,
}

impl Error {
    /// An error with any code: the protocol's ([`code`]) or one of the
    /// plugin's own.
    pub fn new(code: i64, message: impl Into<String>) -> Error {
        Error { code, message: message.into(), data: None }
    }

    /// The handler ran and failed ([`code::FAILED`]).
    pub fn failed(message: impl fmt::Display) -> Error {
        Error::new(code::FAILED, message.to_string())
    }

    /// The input does not fit ([`code::INVALID_PARAMS`]).
    pub fn invalid_input(message: impl fmt::Display) -> Error {
        Error::new(code::INVALID_PARAMS, message.to_string())
    }

    /// The call was cancelled, or its deadline passed ([`code::CANCELLED`]).
    pub fn cancelled(message: impl fmt::Display) -> Error {
        Error::new(code::CANCELLED, message.to_string())
    }

    /// The same error carrying data, sent to the host as the error's `data`.
    pub fn with_data(mut self, data: impl Into<Value>) -> Error {
        self.data = Some(data.into());
        self
    }

    /// The protocol code.
    pub fn code(&self) -> i64 {
        self.code
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The data, if any.
    pub fn data(&self) -> Option<&Value> {
        self.data.as_ref()
    }

    /// Whether the host refused a call because a capability is not granted.
    pub fn is_denied(&self) -> bool {
        self.code == code::DENIED
    }

    /// Whether the call was cancelled or its deadline passed.
    pub fn is_cancelled(&self) -> bool {
        self.code == code::CANCELLED
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// A failure ([`code::FAILED`]) with this message.
impl From<&str> for Error {
    fn from(message: &str) -> Error {
        Error::failed(message)
    }
}

/// A failure ([`code::FAILED`]) with this message.
impl From<String> for Error {
    fn from(message: String) -> Error {
        Error::new(code::FAILED, message)
    }
}

/// A failure ([`code::FAILED`]).
impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Error {
        Error::failed(e)
    }
}

/// A failure ([`code::FAILED`]): JSON the handler parsed itself.
impl From<ParseError> for Error {
    fn from(e: ParseError) -> Error {
        Error::failed(e)
    }
}
