//! The C ABI of Airlock's native tier, for plugins written in Rust as a
//! `cdylib` (docs/NATIVE.md; the C header is sdk/c/airlock_native.h).
//!
//! A plugin declares itself with [`native_plugin!`], which exports
//! `airlock_native_api_version` and `airlock_native_init`, and writes one
//! handler: `fn(&Call) -> Result<Vec<u8>, Error>`, JSON in and out. The
//! handler runs on several threads at once, so it must be `Sync`-safe: keep
//! shared state behind a `Mutex` or atomics. A panic is caught at the
//! boundary and becomes an error (unwinding into the host is undefined).
//!
//! The types mirror the C structs field for field (`#[repr(C)]`); a change
//! to them is a new [`API_VERSION`], except fields appended behind a size
//! that says whether the host has them (`HostTable::size`,
//! `HostTable::call_size`): [`Call`] reads those only when it does, and
//! reaches the host's structs through pointers, never a reference to more
//! than an older host wrote.

use std::ffi::{c_char, c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicPtr, Ordering};

pub mod json;

/// The version of the ABI this crate speaks (AIRLOCK_NATIVE_API_VERSION).
pub const API_VERSION: u32 = 1;

/// Status codes: 0 is success, errors are the protocol's codes.
pub mod code {
    pub const OK: i32 = 0;
    pub const FAILED: i32 = -32000;
    pub const DENIED: i32 = -32001;
    pub const CANCELLED: i32 = -32002;
    pub const NOT_IMPLEMENTED: i32 = -32004;
    pub const INVALID_INPUT: i32 = -32602;
    pub const NO_CALL: i32 = -32600;
    /// `airlock_native_init`: the host's version is not this crate's.
    pub const VERSION_MISMATCH: i32 = 1;
}

/// airlock_call_v1: one call from the host. Every pointer is the host's and
/// valid until the call returns.
#[repr(C)]
pub struct RawCall {
    pub name: *const c_char,
    pub name_len: usize,
    pub phase: *const c_char,
    pub phase_len: usize,
    pub input: *const u8,
    pub input_len: usize,
    pub config: *const u8,
    pub config_len: usize,
    pub ctx: *mut c_void,
    /// Appended to version 1: the call's W3C trace context, present when
    /// `HostTable::call_size` covers it (see [`Call::traceparent`]).
    pub traceparent: *const c_char,
    pub traceparent_len: usize,
    pub tracestate: *const c_char,
    pub tracestate_len: usize,
}

/// airlock_host_v1: the host's functions; lives as long as the process.
#[repr(C)]
pub struct HostTable {
    pub api_version: u32,
    pub size: u32,
    pub host_call: unsafe extern "C" fn(
        ctx: *mut c_void,
        func: *const c_char,
        input: *const u8,
        input_len: usize,
        out: *mut *mut u8,
        out_len: *mut usize,
    ) -> i32,
    pub free: unsafe extern "C" fn(ctx: *mut c_void, ptr: *mut u8),
    /// Appended to version 1: the size of [`RawCall`] as the host fills it
    /// in; present when `size` covers it.
    pub call_size: u32,
}

/// airlock_plugin_v1: what `airlock_native_init` fills in.
#[repr(C)]
pub struct PluginTable {
    pub api_version: u32,
    pub size: u32,
    pub name: *const c_char,
    pub version: *const c_char,
    pub hooks: *const c_char,
    pub call: unsafe extern "C" fn(call: *const RawCall, out: *mut *mut u8, out_len: *mut usize) -> i32,
    pub free: unsafe extern "C" fn(ptr: *mut u8, len: usize),
}

/// An error a handler returns, or a host call answered: a protocol code and
/// a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub code: i32,
    pub message: String,
}

impl Error {
    /// A handler failure (code FAILED).
    pub fn failed(message: impl Into<String>) -> Error {
        Error { code: code::FAILED, message: message.into() }
    }
}

static HOST: AtomicPtr<HostTable> = AtomicPtr::new(std::ptr::null_mut());

/// One call, as a handler sees it.
pub struct Call<'a> {
    raw: *const RawCall,
    host: *const HostTable,
    _call: std::marker::PhantomData<&'a RawCall>,
}

fn bytes<'a>(p: *const u8, n: usize) -> &'a [u8] {
    if p.is_null() || n == 0 {
        &[]
    } else {
        // SAFETY: the host guarantees p..p+n is valid for the call.
        unsafe { std::slice::from_raw_parts(p, n) }
    }
}

// SAFETY (every unsafe field read below): raw and host are the host's,
// valid for the call and the process; a field appended to version 1 is
// read only when the host's sizes say it wrote it.
impl<'a> Call<'a> {
    /// The hook or function called, e.g. "greet".
    pub fn name(&self) -> &str {
        let (p, n) = unsafe { ((*self.raw).name, (*self.raw).name_len) };
        std::str::from_utf8(bytes(p as *const u8, n)).unwrap_or("")
    }
    /// "before", "define", "after", or "" for a direct call.
    pub fn phase(&self) -> &str {
        let (p, n) = unsafe { ((*self.raw).phase, (*self.raw).phase_len) };
        std::str::from_utf8(bytes(p as *const u8, n)).unwrap_or("")
    }
    /// The call's input, JSON.
    pub fn input(&self) -> &[u8] {
        unsafe { bytes((*self.raw).input, (*self.raw).input_len) }
    }
    /// The plugin's settings, a JSON object with defaults filled in.
    pub fn config(&self) -> &[u8] {
        unsafe { bytes((*self.raw).config, (*self.raw).config_len) }
    }
    /// The call's W3C traceparent (`"00-TRACEID-SPANID-FLAGS"`), or `""`
    /// when the host does not trace the call or is too old to pass it.
    /// Give it, with [`Call::tracestate`], to a tracer to make the
    /// plugin's spans children of the host's call span.
    pub fn traceparent(&self) -> &str {
        if !self.has(std::mem::offset_of!(RawCall, traceparent_len) + std::mem::size_of::<usize>()) {
            return "";
        }
        let (p, n) = unsafe { ((*self.raw).traceparent, (*self.raw).traceparent_len) };
        std::str::from_utf8(bytes(p as *const u8, n)).unwrap_or("")
    }
    /// The W3C tracestate that goes with [`Call::traceparent`], or `""`.
    pub fn tracestate(&self) -> &str {
        if !self.has(std::mem::offset_of!(RawCall, tracestate_len) + std::mem::size_of::<usize>()) {
            return "";
        }
        let (p, n) = unsafe { ((*self.raw).tracestate, (*self.raw).tracestate_len) };
        std::str::from_utf8(bytes(p as *const u8, n)).unwrap_or("")
    }
    /// Whether the host's call struct holds its first `end` bytes.
    fn has(&self, end: usize) -> bool {
        let covers = |size: u32| size as usize >= std::mem::offset_of!(HostTable, call_size) + std::mem::size_of::<u32>();
        unsafe { covers((*self.host).size) && (*self.host).call_size as usize >= end }
    }
    /// Calls the host function `func` with a JSON input; the host checks
    /// the plugin's grants first.
    pub fn host_call(&self, func: &str, input: &[u8]) -> Result<Vec<u8>, Error> {
        let mut name = Vec::with_capacity(func.len() + 1);
        name.extend_from_slice(func.as_bytes());
        name.push(0);
        let mut out: *mut u8 = std::ptr::null_mut();
        let mut out_len: usize = 0;
        // SAFETY: the table is the host's, valid for the process; the
        // result is the host's until it is freed below or the call ends.
        let rc = unsafe {
            ((*self.host).host_call)((*self.raw).ctx, name.as_ptr() as *const c_char, input.as_ptr(), input.len(), &mut out, &mut out_len)
        };
        let res = bytes(out, out_len).to_vec();
        if !out.is_null() {
            unsafe { ((*self.host).free)((*self.raw).ctx, out) };
        }
        if rc == code::OK {
            Ok(res)
        } else {
            Err(Error { code: rc, message: String::from_utf8_lossy(&res).into_owned() })
        }
    }
    /// Writes a line to the host's log (the "log" capability).
    pub fn log(&self, level: &str, msg: &str) -> Result<(), Error> {
        let input = format!("{{\"level\":{},\"msg\":{}}}", json::quote(level), json::quote(msg));
        self.host_call("log", input.as_bytes()).map(|_| ())
    }
}

/// A plugin's handler: JSON in, JSON out.
pub type Handler = fn(&Call) -> Result<Vec<u8>, Error>;

/// Hands `data` to the host; `free_result` takes it back.
fn give(data: Vec<u8>, out: *mut *mut u8, out_len: *mut usize) {
    let boxed = data.into_boxed_slice();
    let len = boxed.len();
    let ptr = Box::into_raw(boxed) as *mut u8;
    // SAFETY: out and out_len are the host's, valid for the call.
    unsafe {
        *out = ptr;
        *out_len = len;
    }
}

/// The body of the plugin's `call`; used by [`native_plugin!`].
///
/// # Safety
/// `raw`, `out` and `out_len` must be the host's, as the ABI says.
pub unsafe fn dispatch(handler: Handler, raw: *const RawCall, out: *mut *mut u8, out_len: *mut usize) -> i32 {
    let host = HOST.load(Ordering::Acquire);
    if raw.is_null() || host.is_null() {
        return code::FAILED;
    }
    let call = Call { raw, host, _call: std::marker::PhantomData };
    match catch_unwind(AssertUnwindSafe(|| handler(&call))) {
        Ok(Ok(data)) => {
            give(data, out, out_len);
            code::OK
        }
        Ok(Err(e)) => {
            give(e.message.into_bytes(), out, out_len);
            e.code
        }
        Err(_) => {
            give(b"the handler panicked".to_vec(), out, out_len);
            code::FAILED
        }
    }
}

/// The plugin's `free`: releases a result of [`dispatch`].
///
/// # Safety
/// `ptr` and `len` must be a result `dispatch` gave.
pub unsafe extern "C" fn free_result(ptr: *mut u8, len: usize) {
    if !ptr.is_null() {
        drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(ptr, len)));
    }
}

/// The body of `airlock_native_init`; used by [`native_plugin!`]. It checks
/// the host's version before anything else.
///
/// # Safety
/// `host` and `out` must be the host's, as the ABI says.
pub unsafe fn init(
    host: *const HostTable,
    out: *mut PluginTable,
    names: [&'static CStr; 3],
    call: unsafe extern "C" fn(*const RawCall, *mut *mut u8, *mut usize) -> i32,
) -> i32 {
    if host.is_null() || out.is_null() {
        return code::FAILED;
    }
    if (*host).api_version != API_VERSION {
        return code::VERSION_MISMATCH;
    }
    HOST.store(host as *mut HostTable, Ordering::Release);
    let out = &mut *out;
    out.api_version = API_VERSION;
    out.name = names[0].as_ptr();
    out.version = names[1].as_ptr();
    out.hooks = names[2].as_ptr();
    out.call = call;
    out.free = free_result;
    code::OK
}

/// Declares a native plugin: its name, version, hooks (separated by
/// spaces) and handler.
///
/// ```ignore
/// airlock_native::native_plugin!(c"hello", c"0.1.0", c"greet", handle);
/// ```
#[macro_export]
macro_rules! native_plugin {
    ($name:expr, $version:expr, $hooks:expr, $handler:expr) => {
        #[no_mangle]
        pub extern "C" fn airlock_native_api_version() -> u32 {
            $crate::API_VERSION
        }

        unsafe extern "C" fn __airlock_native_call(
            call: *const $crate::RawCall,
            out: *mut *mut u8,
            out_len: *mut usize,
        ) -> i32 {
            $crate::dispatch($handler, call, out, out_len)
        }

        /// # Safety
        /// Called by the host only, as the ABI says.
        #[no_mangle]
        pub unsafe extern "C" fn airlock_native_init(
            host: *const $crate::HostTable,
            out: *mut $crate::PluginTable,
        ) -> i32 {
            $crate::init(host, out, [$name, $version, $hooks], __airlock_native_call)
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    unsafe extern "C" fn fake_host_call(
        _: *mut c_void,
        _: *const c_char,
        _: *const u8,
        _: usize,
        _: *mut *mut u8,
        _: *mut usize,
    ) -> i32 {
        code::DENIED
    }
    unsafe extern "C" fn fake_free(_: *mut c_void, _: *mut u8) {}
    unsafe extern "C" fn no_call(_: *const RawCall, _: *mut *mut u8, _: *mut usize) -> i32 {
        code::FAILED
    }

    fn host(version: u32) -> HostTable {
        HostTable { api_version: version, size: 0, host_call: fake_host_call, free: fake_free, call_size: 0 }
    }

    fn empty_table() -> PluginTable {
        PluginTable {
            api_version: 0,
            size: 0,
            name: std::ptr::null(),
            version: std::ptr::null(),
            hooks: std::ptr::null(),
            call: no_call,
            free: free_result,
        }
    }

    // init refuses a host of another version before touching its table.
    #[test]
    fn init_checks_the_version_first() {
        let names = [c"p", c"1.0.0", c"greet"];
        let mut out = empty_table();
        assert_eq!(unsafe { init(&host(2), &mut out, names, no_call) }, code::VERSION_MISMATCH);
        assert!(out.name.is_null(), "the table was filled in for a mismatched host");
        assert_eq!(unsafe { init(&host(API_VERSION), &mut out, names, no_call) }, code::OK);
        assert_eq!(out.api_version, API_VERSION);
    }

    fn panics(_: &Call) -> Result<Vec<u8>, Error> {
        panic!("boom")
    }

    /// greet_call is a call of "greet" with no input, config or trace
    /// context, as a host would fill it in.
    fn greet_call() -> RawCall {
        RawCall {
            name: c"greet".as_ptr(),
            name_len: 5,
            phase: c"".as_ptr(),
            phase_len: 0,
            input: std::ptr::null(),
            input_len: 0,
            config: std::ptr::null(),
            config_len: 0,
            ctx: std::ptr::null_mut(),
            traceparent: std::ptr::null(),
            traceparent_len: 0,
            tracestate: std::ptr::null(),
            tracestate_len: 0,
        }
    }

    // The trace context is read only when the host's sizes say it is
    // there: an older host's shorter call struct is never read past.
    #[test]
    fn traceparent_only_from_hosts_that_pass_it() {
        let tp = c"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let raw = RawCall {
            traceparent: tp.as_ptr(),
            traceparent_len: tp.to_bytes().len(),
            tracestate: c"k=v".as_ptr(),
            tracestate_len: 3,
            ..greet_call()
        };
        let call = |host: &HostTable| {
            let c = Call { raw: &raw, host, _call: std::marker::PhantomData };
            (c.traceparent().to_string(), c.tracestate().to_string())
        };
        let mut new = host(API_VERSION);
        new.size = std::mem::size_of::<HostTable>() as u32;
        new.call_size = std::mem::size_of::<RawCall>() as u32;
        assert_eq!(call(&new), (tp.to_str().unwrap().to_string(), "k=v".to_string()));
        let mut old = host(API_VERSION);
        old.size = std::mem::offset_of!(HostTable, call_size) as u32; // a table without call_size
        old.call_size = std::mem::size_of::<RawCall>() as u32; // not to be read
        assert_eq!(call(&old), (String::new(), String::new()));
        new.call_size = std::mem::offset_of!(RawCall, traceparent) as u32; // a call struct up to ctx
        assert_eq!(call(&new), (String::new(), String::new()));
    }

    // A handler's panic becomes an error at the boundary.
    #[test]
    fn dispatch_catches_panics() {
        let h = Box::leak(Box::new(host(API_VERSION)));
        HOST.store(h, Ordering::Release);
        let raw = greet_call();
        let (mut out, mut n) = (std::ptr::null_mut(), 0usize);
        let rc = unsafe { dispatch(panics, &raw, &mut out, &mut n) };
        assert_eq!(rc, code::FAILED);
        let msg = unsafe { std::slice::from_raw_parts(out, n) }.to_vec();
        unsafe { free_result(out, n) };
        assert_eq!(msg, b"the handler panicked");
    }
}
