//! The message write path. Sends are grouped into batches, and each batch is one transaction
//! of five round trips, however many sends it holds: `BEGIN`, read the facts (rooms locked,
//! retries, memberships), plan in memory ([`send_plan`]), store the plan in one statement,
//! store its events, commit. Each send is answered only after its own batch commits.
//!
//! Nothing waits in one line: rooms are spread over several writers by id, each with its
//! own batch in flight, so a room's sends keep their order while other rooms' sends go
//! alongside. A lone send goes at once. A batch that fails is written again one send at a
//! time, so that a send the database refuses fails alone.

use parley_proto::chat::v1 as pb;
use std::sync::Arc;

use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::{
    domain::{MessageId, MessageType, RoomId, UserId},
    error::Error,
    events::{Batch, Events},
    repo::{self, Message},
    send_plan::{self, Decision, Refusal},
};

/// Most sends written in one transaction.
const MAX_BATCH: usize = 512;
/// Sends waiting for each writer; past it, callers wait (back-pressure, bounded memory).
const QUEUE: usize = 1024;

/// One send, as the writer receives it.
pub struct SendJob {
    pub room_id: RoomId,
    pub sender_id: UserId,
    /// How the sender is shown; known before the write so that announcing is not a call.
    pub sender: pb::User,
    /// For a DM by receiver: the receiver, and the socket that sent it (which does not get
    /// its own message back).
    pub private: Option<(UserId, Option<String>)>,
    pub content: String,
    pub message_type: MessageType,
    pub client_msg_id: Option<String>,
    pub reply_to_id: Option<MessageId>,
    /// The room's members who blocked the sender, left out of its `new-message`.
    pub blockers: Vec<UserId>,
    /// Answered with the message this send stored, or the one stored before under its
    /// clientMsgId (a retry, answered with the stored message and announced to nobody).
    pub done: oneshot::Sender<Result<Message, Error>>,
}

impl SendJob {
    fn key(&self) -> send_plan::Key<'_> {
        send_plan::Key {
            room: self.room_id,
            sender: self.sender_id,
            client_msg_id: self.client_msg_id.as_deref(),
        }
    }

    /// The message this send stores as `seq`, at the transaction's time.
    fn message(&self, seq: i64, at: chrono::DateTime<chrono::Utc>) -> Message {
        Message {
            id: MessageId(Uuid::new_v4()),
            room_id: self.room_id,
            seq,
            sender_id: self.sender_id,
            content: Some(self.content.clone()),
            message_type: self.message_type,
            client_msg_id: self.client_msg_id.clone(),
            reply_to_id: self.reply_to_id,
            created_at: at,
            edited_at: None,
            deleted_at: None,
        }
    }
}

/// Hands sends to the writer of their room.
#[derive(Clone)]
pub struct Writer {
    shards: Arc<[mpsc::Sender<SendJob>]>,
}

impl Writer {
    /// Starts `writers` writers (each holds a connection while its batch is written);
    /// `announce` tells `batch` the events of what each batch stores, in
    /// seq order, and they are stored in the batch's own transaction: every replica hears a
    /// room's messages in seq order, and only once they are committed.
    pub fn spawn(
        pool: PgPool,
        events: Arc<Events>,
        writers: usize,
        announce: impl Fn(Vec<Stored<'_>>, &Batch) + Send + Sync + 'static,
    ) -> Self {
        let announce = Arc::new(announce);
        let shards = (0..writers.max(1))
            .map(|_| {
                let (queue, mut jobs) = mpsc::channel::<SendJob>(QUEUE);
                let (pool, events, announce) = (pool.clone(), events.clone(), announce.clone());
                tokio::spawn(async move {
                    while let Some(batch) = next_batch(&mut jobs, MAX_BATCH).await {
                        let (size, started) = (batch.len(), std::time::Instant::now());
                        write_batch(&pool, &events, batch, &*announce).await;
                        metrics::histogram!("parley_chat_batch_size").record(size as f64);
                        metrics::histogram!("parley_chat_batch_seconds")
                            .record(started.elapsed().as_secs_f64());
                    }
                });
                queue
            })
            .collect();
        Self { shards }
    }

    pub async fn send(&self, mut job: SendJob) -> Result<Message, Error> {
        let stopped = || Error::Unavailable("the message writer stopped");
        let (done, outcome) = oneshot::channel();
        job.done = done;
        let shard = usize::try_from(job.room_id.0.as_u128() % self.shards.len() as u128)
            .ok()
            .and_then(|index| self.shards.get(index))
            .ok_or_else(stopped)?;
        shard.send(job).await.map_err(|_| stopped())?;
        outcome.await.map_err(|_| stopped())?
    }
}

/// The next batch: waits for one job, then takes every job already waiting, up to `max`.
/// Under load, batches grow by themselves; when idle, a lone job goes at once.
pub async fn next_batch<T>(jobs: &mut mpsc::Receiver<T>, max: usize) -> Option<Vec<T>> {
    let mut batch = vec![jobs.recv().await?];
    while batch.len() < max {
        match jobs.try_recv() {
            Ok(job) => batch.push(job),
            Err(_) => break,
        }
    }
    Some(batch)
}

/// A message a batch stored, with the send it came from.
pub struct Stored<'a> {
    pub message: &'a Message,
    pub job: &'a SendJob,
}

async fn write_batch(
    pool: &PgPool,
    events: &Events,
    batch: Vec<SendJob>,
    announce: &(impl Fn(Vec<Stored<'_>>, &Batch) + Sync),
) {
    match store(pool, events, &batch, announce).await {
        Ok(outcomes) => {
            for (job, outcome) in batch.into_iter().zip(outcomes) {
                let _ = job.done.send(outcome);
            }
        }
        Err(error @ sqlx::Error::Database(_)) if batch.len() == 1 => {
            if let Some(job) = batch.into_iter().next() {
                let _ = job.done.send(Err(lone_failure(error)));
            }
        }
        Err(error @ sqlx::Error::Database(_)) => {
            // Postgres refused the batch and stored none of it. One send may be at fault:
            // each is written again on its own, so that only that one fails.
            tracing::warn!(%error, size = batch.len(), "a message batch failed; writing its sends one by one");
            metrics::counter!("parley_chat_batches_split_total").increment(1);
            for job in batch {
                let outcome = match store(pool, events, std::slice::from_ref(&job), announce).await
                {
                    Ok(mut outcomes) => outcomes.pop().unwrap_or_else(|| Err(not_stored())),
                    Err(error) => Err(lone_failure(error)),
                };
                let _ = job.done.send(outcome);
            }
        }
        Err(error) => {
            // Postgres is away (or the pool is exhausted): nothing was stored, and every
            // sender may retry with its clientMsgId.
            tracing::warn!(%error, size = batch.len(), "a message batch failed");
            for job in batch {
                let _ = job.done.send(Err(not_stored()));
            }
        }
    }
}

/// A send that failed on its own: unavailable when Postgres is (retry later, with the same
/// clientMsgId), internal when Postgres refused the row itself (a bug, logged).
fn lone_failure(error: sqlx::Error) -> Error {
    match error {
        sqlx::Error::Database(ref refused)
            if refused.code().is_some_and(|code| {
                // Serialization failures and deadlocks: another writer got in the way.
                code == "40001" || code == "40P01"
            }) =>
        {
            not_stored()
        }
        other => Error::Database(other),
    }
}

/// The answer to a send that was not stored and may be retried with its clientMsgId.
fn not_stored() -> Error {
    Error::Unavailable("the message could not be stored; retry")
}

/// Stores the batch and its events in one transaction; returns each send's outcome, in
/// order.
async fn store(
    pool: &PgPool,
    events: &Events,
    batch: &[SendJob],
    announce: &(impl Fn(Vec<Stored<'_>>, &Batch) + Sync),
) -> sqlx::Result<Vec<Result<Message, Error>>> {
    let mut tx = pool.begin().await?;
    let keys: Vec<send_plan::Key<'_>> = batch.iter().map(SendJob::key).collect();
    let (now, facts) = repo::send_facts(&mut tx, &keys).await?;
    let plan = send_plan::plan(&keys, facts);

    // The new messages in batch order, with their sends' positions.
    let (positions, messages): (Vec<usize>, Vec<Message>) = plan
        .decisions
        .iter()
        .zip(batch)
        .enumerate()
        .filter_map(|(index, (decision, job))| match decision {
            Decision::Store { seq } => Some((index, job.message(*seq, now))),
            _ => None,
        })
        .unzip();
    if !messages.is_empty() {
        repo::apply_sends(&mut tx, &messages, &plan.last_seqs).await?;
        let announced = Batch::default();
        let stored = positions
            .iter()
            .zip(&messages)
            .filter_map(|(index, message)| {
                Some(Stored {
                    message,
                    job: batch.get(*index)?,
                })
            })
            .collect();
        announce(stored, &announced);
        events.store_in(&mut tx, announced).await?;
    }
    tx.commit().await?;

    let stored_by = |index: usize| {
        let found = positions.binary_search(&index).ok();
        found
            .and_then(|at| messages.get(at))
            .cloned()
            .ok_or_else(not_stored)
    };
    let outcomes = plan
        .decisions
        .into_iter()
        .enumerate()
        .map(|(index, decision)| match decision {
            Decision::Store { .. } => stored_by(index),
            Decision::SameAs(leader) => stored_by(leader),
            Decision::Stored(message) => Ok(message),
            Decision::Refused(Refusal::NotMember) => {
                Err(Error::PermissionDenied("you are not a member of this room"))
            }
            Decision::Refused(Refusal::NoRoom) => Err(Error::NotFound("no such room")),
        })
        .collect();
    Ok(outcomes)
}
