//! A persistent pool of kernel threads, so a parallel region (GEMM, attention, per-row ops) hands
//! work to threads that already exist instead of spawning and joining new ones on every call.
//!
//! `run(t, f)` calls `f(0)` on the calling thread and `f(1)` .. `f(t-1)` on pool workers, and
//! returns when all have finished. Only one region uses the pool at a time: a region that starts
//! while another holds it (another caller thread, or a region nested inside a worker) runs on
//! scoped threads as before, so there is no deadlock and no oversubscription of the pool.
//! Workers block on a channel between regions (no spinning: the cores may be shared).
//! `BIOMEG_NO_POOL=1` (read once) spawns scoped threads per region instead, for before/after timing.
#![cfg(not(target_arch = "wasm32"))]

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Condvar, Mutex};

/// The work of one region, lifetime-erased: `run` does not return before every worker is done
/// with it, so the borrow it stands for outlives every use.
type Work = &'static (dyn Fn(usize) + Sync);

struct Job {
    work: Work,
    index: usize,
    latch: Arc<Latch>,
}

/// Counts the workers still busy with a region; the caller waits for zero.
struct Latch {
    left: Mutex<usize>,
    zero: Condvar,
    panicked: AtomicBool,
}

impl Latch {
    fn done(&self) {
        let mut left = self.left.lock().unwrap_or_else(|e| e.into_inner());
        *left -= 1;
        if *left == 0 {
            self.zero.notify_one();
        }
    }

    fn wait(&self) {
        let mut left = self.left.lock().unwrap_or_else(|e| e.into_inner());
        while *left > 0 {
            left = self.zero.wait(left).unwrap_or_else(|e| e.into_inner());
        }
    }
}

static WORKERS: Mutex<Vec<Sender<Job>>> = Mutex::new(Vec::new());

fn spawn_worker() -> Sender<Job> {
    let (tx, rx) = channel::<Job>();
    std::thread::Builder::new()
        .name("biomeg-kernel".into())
        .spawn(move || {
            for job in rx {
                if catch_unwind(AssertUnwindSafe(|| (job.work)(job.index))).is_err() {
                    job.latch.panicked.store(true, Ordering::Relaxed);
                }
                job.latch.done();
            }
        })
        .expect("cannot start a kernel thread");
    tx
}

/// Run `f(i)` for i in 0..t, `f(0)` on this thread; returns the milliseconds `f(0)` took while
/// profiling (0 otherwise), so callers can report the hand-off as wall time minus their own share.
pub fn run(t: usize, f: &(dyn Fn(usize) + Sync)) -> f64 {
    if t <= 1 {
        return super::gemm::timed(|| f(0));
    }
    static DISABLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if *DISABLED.get_or_init(|| std::env::var("BIOMEG_NO_POOL").is_ok_and(|v| v == "1")) {
        return scoped(t, f);
    }
    let Ok(mut workers) = WORKERS.try_lock() else {
        return scoped(t, f);
    };
    while workers.len() < t - 1 {
        workers.push(spawn_worker());
    }
    let latch = Arc::new(Latch { left: Mutex::new(t - 1), zero: Condvar::new(), panicked: AtomicBool::new(false) });
    // SAFETY: `latch.wait()` below returns only after every worker has finished with `work`, and
    // it runs on every path out of this function (f(0)'s panic is caught first).
    let work: Work = unsafe { std::mem::transmute::<&(dyn Fn(usize) + Sync), Work>(f) };
    for (w, tx) in workers.iter().take(t - 1).enumerate() {
        let job = Job { work, index: w + 1, latch: latch.clone() };
        if let Err(e) = tx.send(job) {
            // the worker is gone (cannot happen: workers catch panics); do its share here
            let job = e.0;
            (job.work)(job.index);
            job.latch.done();
        }
    }
    let mut own = 0.0;
    let mine = catch_unwind(AssertUnwindSafe(|| own = super::gemm::timed(|| f(0))));
    latch.wait();
    drop(workers);
    if let Err(p) = mine {
        resume_unwind(p);
    }
    assert!(!latch.panicked.load(Ordering::Relaxed), "a kernel thread panicked");
    own
}

/// The pool is busy: spawn scoped threads for this region (the behaviour before the pool).
fn scoped(t: usize, f: &(dyn Fn(usize) + Sync)) -> f64 {
    let mut own = 0.0;
    std::thread::scope(|s| {
        for w in 1..t {
            s.spawn(move || f(w));
        }
        own = super::gemm::timed(|| f(0));
    });
    own
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn every_index_runs_once_and_run_waits_for_all() {
        for t in [1, 2, 3, 5] {
            for _ in 0..50 {
                let hits: Vec<AtomicUsize> = (0..t).map(|_| AtomicUsize::new(0)).collect();
                run(t, &|i| {
                    // uneven work, so a run that returned early would miss the slow ones
                    std::hint::black_box((0..(i * 2000)).sum::<usize>());
                    hits[i].fetch_add(1, Ordering::SeqCst);
                });
                assert!(hits.iter().all(|h| h.load(Ordering::SeqCst) == 1), "t={t}");
            }
        }
    }

    #[test]
    fn nested_and_concurrent_regions_fall_back_without_deadlock() {
        let total = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..20 {
                        run(2, &|_| {
                            run(2, &|_| {
                                total.fetch_add(1, Ordering::SeqCst);
                            });
                        });
                    }
                });
            }
        });
        assert_eq!(total.load(Ordering::SeqCst), 4 * 20 * 2 * 2);
    }

    #[test]
    fn a_panic_in_a_worker_reaches_the_caller_and_the_pool_survives() {
        let r = catch_unwind(|| {
            run(3, &|i| {
                if i == 2 {
                    panic!("boom");
                }
            })
        });
        assert!(r.is_err());
        let n = AtomicUsize::new(0);
        run(3, &|_| {
            n.fetch_add(1, Ordering::SeqCst);
        });
        assert_eq!(n.load(Ordering::SeqCst), 3);
    }
}
