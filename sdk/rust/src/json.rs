//! A small, strict JSON value type: a parser, an encoder, conversions.
//!
//! The protocol needs JSON and this crate depends on nothing but `std`, so
//! it brings its own. The parser follows RFC 8259 exactly and is as strict
//! as the host: one value and nothing after it, no trailing commas, no
//! leading zeros, no comments, control characters escaped, every `\u`
//! escape a scalar value (surrogates only in pairs), **no member name
//! twice** in an object, and at most [`MAX_DEPTH`] nested arrays and
//! objects (recursion is bounded, whatever the input). Text is UTF-8 by
//! construction (`&str`), or checked ([`Value::from_slice`]).
//!
//! The encoder writes compact JSON (no whitespace), object members in key
//! order, strings as UTF-8 with only `"`, `\` and control characters
//! escaped. A [`Number`] is never NaN or infinite, so every [`Value`] has a
//! JSON text.
//!
//! ```
//! use airlock_plugin::{json, Value};
//!
//! let v = Value::parse(r#"{"name":"ada","tags":["x"],"n":1.5}"#).unwrap();
//! assert_eq!(v["name"].as_str(), Some("ada"));
//! assert_eq!(v["n"].as_f64(), Some(1.5));
//! assert_eq!(v["missing"], Value::Null);
//! assert_eq!(json!({"message": format!("hello, {}", "ada")}).to_string(), r#"{"message":"hello, ada"}"#);
//! ```

use std::collections::{BTreeMap, HashMap};
use std::fmt::{self, Write as _};
use std::ops::Index;

use crate::error::Error;

/// The members of a JSON object, in key order.
pub type Map = BTreeMap<String, Value>;

/// The deepest nesting of arrays and objects the parser accepts.
pub const MAX_DEPTH: usize = 512;

/// Any JSON value.
#[derive(Clone, Debug, PartialEq, Default)]
pub enum Value {
    /// `null`
    #[default]
    Null,
    /// `true` or `false`
    Bool(bool),
    /// A number: an integer (`i64` or `u64`) or a finite `f64`.
    Number(Number),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<Value>),
    /// An object.
    Object(Map),
}

/// A JSON number: an integer when it has no fraction or exponent and fits
/// in an `i64` (or a `u64`), else a finite `f64`.
#[derive(Clone, Copy, Debug)]
pub struct Number(N);

// 2^63 and 2^64, exactly: the ends of the i64 and u64 ranges.
const TWO_63: f64 = 9_223_372_036_854_775_808.0;
const TWO_64: f64 = 18_446_744_073_709_551_616.0;

#[derive(Clone, Copy, Debug)]
enum N {
    Int(i64),
    // Only above i64::MAX.
    UInt(u64),
    Float(f64),
}

impl Number {
    /// The number for a finite `f`; `None` for NaN and the infinities,
    /// which JSON cannot carry.
    pub fn from_f64(f: f64) -> Option<Number> {
        f.is_finite().then_some(Number(N::Float(f)))
    }

    /// The number as an `i64`, if it is an integer in range (an `f64` with
    /// no fraction, such as `3.0` or `1e3`, counts).
    pub fn as_i64(&self) -> Option<i64> {
        match self.0 {
            N::Int(i) => Some(i),
            N::UInt(_) => None,
            N::Float(f) => (f.fract() == 0.0 && (-TWO_63..TWO_63).contains(&f)).then_some(f as i64),
        }
    }

    /// The number as a `u64`, if it is a non-negative integer in range.
    pub fn as_u64(&self) -> Option<u64> {
        match self.0 {
            N::Int(i) => u64::try_from(i).ok(),
            N::UInt(u) => Some(u),
            N::Float(f) => (f.fract() == 0.0 && (0.0..TWO_64).contains(&f)).then_some(f as u64),
        }
    }

    /// The number as an `f64` (large integers are rounded).
    pub fn as_f64(&self) -> f64 {
        match self.0 {
            N::Int(i) => i as f64,
            N::UInt(u) => u as f64,
            N::Float(f) => f,
        }
    }

    /// Whether the number was written as, or made from, an integer.
    pub fn is_integer(&self) -> bool {
        !matches!(self.0, N::Float(_))
    }
}

impl PartialEq for Number {
    fn eq(&self, other: &Number) -> bool {
        match (self.0, other.0) {
            (N::Int(a), N::Int(b)) => a == b,
            (N::UInt(a), N::UInt(b)) => a == b,
            (N::Int(_), N::UInt(_)) | (N::UInt(_), N::Int(_)) => false,
            _ => self.as_f64() == other.as_f64(),
        }
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            N::Int(i) => write!(f, "{i}"),
            N::UInt(u) => write!(f, "{u}"),
            // Shortest text that reads back as the same f64; exponents for
            // very large and very small magnitudes, as JavaScript does.
            N::Float(x) if x != 0.0 && (x.abs() >= 1e21 || x.abs() < 1e-6) => write!(f, "{x:e}"),
            N::Float(x) => write!(f, "{x}"),
        }
    }
}

macro_rules! number_from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Number {
            fn from(n: $t) -> Number {
                Number(N::Int(i64::from(n)))
            }
        }
        impl From<$t> for Value {
            fn from(n: $t) -> Value {
                Value::Number(Number::from(n))
            }
        }
    )*};
}
number_from_int!(i8, i16, i32, i64, u8, u16, u32);

macro_rules! number_from_wide {
    ($($t:ty),*) => {$(
        impl From<$t> for Number {
            fn from(n: $t) -> Number {
                match i64::try_from(n) {
                    Ok(i) => Number(N::Int(i)),
                    Err(_) => Number(N::UInt(n as u64)),
                }
            }
        }
        impl From<$t> for Value {
            fn from(n: $t) -> Value {
                Value::Number(Number::from(n))
            }
        }
    )*};
}
number_from_wide!(u64, usize);

impl From<isize> for Value {
    fn from(n: isize) -> Value {
        Value::Number(Number(N::Int(n as i64)))
    }
}

/// NaN and the infinities become `null`, as in JavaScript's `JSON.stringify`.
impl From<f64> for Value {
    fn from(f: f64) -> Value {
        Number::from_f64(f).map_or(Value::Null, Value::Number)
    }
}

/// NaN and the infinities become `null`.
impl From<f32> for Value {
    fn from(f: f32) -> Value {
        Value::from(f as f64)
    }
}

impl From<Number> for Value {
    fn from(n: Number) -> Value {
        Value::Number(n)
    }
}

impl From<()> for Value {
    fn from(_: ()) -> Value {
        Value::Null
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::String(s)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::String(s.to_owned())
    }
}

impl From<&String> for Value {
    fn from(s: &String) -> Value {
        Value::String(s.clone())
    }
}

impl From<char> for Value {
    fn from(c: char) -> Value {
        Value::String(c.to_string())
    }
}

impl<T: Into<Value>> From<Vec<T>> for Value {
    fn from(v: Vec<T>) -> Value {
        Value::Array(v.into_iter().map(Into::into).collect())
    }
}

impl<T: Clone + Into<Value>> From<&[T]> for Value {
    fn from(v: &[T]) -> Value {
        Value::Array(v.iter().cloned().map(Into::into).collect())
    }
}

/// `None` is `null`.
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Null, Into::into)
    }
}

impl<K: Into<String>, T: Into<Value>> From<BTreeMap<K, T>> for Value {
    fn from(m: BTreeMap<K, T>) -> Value {
        Value::Object(m.into_iter().map(|(k, v)| (k.into(), v.into())).collect())
    }
}

impl<K: Into<String>, T: Into<Value>, S> From<HashMap<K, T, S>> for Value {
    fn from(m: HashMap<K, T, S>) -> Value {
        Value::Object(m.into_iter().map(|(k, v)| (k.into(), v.into())).collect())
    }
}

impl<T: Into<Value>> FromIterator<T> for Value {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Value {
        Value::Array(iter.into_iter().map(Into::into).collect())
    }
}

static NULL: Value = Value::Null;

/// `value["name"]`: the member, or `Null` when there is none or the value
/// is not an object.
impl Index<&str> for Value {
    type Output = Value;
    fn index(&self, key: &str) -> &Value {
        self.get(key).unwrap_or(&NULL)
    }
}

/// `value[0]`: the element, or `Null` when there is none or the value is
/// not an array.
impl Index<usize> for Value {
    type Output = Value;
    fn index(&self, i: usize) -> &Value {
        match self {
            Value::Array(a) => a.get(i).unwrap_or(&NULL),
            _ => &NULL,
        }
    }
}

impl Value {
    /// Parses JSON text: exactly one value, with optional whitespace around
    /// it. See the module's documentation for how strict it is.
    pub fn parse(text: &str) -> Result<Value, ParseError> {
        let mut p = Parser::new(text, MAX_DEPTH, false);
        p.document()
    }

    /// Parses JSON text given as bytes, which must be UTF-8.
    pub fn from_slice(bytes: &[u8]) -> Result<Value, ParseError> {
        match std::str::from_utf8(bytes) {
            Ok(text) => Value::parse(text),
            Err(e) => Err(ParseError { message: "invalid UTF-8".into(), offset: e.valid_up_to() }),
        }
    }

    /// The value as compact JSON text (the same as `to_string()`).
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        self.write_json(&mut out);
        out
    }

    /// Appends the value's compact JSON text to out.
    pub fn write_json(&self, out: &mut String) {
        match self {
            Value::Null => out.push_str("null"),
            Value::Bool(true) => out.push_str("true"),
            Value::Bool(false) => out.push_str("false"),
            Value::Number(n) => {
                let _ = write!(out, "{n}");
            }
            Value::String(s) => write_string(s, out),
            Value::Array(a) => {
                out.push('[');
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write_json(out);
                }
                out.push(']');
            }
            Value::Object(m) => {
                out.push('{');
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_string(k, out);
                    out.push(':');
                    v.write_json(out);
                }
                out.push('}');
            }
        }
    }

    /// What kind of value this is, for messages: "null", "boolean",
    /// "number", "string", "array" or "object".
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        }
    }

    /// Whether the value is `null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The boolean, if the value is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The string, if the value is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The number, if the value is one.
    pub fn as_number(&self) -> Option<&Number> {
        match self {
            Value::Number(n) => Some(n),
            _ => None,
        }
    }

    /// The number as an `i64`, if the value is an integer in range.
    pub fn as_i64(&self) -> Option<i64> {
        self.as_number().and_then(Number::as_i64)
    }

    /// The number as a `u64`, if the value is a non-negative integer in range.
    pub fn as_u64(&self) -> Option<u64> {
        self.as_number().and_then(Number::as_u64)
    }

    /// The number as an `f64`, if the value is a number.
    pub fn as_f64(&self) -> Option<f64> {
        self.as_number().map(Number::as_f64)
    }

    /// The elements, if the value is an array.
    pub fn as_array(&self) -> Option<&Vec<Value>> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The elements, mutably, if the value is an array.
    pub fn as_array_mut(&mut self) -> Option<&mut Vec<Value>> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The members, if the value is an object.
    pub fn as_object(&self) -> Option<&Map> {
        match self {
            Value::Object(m) => Some(m),
            _ => None,
        }
    }

    /// The members, mutably, if the value is an object.
    pub fn as_object_mut(&mut self) -> Option<&mut Map> {
        match self {
            Value::Object(m) => Some(m),
            _ => None,
        }
    }

    /// The member called key, if the value is an object that has one.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_object().and_then(|m| m.get(key))
    }

    /// Takes the value, leaving `Null` in its place.
    pub fn take(&mut self) -> Value {
        std::mem::take(self)
    }

    /// Converts the value into a `T`.
    pub fn into_typed<T: FromValue>(self) -> Result<T, Error> {
        T::from_value(self)
    }

    /// Converts the member called name into a `T`; a missing member is
    /// `Null`, which an `Option` takes as `None`. The error names the
    /// member.
    ///
    /// ```
    /// use airlock_plugin::Value;
    /// let v = Value::parse(r#"{"name":"ada","age":36}"#).unwrap();
    /// let name: String = v.field("name").unwrap();
    /// let nick: Option<String> = v.field("nick").unwrap();
    /// assert_eq!((name.as_str(), nick), ("ada", None));
    /// assert_eq!(v.field::<String>("age").unwrap_err().message(), "age: expected a string, found a number");
    /// ```
    pub fn field<T: FromValue>(&self, name: &str) -> Result<T, Error> {
        T::from_value(self[name].clone()).map_err(|e| Error::new(e.code(), format!("{name}: {}", e.message())))
    }
}

/// Compact JSON text.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_json())
    }
}

impl std::str::FromStr for Value {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Value, ParseError> {
        Value::parse(s)
    }
}

/// Appends s as a JSON string.
pub(crate) fn write_string(s: &str, out: &mut String) {
    out.reserve(s.len() + 2);
    out.push('"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if esc.is_empty() {
            let _ = write!(out, "\\u{:04x}", b);
        } else {
            out.push_str(esc);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Why a text is not JSON, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    message: String,
    offset: usize,
}

impl ParseError {
    /// What is wrong.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The byte offset in the text where it was found.
    pub fn offset(&self) -> usize {
        self.offset
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid JSON: {} at byte {}", self.message, self.offset)
    }
}

impl std::error::Error for ParseError {}

/// A recursive-descent parser over valid UTF-8. With `lenient`, a value
/// that is valid JSON but beyond this parser's limits (nested too deep, a
/// number out of f64 range) is checked, replaced by `Null`, and noted in
/// `limited` instead of failing the whole text: the SDK then answers the
/// call that carried it with an error rather than dropping the connection.
pub(crate) struct Parser<'a> {
    text: &'a str,
    b: &'a [u8],
    i: usize,
    max_depth: usize,
    lenient: bool,
    pub(crate) limited: bool,
}

type PResult<T> = Result<T, ParseError>;

impl<'a> Parser<'a> {
    pub(crate) fn new(text: &'a str, max_depth: usize, lenient: bool) -> Parser<'a> {
        Parser { text, b: text.as_bytes(), i: 0, max_depth, lenient, limited: false }
    }

    fn err<T>(&self, message: impl Into<String>) -> PResult<T> {
        Err(ParseError { message: message.into(), offset: self.i })
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    /// One value and nothing after it but whitespace.
    pub(crate) fn document(&mut self) -> PResult<Value> {
        let v = self.value(0)?;
        self.ws();
        if self.i < self.b.len() {
            return self.err("data after the value");
        }
        Ok(v)
    }

    fn unexpected<T>(&self) -> PResult<T> {
        match self.text[self.i..].chars().next() {
            None => self.err("unexpected end of input"),
            Some(c) => self.err(format!("unexpected character {c:?}")),
        }
    }

    fn value(&mut self, depth: usize) -> PResult<Value> {
        self.ws();
        match self.peek() {
            Some(b'{' | b'[') if depth >= self.max_depth => {
                if !self.lenient {
                    return self.err(format!("nested deeper than {} levels", self.max_depth));
                }
                self.skip_nested()?;
                self.limited = true;
                Ok(Value::Null)
            }
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => Ok(Value::String(self.string()?)),
            Some(b't') => self.literal("true", Value::Bool(true)),
            Some(b'f') => self.literal("false", Value::Bool(false)),
            Some(b'n') => self.literal("null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => self.unexpected(),
        }
    }

    fn literal(&mut self, word: &str, v: Value) -> PResult<Value> {
        if self.b[self.i..].starts_with(word.as_bytes()) {
            self.i += word.len();
            Ok(v)
        } else {
            self.unexpected()
        }
    }

    fn array(&mut self, depth: usize) -> PResult<Value> {
        self.i += 1; // [
        let mut items = Vec::new();
        self.ws();
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(Value::Array(items));
        }
        loop {
            items.push(self.value(depth)?);
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(Value::Array(items));
                }
                None => return self.err("unexpected end of input in an array"),
                _ => return self.err("expected ',' or ']' in an array"),
            }
        }
    }

    fn object(&mut self, depth: usize) -> PResult<Value> {
        self.i += 1; // {
        let mut members = Map::new();
        self.ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(Value::Object(members));
        }
        loop {
            self.ws();
            if self.peek() != Some(b'"') {
                return self.err("expected a member name (a string)");
            }
            let at = self.i;
            let key = self.string()?;
            self.ws();
            if self.peek() != Some(b':') {
                return self.err("expected ':' after a member name");
            }
            self.i += 1;
            let v = self.value(depth)?;
            if members.contains_key(&key) {
                return Err(ParseError { message: format!("duplicate member name {key:?}"), offset: at });
            }
            members.insert(key, v);
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(Value::Object(members));
                }
                None => return self.err("unexpected end of input in an object"),
                _ => return self.err("expected ',' or '}' in an object"),
            }
        }
    }

    /// Checks the array or object that starts here without building it or
    /// recursing: for values nested beyond max_depth (lenient mode).
    /// Member names are checked as strings, not for duplicates.
    fn skip_nested(&mut self) -> PResult<()> {
        let mut stack: Vec<bool> = Vec::new(); // true: an object
        'value: loop {
            self.ws();
            match self.peek() {
                Some(b'{') => {
                    self.i += 1;
                    self.ws();
                    if self.peek() == Some(b'}') {
                        self.i += 1;
                    } else {
                        stack.push(true);
                        self.skip_name()?;
                        continue 'value;
                    }
                }
                Some(b'[') => {
                    self.i += 1;
                    self.ws();
                    if self.peek() == Some(b']') {
                        self.i += 1;
                    } else {
                        stack.push(false);
                        continue 'value;
                    }
                }
                Some(b'"') => {
                    self.string()?;
                }
                Some(b't') => {
                    self.literal("true", Value::Null)?;
                }
                Some(b'f') => {
                    self.literal("false", Value::Null)?;
                }
                Some(b'n') => {
                    self.literal("null", Value::Null)?;
                }
                Some(b'-' | b'0'..=b'9') => {
                    self.number()?;
                }
                _ => return self.unexpected(),
            }
            // A value ended: close what it ends, or go on to the next one.
            loop {
                let Some(&obj) = stack.last() else { return Ok(()) };
                self.ws();
                match self.peek() {
                    Some(b',') => {
                        self.i += 1;
                        if obj {
                            self.skip_name()?;
                        }
                        continue 'value;
                    }
                    Some(b'}') if obj => {
                        self.i += 1;
                        stack.pop();
                    }
                    Some(b']') if !obj => {
                        self.i += 1;
                        stack.pop();
                    }
                    None => return self.err("unexpected end of input"),
                    _ => return self.err(if obj { "expected ',' or '}' in an object" } else { "expected ',' or ']' in an array" }),
                }
            }
        }
    }

    fn skip_name(&mut self) -> PResult<()> {
        self.ws();
        if self.peek() != Some(b'"') {
            return self.err("expected a member name (a string)");
        }
        self.string()?;
        self.ws();
        if self.peek() != Some(b':') {
            return self.err("expected ':' after a member name");
        }
        self.i += 1;
        Ok(())
    }

    fn string(&mut self) -> PResult<String> {
        self.i += 1; // "
        let mut out = String::new();
        let mut start = self.i;
        loop {
            let Some(b) = self.peek() else {
                return self.err("unexpected end of input in a string");
            };
            match b {
                b'"' => {
                    out.push_str(&self.text[start..self.i]);
                    self.i += 1;
                    return Ok(out);
                }
                b'\\' => {
                    out.push_str(&self.text[start..self.i]);
                    self.i += 1;
                    self.escape(&mut out)?;
                    start = self.i;
                }
                0..=0x1f => return self.err("control character in a string (escape it)"),
                _ => self.i += 1,
            }
        }
    }

    fn escape(&mut self, out: &mut String) -> PResult<()> {
        let Some(b) = self.peek() else {
            return self.err("unexpected end of input in an escape");
        };
        self.i += 1;
        let c = match b {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let at = self.i - 2;
                let hi = self.hex4()?;
                let code = match hi {
                    0xd800..=0xdbff => {
                        if !self.b[self.i..].starts_with(b"\\u") {
                            return Err(ParseError { message: "lone surrogate in a \\u escape".into(), offset: at });
                        }
                        self.i += 2;
                        let lo = self.hex4()?;
                        if !(0xdc00..=0xdfff).contains(&lo) {
                            return Err(ParseError { message: "lone surrogate in a \\u escape".into(), offset: at });
                        }
                        0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00)
                    }
                    0xdc00..=0xdfff => return Err(ParseError { message: "lone surrogate in a \\u escape".into(), offset: at }),
                    _ => hi,
                };
                // Every code point outside the surrogates is a char.
                char::from_u32(code).unwrap_or('\u{fffd}')
            }
            _ => {
                self.i -= 1;
                return self.err(format!("invalid escape \\{}", self.text[self.i..].chars().next().unwrap_or('?')));
            }
        };
        out.push(c);
        Ok(())
    }

    fn hex4(&mut self) -> PResult<u32> {
        let mut n = 0;
        for _ in 0..4 {
            let v = match self.peek() {
                Some(d @ b'0'..=b'9') => d - b'0',
                Some(d @ b'a'..=b'f') => d - b'a' + 10,
                Some(d @ b'A'..=b'F') => d - b'A' + 10,
                Some(_) => return self.err("invalid \\u escape: four hex digits needed"),
                None => return self.err("unexpected end of input in a \\u escape"),
            };
            n = n * 16 + u32::from(v);
            self.i += 1;
        }
        Ok(n)
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
        self.i - start
    }

    fn number(&mut self) -> PResult<Value> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => {
                self.i += 1;
                if let Some(b'0'..=b'9') = self.peek() {
                    return self.err("leading zero in a number");
                }
            }
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return self.err("expected a digit"),
        }
        let mut integer = true;
        if self.peek() == Some(b'.') {
            self.i += 1;
            integer = false;
            if self.digits() == 0 {
                return self.err("expected a digit after '.'");
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            integer = false;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if self.digits() == 0 {
                return self.err("expected a digit in the exponent");
            }
        }
        let text = &self.text[start..self.i];
        if integer {
            if let Ok(i) = text.parse::<i64>() {
                return Ok(Value::Number(Number(N::Int(i))));
            }
            if let Ok(u) = text.parse::<u64>() {
                return Ok(Value::Number(Number(N::UInt(u))));
            }
        }
        // The grammar above is a subset of what f64's parser accepts, and
        // it rounds correctly.
        let f: f64 = text.parse().map_err(|_| ParseError { message: "invalid number".into(), offset: start })?;
        match Number::from_f64(f) {
            Some(n) => Ok(Value::Number(n)),
            None if self.lenient => {
                self.limited = true;
                Ok(Value::Null)
            }
            None => Err(ParseError { message: format!("number {text} is out of range"), offset: start }),
        }
    }
}

/// Converts a JSON value into a Rust value: what a handler's input type
/// implements. A failure is an [`Error`] with code `INVALID_PARAMS`, which
/// the SDK answers for the handler.
///
/// Implemented for [`Value`] itself, `()` (only `null`), `bool`, `String`,
/// the integer types (an integral `f64` such as `3.0` counts), `f64`,
/// `f32`, `Vec<T>`, `Option<T>` (`null` is `None`), `Box<T>`, and maps
/// from `String`. Implement it for your own types with [`Value::field`]:
///
/// ```
/// use airlock_plugin::{Error, FromValue, Value};
///
/// struct Greet { name: String, times: Option<u32> }
///
/// impl FromValue for Greet {
///     fn from_value(v: Value) -> Result<Self, Error> {
///         Ok(Greet { name: v.field("name")?, times: v.field("times")? })
///     }
/// }
///
/// let g = Greet::from_value(Value::parse(r#"{"name":"ada"}"#).unwrap()).unwrap();
/// assert_eq!((g.name.as_str(), g.times), ("ada", None));
/// ```
pub trait FromValue: Sized {
    /// Converts v, or says why it cannot.
    fn from_value(v: Value) -> Result<Self, Error>;
}

fn expected(what: &str, v: &Value) -> Error {
    let found = match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    Error::invalid_input(format!("expected {what}, found {found}"))
}

impl FromValue for Value {
    fn from_value(v: Value) -> Result<Value, Error> {
        Ok(v)
    }
}

impl FromValue for () {
    fn from_value(v: Value) -> Result<(), Error> {
        match v {
            Value::Null => Ok(()),
            v => Err(expected("null", &v)),
        }
    }
}

impl FromValue for bool {
    fn from_value(v: Value) -> Result<bool, Error> {
        v.as_bool().ok_or_else(|| expected("a boolean", &v))
    }
}

impl FromValue for String {
    fn from_value(v: Value) -> Result<String, Error> {
        match v {
            Value::String(s) => Ok(s),
            v => Err(expected("a string", &v)),
        }
    }
}

impl FromValue for f64 {
    fn from_value(v: Value) -> Result<f64, Error> {
        v.as_f64().ok_or_else(|| expected("a number", &v))
    }
}

impl FromValue for f32 {
    fn from_value(v: Value) -> Result<f32, Error> {
        v.as_f64().map(|f| f as f32).ok_or_else(|| expected("a number", &v))
    }
}

macro_rules! int_from_value {
    ($($t:ty),*) => {$(
        impl FromValue for $t {
            fn from_value(v: Value) -> Result<$t, Error> {
                let n = match v.as_number() {
                    Some(n) => n,
                    None => return Err(expected("an integer", &v)),
                };
                n.as_i64()
                    .and_then(|i| <$t>::try_from(i).ok())
                    .or_else(|| n.as_u64().and_then(|u| <$t>::try_from(u).ok()))
                    .ok_or_else(|| Error::invalid_input(format!("expected an integer in the range of {}, found {n}", stringify!($t))))
            }
        }
    )*};
}
int_from_value!(i8, i16, i32, i64, isize, u8, u16, u32, u64, usize);

impl<T: FromValue> FromValue for Vec<T> {
    fn from_value(v: Value) -> Result<Vec<T>, Error> {
        match v {
            Value::Array(a) => a
                .into_iter()
                .enumerate()
                .map(|(i, x)| T::from_value(x).map_err(|e| Error::new(e.code(), format!("[{i}]: {}", e.message()))))
                .collect(),
            v => Err(expected("an array", &v)),
        }
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(v: Value) -> Result<Option<T>, Error> {
        match v {
            Value::Null => Ok(None),
            v => T::from_value(v).map(Some),
        }
    }
}

impl<T: FromValue> FromValue for Box<T> {
    fn from_value(v: Value) -> Result<Box<T>, Error> {
        T::from_value(v).map(Box::new)
    }
}

impl<T: FromValue> FromValue for BTreeMap<String, T> {
    fn from_value(v: Value) -> Result<BTreeMap<String, T>, Error> {
        match v {
            Value::Object(m) => m
                .into_iter()
                .map(|(k, x)| match T::from_value(x) {
                    Ok(x) => Ok((k, x)),
                    Err(e) => Err(Error::new(e.code(), format!("{k}: {}", e.message()))),
                })
                .collect(),
            v => Err(expected("an object", &v)),
        }
    }
}

impl<T: FromValue, S: std::hash::BuildHasher + Default> FromValue for HashMap<String, T, S> {
    fn from_value(v: Value) -> Result<HashMap<String, T, S>, Error> {
        BTreeMap::<String, T>::from_value(v).map(|m| m.into_iter().collect())
    }
}

/// Builds a [`Value`] from JSON-like syntax. Values may be any expression
/// with an `Into<Value>` conversion; keys are string literals or
/// parenthesised expressions.
///
/// ```
/// use airlock_plugin::json;
///
/// let name = "ada";
/// let v = json!({
///     "message": format!("hello, {name}"),
///     "tags": ["a", 1, 2.5, true, null],
///     (format!("{name}_id")): 7,
///     "nested": {"empty": {}, "list": []},
/// });
/// assert_eq!(v.to_string(), r#"{"ada_id":7,"message":"hello, ada","nested":{"empty":{},"list":[]},"tags":["a",1,2.5,true,null]}"#);
/// ```
///
/// # Notes
///
/// The macro reads its input one token at a time, so a very large literal
/// may need `#![recursion_limit = "256"]`. An expression with a comma
/// outside brackets (a closure's parameters, a turbofish with two types)
/// must be parenthesised.
#[macro_export]
macro_rules! json {
    (null) => { $crate::Value::Null };
    (true) => { $crate::Value::Bool(true) };
    (false) => { $crate::Value::Bool(false) };
    ([]) => { $crate::Value::Array(::std::vec::Vec::new()) };
    ([ $($tt:tt)+ ]) => { $crate::Value::Array($crate::__json_array!([] [] $($tt)+)) };
    ({}) => { $crate::Value::Object($crate::Map::new()) };
    ({ $($tt:tt)+ }) => {{
        let mut object = $crate::Map::new();
        $crate::__json_object!(object [] $($tt)+);
        $crate::Value::Object(object)
    }};
    ($other:expr) => { $crate::Value::from($other) };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __json_array {
    // A comma ends the element being read.
    ([$($done:expr,)*] [$($cur:tt)+] , $($rest:tt)*) => {
        $crate::__json_array!([$($done,)* $crate::json!($($cur)+),] [] $($rest)*)
    };
    ([$($done:expr,)*] [$($cur:tt)*] $next:tt $($rest:tt)*) => {
        $crate::__json_array!([$($done,)*] [$($cur)* $next] $($rest)*)
    };
    ([$($done:expr,)*] []) => { ::std::vec![$($done,)*] };
    ([$($done:expr,)*] [$($cur:tt)+]) => { ::std::vec![$($done,)* $crate::json!($($cur)+)] };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __json_object {
    // Reading a key: up to the colon.
    ($m:ident [$($key:tt)+] : $($rest:tt)*) => {
        $crate::__json_object!(@value $m [$($key)+] [] $($rest)*)
    };
    ($m:ident [$($key:tt)*] $next:tt $($rest:tt)*) => {
        $crate::__json_object!($m [$($key)* $next] $($rest)*)
    };
    ($m:ident []) => {};
    // Reading a value: up to a comma or the end.
    (@value $m:ident [$($key:tt)+] [$($val:tt)+] , $($rest:tt)*) => {
        $m.insert(::std::string::String::from($($key)+), $crate::json!($($val)+));
        $crate::__json_object!($m [] $($rest)*);
    };
    (@value $m:ident [$($key:tt)+] [$($val:tt)*] $next:tt $($rest:tt)*) => {
        $crate::__json_object!(@value $m [$($key)+] [$($val)* $next] $($rest)*)
    };
    (@value $m:ident [$($key:tt)+] [$($val:tt)+]) => {
        $m.insert(::std::string::String::from($($key)+), $crate::json!($($val)+));
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(text: &str) -> Value {
        Value::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn parses_every_kind_of_value() {
        let cases: &[(&str, Value)] = &[
            ("null", Value::Null),
            ("true", Value::Bool(true)),
            (" false ", Value::Bool(false)),
            ("0", json!(0)),
            ("-0", json!(0)),
            ("42", json!(42)),
            ("-17", json!(-17)),
            ("1.5", json!(1.5)),
            ("-0.25e2", json!(-25.0)),
            ("1E3", json!(1000.0)),
            ("1e-2", json!(0.01)),
            ("9223372036854775807", json!(i64::MAX)),
            ("-9223372036854775808", json!(i64::MIN)),
            ("9223372036854775808", json!(9_223_372_036_854_775_808u64)),
            ("18446744073709551615", json!(u64::MAX)),
            ("18446744073709551616", json!(18_446_744_073_709_551_616.0)),
            (r#""""#, json!("")),
            (r#""a\"b\\c\/d\b\f\n\r\t""#, json!("a\"b\\c/d\u{8}\u{c}\n\r\t")),
            (r#""\u00e9\u20AC\ud83d\ude00""#, json!("é€😀")),
            ("\"é€😀 raw\"", json!("é€😀 raw")),
            ("[]", json!([])),
            ("{}", json!({})),
            (" [ 1 , [ ] , { } , \"x\" ] ", json!([1, [], {}, "x"])),
            (r#"{"b":1,"a":{"c":[true,null]}}"#, json!({"a": {"c": [true, null]}, "b": 1})),
            ("\t\r\n 7 \n", json!(7)),
        ];
        for (text, want) in cases {
            assert_eq!(&num(text), want, "{text}");
        }
    }

    #[test]
    fn refuses_what_is_not_json() {
        let cases: &[(&str, &str)] = &[
            ("", "unexpected end of input"),
            ("   ", "unexpected end of input"),
            ("01", "leading zero"),
            ("-01", "leading zero"),
            ("1.", "digit after '.'"),
            (".1", "unexpected character"),
            ("+1", "unexpected character"),
            ("-", "expected a digit"),
            ("1e", "exponent"),
            ("1e+", "exponent"),
            ("0x10", "data after the value"),
            ("NaN", "unexpected character"),
            ("Infinity", "unexpected character"),
            ("1e400", "out of range"),
            ("-1e400", "out of range"),
            ("nul", "unexpected character"),
            ("tru", "unexpected character"),
            ("[1,]", "unexpected character ']'"),
            ("[1 2]", "expected ',' or ']'"),
            ("[", "unexpected end of input"),
            ("[1", "unexpected end of input in an array"),
            ("{", "expected a member name"),
            (r#"{"a":1,}"#, "expected a member name"),
            ("{a:1}", "expected a member name"),
            (r#"{"a" 1}"#, "expected ':'"),
            (r#"{"a":1 "b":2}"#, "expected ',' or '}'"),
            (r#"{"a":1,"a":2}"#, "duplicate member name \"a\""),
            (r#"{"a":{"x":1,"x":1}}"#, "duplicate member name \"x\""),
            ("'x'", "unexpected character"),
            ("\"abc", "unexpected end of input in a string"),
            ("\"a\tb\"", "control character"),
            ("\"a\nb\"", "control character"),
            (r#""\x""#, "invalid escape \\x"),
            (r#""\u12""#, "four hex digits"),
            (r#""\u12g4""#, "four hex digits"),
            (r#""\ud800""#, "lone surrogate"),
            (r#""\udc00""#, "lone surrogate"),
            (r#""\ud800\u0041""#, "lone surrogate"),
            (r#""\ud800x""#, "lone surrogate"),
            ("[1] x", "data after the value"),
            ("1 2", "data after the value"),
            ("/* c */ 1", "unexpected character"),
            ("\u{feff}1", "unexpected character"),
        ];
        for (text, say) in cases {
            match Value::parse(text) {
                Ok(v) => panic!("{text:?} parsed as {v}"),
                Err(e) => assert!(e.message().contains(say), "{text:?}: error {e:?} does not say {say:?}"),
            }
        }
    }

    #[test]
    fn errors_say_where() {
        let e = Value::parse(r#"{"a": [1, x]}"#).unwrap_err();
        assert_eq!(e.offset(), 10);
        assert_eq!(e.to_string(), "invalid JSON: unexpected character 'x' at byte 10");
        let e = Value::parse(r#"{"a":1,"a":2}"#).unwrap_err();
        assert_eq!(e.offset(), 7);
    }

    #[test]
    fn checks_utf8() {
        assert_eq!(Value::from_slice(b"\"ok\"").unwrap(), json!("ok"));
        let e = Value::from_slice(b"[\"a\xff\"]").unwrap_err();
        assert_eq!((e.message(), e.offset()), ("invalid UTF-8", 3));
        assert!(Value::from_slice(b"\"\xed\xa0\x80\"").is_err(), "an encoded surrogate is not UTF-8");
    }

    #[test]
    fn nesting_is_bounded_without_recursing_further() {
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(Value::parse(&ok).is_ok());
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert!(Value::parse(&deep).unwrap_err().message().contains("nested deeper than 512 levels"));
        let objects = format!("{}1{}", r#"{"a":"#.repeat(MAX_DEPTH + 1), "}".repeat(MAX_DEPTH + 1));
        assert!(Value::parse(&objects).is_err());
        // Far deeper than any stack: refused (strict) or skipped (lenient),
        // never a stack overflow.
        let huge = format!("{}{}", "[".repeat(1_000_000), "]".repeat(1_000_000));
        assert!(Value::parse(&huge).is_err());
        let mut p = Parser::new(&huge, MAX_DEPTH, true);
        assert_eq!(p.document().unwrap().to_json().matches('[').count(), MAX_DEPTH);
        assert!(p.limited);
    }

    #[test]
    fn lenient_mode_replaces_what_is_beyond_the_limits_and_says_so() {
        let text = format!(r#"{{"deep":{}{{"k":[1,"x",{{}},null,true,-2.5e3]}}{},"big":1e999,"ok":1}}"#, "[".repeat(10), "]".repeat(10));
        let mut p = Parser::new(&text, 5, true);
        let v = p.document().unwrap();
        assert!(p.limited);
        assert_eq!(v["big"], Value::Null);
        assert_eq!(v["ok"], json!(1));
        let mut p = Parser::new(r#"{"a":[1,2]}"#, 5, true);
        p.document().unwrap();
        assert!(!p.limited);
        // Skipped values are still checked.
        for bad in ["[[[[[[[1,]]]]]]]", "[[[[[[[\"\\x\"]]]]]]]", "[[[[[[{\"a\" 1}]]]]]]", "[[[[[[[01]]]]]]]", "[[[[[[[]]]]]]"] {
            let mut p = Parser::new(bad, 5, true);
            assert!(p.document().is_err(), "{bad}");
        }
    }

    #[test]
    fn encodes_compactly_with_minimal_escapes() {
        let v = json!({"s": "a\"b\\c/d\u{8}\u{c}\n\r\t\u{1}\u{1f}\u{7f}é😀\u{2028}", "n": [0, -1, 1.5, true, null], "e": {}});
        assert_eq!(
            v.to_string(),
            "{\"e\":{},\"n\":[0,-1,1.5,true,null],\"s\":\"a\\\"b\\\\c/d\\b\\f\\n\\r\\t\\u0001\\u001f\u{7f}é😀\u{2028}\"}"
        );
        assert_eq!(Value::parse(&v.to_string()).unwrap(), v);
    }

    #[test]
    fn numbers_read_back_as_themselves() {
        for f in [
            0.1,
            0.30000000000000004,
            1.0,
            -2.5,
            1e21,
            1e-7,
            123456789.125,
            5e-324,
            f64::MAX,
            f64::MIN_POSITIVE,
            -1e300,
            1e15,
            0.000001,
            -0.0,
        ] {
            let text = json!(f).to_string();
            let back = Value::parse(&text).unwrap().as_f64().unwrap();
            assert!(back == f && back.is_sign_negative() == f.is_sign_negative() || f == 0.0, "{f} -> {text} -> {back}");
        }
        assert_eq!(json!(1.0).to_string(), "1");
        assert_eq!(json!(1e21).to_string(), "1e21");
        assert_eq!(json!(1.5e-7).to_string(), "1.5e-7");
        assert_eq!(json!(u64::MAX).to_string(), "18446744073709551615");
        assert_eq!(json!(f64::NAN), Value::Null);
        assert_eq!(json!(f64::INFINITY), Value::Null);
        assert!(Number::from_f64(f64::NEG_INFINITY).is_none());
    }

    #[test]
    fn number_accessors_and_equality() {
        assert_eq!(num("3.0").as_i64(), Some(3));
        assert_eq!(num("3.5").as_i64(), None);
        assert_eq!(num("-1").as_u64(), None);
        assert_eq!(num("18446744073709551615").as_i64(), None);
        assert_eq!(num("1e3").as_u64(), Some(1000));
        assert_eq!(num("1e19").as_i64(), None);
        assert!(num("1").as_number().unwrap().is_integer());
        assert!(!num("1.0").as_number().unwrap().is_integer());
        assert_eq!(num("1"), num("1.0"));
        assert_ne!(num("1"), num("2"));
        assert_ne!(json!(-1), json!(u64::MAX));
    }

    #[test]
    fn indexing_and_accessors() {
        let v = json!({"a": [10, {"b": "x"}], "s": "str"});
        assert_eq!(v["a"][1]["b"].as_str(), Some("x"));
        assert_eq!(v["a"][9], Value::Null);
        assert_eq!(v["s"]["nope"], Value::Null);
        assert_eq!(v["s"][0], Value::Null);
        assert_eq!(v.get("a").and_then(Value::as_array).map(Vec::len), Some(2));
        assert_eq!(v.kind(), "object");
        assert!(v["missing"].is_null());
    }

    #[test]
    fn from_value_conversions() {
        assert_eq!(String::from_value(json!("x")).unwrap(), "x");
        assert_eq!(u8::from_value(json!(255)).unwrap(), 255);
        assert_eq!(u8::from_value(json!(256)).unwrap_err().message(), "expected an integer in the range of u8, found 256");
        assert_eq!(i32::from_value(json!(2.0)).unwrap(), 2);
        assert_eq!(i32::from_value(json!("2")).unwrap_err().message(), "expected an integer, found a string");
        assert_eq!(u64::from_value(json!(u64::MAX)).unwrap(), u64::MAX);
        assert_eq!(f64::from_value(json!(2)).unwrap(), 2.0);
        assert!(bool::from_value(json!(null)).unwrap_err().message().ends_with("found null"));
        assert_eq!(Option::<String>::from_value(Value::Null).unwrap(), None);
        assert_eq!(Vec::<i64>::from_value(json!([1, 2])).unwrap(), vec![1, 2]);
        assert_eq!(Vec::<i64>::from_value(json!([1, "x"])).unwrap_err().message(), "[1]: expected an integer, found a string");
        let m = BTreeMap::<String, bool>::from_value(json!({"a": true})).unwrap();
        assert!(m["a"]);
        assert_eq!(HashMap::<String, i64>::from_value(json!({"a": "b"})).unwrap_err().message(), "a: expected an integer, found a string");
        assert_eq!(<()>::from_value(json!([])).unwrap_err().message(), "expected null, found an array");
        assert_eq!(Value::from_value(json!({"k": 1})).unwrap(), json!({"k": 1}));
        assert_eq!(json!({"n": 1}).field::<Option<i64>>("m").unwrap(), None);
        assert_eq!(json!({"n": 1}).field::<i64>("m").unwrap_err().code(), crate::code::INVALID_PARAMS);
    }

    #[test]
    fn into_value_conversions() {
        assert_eq!(Value::from(vec!["a", "b"]), json!(["a", "b"]));
        assert_eq!(Value::from(&[1u8, 2][..]), json!([1, 2]));
        assert_eq!(Value::from(Some(3)), json!(3));
        assert_eq!(Value::from(None::<i32>), Value::Null);
        assert_eq!(Value::from(BTreeMap::from([("k", 1)])), json!({"k": 1}));
        assert_eq!(Value::from(HashMap::from([("k".to_string(), true)])), json!({"k": true}));
        assert_eq!((1..4).collect::<Value>(), json!([1, 2, 3]));
        assert_eq!(Value::from('c'), json!("c"));
        assert_eq!(Value::from(()), Value::Null);
        assert_eq!(Value::from(usize::MAX).as_u64(), Some(usize::MAX as u64));
    }

    #[test]
    fn json_macro_forms() {
        let name = "ada";
        let list = vec![1, 2];
        let v = json!({
            "a": null, "b": true, "c": false, "d": -1, "e": [], "f": {},
            "g": [null, [1, [2]], {"x": {"y": name}}],
            (format!("{name}!")): list.len(),
            "h": list,
            "i": if name.is_empty() { 0 } else { 1 },
        });
        assert_eq!(
            v.to_string(),
            r#"{"a":null,"ada!":2,"b":true,"c":false,"d":-1,"e":[],"f":{},"g":[null,[1,[2]],{"x":{"y":"ada"}}],"h":[1,2],"i":1}"#
        );
        assert_eq!(json!([1, 2,]), json!([1, 2]));
        assert_eq!(json!({"a": 1,}), json!({"a": 1}));
        assert_eq!(json!("s"), Value::String("s".into()));
    }
}
