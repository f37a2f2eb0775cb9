//! What the process does to itself before serving: the protocol moves off
//! standard output, and (on Linux) the process becomes non-dumpable.

use std::io::{self, Write};

/// Makes the process non-dumpable (threat: another process of the same
/// user opening /proc/PID/fd to read or inject into the protocol pipes, or
/// attaching a debugger to read the plugin's memory).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn protect_process() {
    use std::os::raw::{c_int, c_ulong};
    extern "C" {
        fn prctl(option: c_int, ...) -> c_int;
    }
    const PR_SET_DUMPABLE: c_int = 4;
    // SAFETY: prctl(PR_SET_DUMPABLE, 0) reads no memory; its result is
    // advisory here (a confined process may be refused, and is then no
    // worse off).
    unsafe {
        prctl(PR_SET_DUMPABLE, 0 as c_ulong, 0 as c_ulong, 0 as c_ulong, 0 as c_ulong);
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn protect_process() {}

/// Duplicates descriptor 1 for the protocol (close-on-exec), then points
/// descriptor 1 at standard error, so that a stray `println!` from the
/// plugin or a library it uses lands in the plugin's log instead of
/// corrupting the protocol (threat: a line on standard output that is not
/// a message stops the plugin).
#[cfg(unix)]
pub(crate) fn private_stdout() -> io::Result<Box<dyn Write + Send>> {
    use std::fs::File;
    use std::os::raw::c_int;
    use std::os::unix::io::FromRawFd;
    extern "C" {
        fn dup(fd: c_int) -> c_int;
        fn dup2(from: c_int, to: c_int) -> c_int;
        fn fcntl(fd: c_int, cmd: c_int, ...) -> c_int;
        fn close(fd: c_int) -> c_int;
    }
    // The same values on every Unix.
    const F_SETFD: c_int = 2;
    const FD_CLOEXEC: c_int = 1;
    io::stdout().flush()?;
    // SAFETY: plain descriptor calls on descriptors this process owns; the
    // new descriptor is owned by the File from here on.
    unsafe {
        let fd = dup(1);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        fcntl(fd, F_SETFD, FD_CLOEXEC);
        if dup2(2, 1) < 0 {
            let e = io::Error::last_os_error();
            close(fd);
            return Err(e);
        }
        Ok(Box::new(File::from_raw_fd(fd)))
    }
}

/// Where descriptors cannot be duplicated portably, the protocol stays on
/// standard output: do not print to it.
#[cfg(not(unix))]
pub(crate) fn private_stdout() -> io::Result<Box<dyn Write + Send>> {
    Ok(Box::new(io::stdout()))
}
