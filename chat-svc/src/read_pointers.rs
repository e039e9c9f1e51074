//! The read-pointer write path: concurrent `mark-read`s are grouped into one statement and
//! one commit by the batching writer that serves message sends too ([`crate::batching`]),
//! since read pointers move about as often as messages arrive.

use std::collections::HashMap;

use sqlx::PgPool;

use crate::{
    batching::{Batcher, Layout, Sharded},
    domain::{RoomId, UserId},
    error::Error,
    repo,
};

/// Most pointers moved in one statement, and moves waiting for the writer.
const MAX_BATCH: usize = 1024;
const QUEUE: usize = 8192;
/// One writer: a batch is one short statement, and each writer holds one of the pool's
/// connections while it writes. Moves are routed by room, so with more writers a room's
/// moves would still keep their order.
const WRITERS: usize = 1;

/// A pointer before and after a move (equal when it did not move).
pub type Moved = (i64, i64);

struct Move {
    room: RoomId,
    user: UserId,
    seq: i64,
}

impl Sharded for Move {
    fn shard_key(&self) -> u128 {
        self.room.0.as_u128()
    }
}

#[derive(Clone)]
pub struct ReadPointers {
    batcher: Batcher<Move, Moved>,
}

impl ReadPointers {
    pub fn spawn(pool: PgPool) -> Self {
        let layout = Layout {
            shards: WRITERS,
            max_batch: MAX_BATCH,
            queue: QUEUE,
            stopped: "the read-pointer writer stopped",
        };
        let batcher = Batcher::spawn(layout, move |batch: Vec<Move>| {
            let pool = pool.clone();
            async move { write(&pool, &batch).await }
        });
        Self { batcher }
    }

    /// Moves `user`'s pointer in `room` forward to `seq` (never back), once committed.
    pub async fn advance(&self, room: RoomId, user: UserId, seq: i64) -> Result<Moved, Error> {
        self.batcher.submit(Move { room, user, seq }).await
    }
}

/// Moves the batch's pointers in one statement; returns each move's outcome, in order.
async fn write(pool: &PgPool, batch: &[Move]) -> Vec<Result<Moved, Error>> {
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
            batch
                .iter()
                .map(|job| {
                    moved
                        .get(&(job.room, job.user))
                        .copied()
                        .ok_or(Error::PermissionDenied("you are not a member of this room"))
                })
                .collect()
        }
        Err(error) => {
            tracing::warn!(%error, size = batch.len(), "a read-pointer batch failed");
            batch
                .iter()
                .map(|_| {
                    Err(Error::Unavailable(
                        "the read pointer could not be stored; retry",
                    ))
                })
                .collect()
        }
    }
}
