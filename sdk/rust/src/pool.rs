//! An elastic pool of threads for handlers: a call runs on an idle thread
//! if there is one, on a new one otherwise; a thread idle for a while ends.
//! Starting a thread costs far more than waking one (tens to hundreds of
//! microseconds against a few), and most calls are short.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

type Job = Box<dyn FnOnce() + Send>;

/// An idle thread: its number and the channel its next job comes on.
type Idle = (u64, Sender<Job>);

/// How long a thread waits for work before it ends.
const IDLE: Duration = Duration::from_secs(10);

#[derive(Clone, Default)]
pub(crate) struct Pool {
    // The idle threads, most recently idle last (the one to wake first:
    // its stack is the warmest).
    idle: Arc<Mutex<Vec<Idle>>>,
    next: Arc<Mutex<u64>>,
}

impl Pool {
    /// Runs job on a thread of the pool; an error if a new thread was
    /// needed and could not be started (the job is then dropped).
    pub(crate) fn spawn(&self, job: Job) -> std::io::Result<()> {
        let mut job = job;
        loop {
            let worker = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
            match worker {
                // A thread that ended meanwhile gives the job back.
                Some((_, tx)) => match tx.send(job) {
                    Ok(()) => return Ok(()),
                    Err(mpsc::SendError(j)) => job = j,
                },
                None => break,
            }
        }
        let id = {
            let mut n = self.next.lock().unwrap_or_else(|p| p.into_inner());
            *n += 1;
            *n
        };
        let (tx, rx) = mpsc::channel();
        let pool = self.clone();
        thread::Builder::new().name("airlock-call".into()).spawn(move || pool.work(id, job, tx, rx))?;
        Ok(())
    }

    fn work(&self, id: u64, first: Job, tx: Sender<Job>, rx: Receiver<Job>) {
        let mut job = first;
        loop {
            job();
            self.idle.lock().unwrap_or_else(|p| p.into_inner()).push((id, tx.clone()));
            job = match rx.recv_timeout(IDLE) {
                Ok(j) => j,
                Err(RecvTimeoutError::Disconnected) => return,
                Err(RecvTimeoutError::Timeout) => {
                    let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
                    if let Some(i) = idle.iter().position(|(w, _)| *w == id) {
                        idle.remove(i);
                        return;
                    }
                    drop(idle);
                    // Taken off the idle list just now: a job is on its way.
                    match rx.recv() {
                        Ok(j) => j,
                        Err(_) => return,
                    }
                }
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Barrier;

    #[test]
    fn runs_every_job_and_reuses_idle_threads() {
        let pool = Pool::default();
        let done = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = mpsc::channel();
        for _ in 0..2000 {
            let (done, tx) = (Arc::clone(&done), tx.clone());
            pool.spawn(Box::new(move || {
                done.fetch_add(1, Ordering::SeqCst);
                tx.send(()).unwrap();
            }))
            .unwrap();
            rx.recv().unwrap();
            // One at a time, each after the thread is idle again: one
            // thread suffices.
            while pool.idle.lock().unwrap().is_empty() {
                thread::yield_now();
            }
        }
        assert_eq!(done.load(Ordering::SeqCst), 2000);
        assert_eq!(*pool.next.lock().unwrap(), 1, "a thread was started for each job instead of reused");
    }

    #[test]
    fn jobs_in_flight_at_once_each_get_a_thread() {
        let pool = Pool::default();
        let n = 16;
        let barrier = Arc::new(Barrier::new(n + 1));
        for _ in 0..n {
            let b = Arc::clone(&barrier);
            pool.spawn(Box::new(move || {
                b.wait();
            }))
            .unwrap();
        }
        barrier.wait(); // only if all n ran at once
        assert_eq!(*pool.next.lock().unwrap(), n as u64);
    }
}
