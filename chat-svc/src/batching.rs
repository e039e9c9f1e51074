//! One batching writer, shared by chat-svc's write paths (message sends, read-pointer moves):
//! jobs wait in bounded queues, one per shard; each shard's loop takes the next batch (one
//! job, then every job already waiting, up to the most a batch holds) and hands it to the
//! write function, which answers each job once its batch is written. Under load batches grow
//! by themselves; when idle, a lone job goes at once.
//!
//! A job's shard comes from its key (its room), so jobs with the same key go through one
//! shard in order, while the other shards' batches go alongside.

use std::{future::Future, sync::Arc};

use tokio::sync::{mpsc, oneshot};

use crate::error::Error;

/// What routes a job to its shard: jobs with the same key are written in the order they
/// were submitted.
pub trait Sharded {
    fn shard_key(&self) -> u128;
}

/// How a batcher is laid out.
#[derive(Clone, Copy)]
pub struct Layout {
    /// Shards, each with its own queue and its own batch in flight (at least one).
    pub shards: usize,
    /// Most jobs handed to one write.
    pub max_batch: usize,
    /// Jobs waiting in each shard; past it, submitters wait (back-pressure, bounded memory).
    pub queue: usize,
    /// What a submitter hears when the batcher stopped (its shard's loop ended).
    pub stopped: &'static str,
}

type Answer<Outcome> = oneshot::Sender<Result<Outcome, Error>>;
/// A shard's queue: each job with where its outcome goes.
type Queue<Job, Outcome> = mpsc::Sender<(Job, Answer<Outcome>)>;

/// Hands jobs to the shard of their key and waits for their outcome.
pub struct Batcher<Job, Outcome> {
    shards: Arc<[Queue<Job, Outcome>]>,
    stopped: &'static str,
}

impl<Job, Outcome> Clone for Batcher<Job, Outcome> {
    fn clone(&self) -> Self {
        Self {
            shards: self.shards.clone(),
            stopped: self.stopped,
        }
    }
}

impl<Job, Outcome> Batcher<Job, Outcome>
where
    Job: Sharded + Send + 'static,
    Outcome: Send + 'static,
{
    /// Starts a loop per shard of `layout`. `write` writes one batch and returns each job's
    /// outcome, in the batch's order; a job it leaves without one hears that the batcher
    /// stopped.
    pub fn spawn<Write, Written>(layout: Layout, write: Write) -> Self
    where
        Write: Fn(Vec<Job>) -> Written + Send + Sync + 'static,
        Written: Future<Output = Vec<Result<Outcome, Error>>> + Send + 'static,
    {
        let write = Arc::new(write);
        let shards = (0..layout.shards.max(1))
            .map(|_| {
                let (queue, mut waiting) = mpsc::channel(layout.queue);
                let write = write.clone();
                tokio::spawn(async move {
                    while let Some(batch) = next_batch(&mut waiting, layout.max_batch).await {
                        let (jobs, answers): (Vec<Job>, Vec<Answer<Outcome>>) =
                            batch.into_iter().unzip();
                        let outcomes = write(jobs).await;
                        for (answer, outcome) in answers.into_iter().zip(outcomes) {
                            // A submitter that gave up no longer listens.
                            let _ = answer.send(outcome);
                        }
                    }
                });
                queue
            })
            .collect();
        Self {
            shards,
            stopped: layout.stopped,
        }
    }

    /// Queues `job` on its shard (waiting while the queue is full) and returns its outcome
    /// once its batch is written.
    pub async fn submit(&self, job: Job) -> Result<Outcome, Error> {
        let stopped = || Error::Unavailable(self.stopped);
        let shard = usize::try_from(job.shard_key() % self.shards.len() as u128)
            .ok()
            .and_then(|index| self.shards.get(index))
            .ok_or_else(stopped)?;
        let (answer, outcome) = oneshot::channel();
        shard.send((job, answer)).await.map_err(|_| stopped())?;
        outcome.await.map_err(|_| stopped())?
    }
}

/// The next batch: waits for one job, then takes every job already waiting, up to `max`.
async fn next_batch<T>(jobs: &mut mpsc::Receiver<T>, max: usize) -> Option<Vec<T>> {
    let mut batch = vec![jobs.recv().await?];
    while batch.len() < max {
        match jobs.try_recv() {
            Ok(job) => batch.push(job),
            Err(_) => break,
        }
    }
    Some(batch)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use futures_util::future::join_all;

    use super::*;

    /// A job of `key`, numbered `n`.
    struct Numbered {
        key: u128,
        n: u32,
    }

    impl Sharded for Numbered {
        fn shard_key(&self) -> u128 {
            self.key
        }
    }

    fn layout(shards: usize, max_batch: usize) -> Layout {
        Layout {
            shards,
            max_batch,
            queue: 64,
            stopped: "the test writer stopped",
        }
    }

    /// Each batch written, as its jobs' keys and numbers.
    type Written = Arc<Mutex<Vec<Vec<(u128, u32)>>>>;

    /// A batcher whose write records each batch and answers each job with its number.
    fn recording(layout: Layout) -> (Batcher<Numbered, u32>, Written) {
        let batches = Arc::new(Mutex::new(Vec::new()));
        let seen = batches.clone();
        let batcher = Batcher::spawn(layout, move |jobs: Vec<Numbered>| {
            seen.lock()
                .unwrap()
                .push(jobs.iter().map(|job| (job.key, job.n)).collect());
            async move { jobs.into_iter().map(|job| Ok(job.n)).collect() }
        });
        (batcher, batches)
    }

    // A current-thread runtime: the shard's loop runs only once every submit is queued.
    #[tokio::test]
    async fn waiting_jobs_go_as_one_batch_up_to_its_most_and_each_hears_its_outcome() {
        let (batcher, batches) = recording(layout(1, 3));
        let outcomes = join_all((0..5).map(|n| batcher.submit(Numbered { key: 7, n }))).await;
        assert_eq!(
            outcomes.into_iter().map(Result::unwrap).collect::<Vec<_>>(),
            [0, 1, 2, 3, 4]
        );
        let numbers: Vec<Vec<u32>> = batches
            .lock()
            .unwrap()
            .iter()
            .map(|batch| batch.iter().map(|(_, n)| *n).collect())
            .collect();
        assert_eq!(numbers, [vec![0, 1, 2], vec![3, 4]]);
    }

    #[tokio::test]
    async fn a_lone_job_goes_at_once() {
        let (batcher, batches) = recording(layout(1, 100));
        assert_eq!(batcher.submit(Numbered { key: 1, n: 9 }).await.unwrap(), 9);
        assert_eq!(*batches.lock().unwrap(), [vec![(1, 9)]]);
    }

    #[tokio::test]
    async fn jobs_of_one_key_share_a_shard_in_order_and_other_keys_go_to_others() {
        let (batcher, batches) = recording(layout(2, 100));
        let jobs = [(4, 0), (5, 1), (4, 2), (5, 3), (4, 4)];
        join_all(jobs.map(|(key, n)| batcher.submit(Numbered { key, n }))).await;
        let mut batches = batches.lock().unwrap().clone();
        batches.sort();
        assert_eq!(
            batches,
            [vec![(4, 0), (4, 2), (4, 4)], vec![(5, 1), (5, 3)]]
        );
    }

    #[tokio::test]
    async fn a_stopped_batcher_answers_unavailable() {
        let batcher: Batcher<Numbered, u32> = Batcher::spawn(layout(1, 10), |_jobs| async {
            panic!("the writer dies");
        });
        let outcome = batcher.submit(Numbered { key: 0, n: 0 }).await;
        assert!(
            matches!(outcome, Err(Error::Unavailable("the test writer stopped"))),
            "{outcome:?}"
        );
        // Its loop is gone: the next job is refused at the queue.
        let outcome = batcher.submit(Numbered { key: 0, n: 1 }).await;
        assert!(
            matches!(outcome, Err(Error::Unavailable("the test writer stopped"))),
            "{outcome:?}"
        );
    }

    #[tokio::test]
    async fn a_job_the_write_leaves_unanswered_hears_that_the_batcher_stopped() {
        let batcher: Batcher<Numbered, u32> =
            Batcher::spawn(layout(1, 10), |_jobs| async { Vec::new() });
        let outcome = batcher.submit(Numbered { key: 0, n: 0 }).await;
        assert!(
            matches!(outcome, Err(Error::Unavailable("the test writer stopped"))),
            "{outcome:?}"
        );
    }
}
