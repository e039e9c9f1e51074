//! The bounded pool image work runs on: a few blocking threads, off the async runtime, so
//! that decoding a photo never delays a chat message, and a short queue in front of them, so
//! that a burst of uploads is refused (`UNAVAILABLE`, retry later) instead of piling up
//! decoded images in memory.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How many requests may wait per thread. Waiting costs a held request only: the bytes are
/// read once a place is given.
const QUEUED_PER_THREAD: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Busy {
    #[error("too many uploads are being processed: retry later")]
    QueueFull,
}

pub struct Processor {
    permits: Arc<Semaphore>,
    waiting: AtomicUsize,
    max_waiting: usize,
}

/// A place on the pool: the work done while it is held counts against the pool's size.
pub struct Place(#[allow(dead_code, reason = "held for its drop")] OwnedSemaphorePermit);

impl Processor {
    /// A pool of `threads` (0: half the cores, at least one, so that photos never take every
    /// core from the chat traffic beside them; docs/BENCHMARKS.md measures the choice).
    pub fn new(threads: usize) -> Self {
        let threads = if threads == 0 {
            std::thread::available_parallelism().map_or(1, |cores| (usize::from(cores) / 2).max(1))
        } else {
            threads
        };
        Self {
            permits: Arc::new(Semaphore::new(threads)),
            waiting: AtomicUsize::new(0),
            max_waiting: threads.saturating_mul(QUEUED_PER_THREAD),
        }
    }

    /// Waits for a place, or refuses at once when the queue is full.
    pub async fn place(&self) -> Result<Place, Busy> {
        if let Ok(permit) = self.permits.clone().try_acquire_owned() {
            return Ok(Place(permit));
        }
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(Busy::QueueFull);
        }
        let permit = self.permits.clone().acquire_owned().await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        // The semaphore is never closed.
        permit.map(Place).map_err(|_| Busy::QueueFull)
    }
}

/// Runs CPU-bound `work` on a blocking thread; `None` if it panicked (a bug, logged).
pub async fn off_runtime<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    match tokio::task::spawn_blocking(work).await {
        Ok(done) => Some(done),
        Err(error) => {
            tracing::error!(%error, "media processing panicked");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_queue_refuses_at_once() {
        let processor = Arc::new(Processor::new(1));
        let held = processor.place().await;
        assert!(held.is_ok());
        let mut waiters = Vec::new();
        for _ in 0..QUEUED_PER_THREAD {
            let processor = processor.clone();
            waiters.push(tokio::spawn(async move { processor.place().await.is_ok() }));
        }
        while processor.waiting.load(Ordering::Acquire) < QUEUED_PER_THREAD {
            tokio::task::yield_now().await;
        }
        assert_eq!(processor.place().await.err(), Some(Busy::QueueFull));
        drop(held);
        for waiter in waiters {
            assert!(matches!(waiter.await, Ok(true)));
        }
    }
}
