//! Keeping resident memory to what is in use. glibc's malloc keeps memory freed by one
//! thread in that thread's arena for reuse, so a burst (a thousand changes at once, a big
//! config assembled and sent) leaves the process tens of MiB larger for good. proxyhub caps
//! the arenas at start-up and hands freed memory back every few seconds, from the reconciler
//! (off the request path: trimming holds the arenas' locks for its few milliseconds).

/// Caps glibc's malloc arenas (one per core by default, times eight): fewer arenas keep
/// less freed memory aside, at no measurable cost for proxyhub's few busy threads.
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[allow(unsafe_code)]
    // SAFETY: mallopt only sets an allocator tunable; called once before other threads start.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// Returns memory freed since to the OS (glibc's `malloc_trim`; a few ms at most).
pub fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[allow(unsafe_code)]
    // SAFETY: malloc_trim only releases free memory of malloc's own arenas.
    unsafe {
        libc::malloc_trim(0);
    }
}
