//! The background thread: one OS thread of its own, at a lower scheduling priority (nice 10
//! on Linux), running the log pipeline's work (parsing, encoding, storing, pruning). The
//! runtime that answers requests keeps its threads for requests: on a busy machine the kernel
//! gives the CPU to a request before a batch of the log, and it is ingest that falls behind
//! (and says so in `GET /api/logs/status`), not the answers. Threads this thread starts (the
//! SQLite connection it opens, the file watcher) inherit its priority.

use std::{future::Future, sync::OnceLock};

use tokio::{runtime::Handle, task::JoinHandle};

/// How much lower than the rest of proxyhub the background thread runs: CFS gives a thread
/// of nice 10 about a tenth of the CPU a thread of nice 0 gets when both want it, and all of
/// it when nothing else does.
pub const NICE: i32 = 10;

/// The background runtime, started on first use; one for the process.
fn handle() -> &'static Handle {
    static HANDLE: OnceLock<Handle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("proxyhub-background".into())
            .spawn(move || {
                lower_priority();
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("the background runtime");
                tx.send(rt.handle().clone()).expect("the handle is awaited");
                rt.block_on(std::future::pending::<()>());
            })
            .expect("the background thread starts");
        rx.recv().expect("the background runtime starts")
    })
}

/// Runs `future` on the background thread. Dropping the returned guard (the task awaiting it
/// was dropped, e.g. its runtime shut down) cancels it.
pub fn spawn<F>(future: F) -> Task<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    Task(handle().spawn(future))
}

/// A task on the background thread, cancelled when dropped.
pub struct Task<T>(JoinHandle<T>);

impl<T> Future for Task<T> {
    type Output = Result<T, tokio::task::JoinError>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0).poll(cx)
    }
}

impl<T> Drop for Task<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Lowers the calling thread's priority to [`NICE`] (Linux: nice is per thread, and threads
/// it starts inherit it). Lowering needs no privilege; a failure only leaves it as it was.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    #[allow(unsafe_code)]
    // SAFETY: plain system calls on the calling thread's id, no memory passed.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        if libc::setpriority(libc::PRIO_PROCESS, tid, NICE) != 0 {
            tracing::warn!(error = %std::io::Error::last_os_error(), "could not lower the background thread's priority");
        }
    }
}

/// The nice value of the calling thread (Linux), for tests.
#[cfg(all(test, target_os = "linux"))]
#[allow(unsafe_code)]
pub fn current_nice() -> i32 {
    // SAFETY: as above. getpriority may return -1 legitimately; errno is not looked at, the
    // values tested are 0 and NICE.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::getpriority(libc::PRIO_PROCESS, tid)
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// Work on the background thread runs at the lower priority, and so do the threads it
    /// starts; the caller's thread keeps its own.
    #[tokio::test]
    async fn background_work_runs_at_a_lower_priority() {
        let mine = current_nice();
        let (there, child) = spawn(async {
            let child = std::thread::spawn(current_nice).join().unwrap();
            (current_nice(), child)
        })
        .await
        .unwrap();
        assert_eq!((there, child), (NICE, NICE));
        assert_eq!(current_nice(), mine);
    }
}
