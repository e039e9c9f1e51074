//! The read-pointer write path: concurrent `mark-read`s are grouped into one statement and
//! one commit, like message sends, since read pointers move about as often as messages
//! arrive.

use std::collections::HashMap;

use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};

use crate::{
    domain::{RoomId, UserId},
    error::Error,
    repo,
    writer::next_batch,
};

/// Most pointers moved in one statement, and moves waiting for the writer.
const MAX_BATCH: usize = 1024;
const QUEUE: usize = 8192;

/// A pointer before and after a move (equal when it did not move).
pub type Moved = (i64, i64);

struct Job {
    room: RoomId,
    user: UserId,
    seq: i64,
    done: oneshot::Sender<Result<Moved, Error>>,
}

#[derive(Clone)]
pub struct ReadPointers {
    queue: mpsc::Sender<Job>,
}

impl ReadPointers {
    pub fn spawn(pool: PgPool) -> Self {
        let (queue, mut jobs) = mpsc::channel::<Job>(QUEUE);
        tokio::spawn(async move {
            while let Some(batch) = next_batch(&mut jobs, MAX_BATCH).await {
                write(&pool, batch).await;
            }
        });
        Self { queue }
    }

    /// Moves `user`'s pointer in `room` forward to `seq` (never back), once committed.
    pub async fn advance(&self, room: RoomId, user: UserId, seq: i64) -> Result<Moved, Error> {
        let (done, outcome) = oneshot::channel();
        let stopped = || Error::Unavailable("the read-pointer writer stopped");
        self.queue
            .send(Job {
                room,
                user,
                seq,
                done,
            })
            .await
            .map_err(|_| stopped())?;
        outcome.await.map_err(|_| stopped())?
    }
}

async fn write(pool: &PgPool, batch: Vec<Job>) {
    let rooms: Vec<RoomId> = batch.iter().map(|job| job.room).collect();
    let users: Vec<UserId> = batch.iter().map(|job| job.user).collect();
    let seqs: Vec<i64> = batch.iter().map(|job| job.seq).collect();
    let result = async {
        let mut db = pool.acquire().await?;
        repo::advance_reads(&mut db, &rooms, &users, &seqs).await
    }
    .await;
    match result {
        Ok(rows) => {
            metrics::histogram!("parley_chat_read_batch_size").record(batch.len() as f64);
            let moved: HashMap<(RoomId, UserId), Moved> = rows
                .into_iter()
                .map(|(room, user, before, after)| ((room, user), (before, after)))
                .collect();
            for job in batch {
                let outcome = moved
                    .get(&(job.room, job.user))
                    .copied()
                    .ok_or(Error::PermissionDenied("you are not a member of this room"));
                let _ = job.done.send(outcome);
            }
        }
        Err(error) => {
            tracing::warn!(%error, size = batch.len(), "a read-pointer batch failed");
            for job in batch {
                let _ = job.done.send(Err(Error::Unavailable(
                    "the read pointer could not be stored; retry",
                )));
            }
        }
    }
}
