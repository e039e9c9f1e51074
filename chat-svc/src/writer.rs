//! The message write path, built for throughput: concurrent sends are grouped into one
//! transaction (seqs reserved for all rooms at once, one multi-row INSERT, one commit), and
//! each send is answered only after that commit.

use std::collections::{HashMap, HashSet};

use parley_proto::chat::v1 as pb;
use std::sync::Arc;

use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::{
    error::Error,
    events::{Batch, Events},
    repo::{self, Message, NewMessage},
};

/// Most sends written in one transaction.
const MAX_BATCH: usize = 512;
/// Sends waiting for the writer; past it, callers wait (back-pressure, bounded memory).
const QUEUE: usize = 4096;

/// One send, as the writer receives it.
pub struct SendJob {
    pub room_id: Uuid,
    pub sender_id: Uuid,
    /// How the sender is shown; known before the write so that announcing is not a call.
    pub sender: pb::User,
    /// For a DM by receiver: the receiver, and the socket that sent it (which does not get
    /// its own message back).
    pub private: Option<(Uuid, Option<String>)>,
    pub content: String,
    pub message_type: &'static str,
    pub client_msg_id: Option<String>,
    pub reply_to_id: Option<Uuid>,
    /// Answered with the message this send stored, or the one stored before under its
    /// clientMsgId (a retry, answered with the stored message and announced to nobody).
    pub done: oneshot::Sender<Result<Message, Error>>,
}

/// Hands sends to the writer task.
#[derive(Clone)]
pub struct Writer {
    queue: mpsc::Sender<SendJob>,
}

impl Writer {
    /// Starts the writer; `announce` tells `batch` the events of what each batch stores, in
    /// seq order, and they are stored in the batch's own transaction: every replica hears a
    /// room's messages in seq order, and only once they are committed.
    pub fn spawn(
        pool: PgPool,
        events: Arc<Events>,
        announce: impl Fn(Vec<Stored<'_>>, &Batch) + Send + Sync + 'static,
    ) -> Self {
        let (queue, mut jobs) = mpsc::channel::<SendJob>(QUEUE);
        tokio::spawn(async move {
            while let Some(batch) = next_batch(&mut jobs, MAX_BATCH).await {
                let (size, started) = (batch.len(), std::time::Instant::now());
                write_batch(&pool, &events, batch, &announce).await;
                metrics::histogram!("parley_chat_batch_size").record(size as f64);
                metrics::histogram!("parley_chat_batch_seconds")
                    .record(started.elapsed().as_secs_f64());
            }
        });
        Self { queue }
    }

    pub async fn send(&self, mut job: SendJob) -> Result<Message, Error> {
        let (done, outcome) = oneshot::channel();
        job.done = done;
        self.queue
            .send(job)
            .await
            .map_err(|_| Error::Unavailable("the message writer stopped"))?;
        outcome
            .await
            .map_err(|_| Error::Unavailable("the message writer stopped"))?
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
        Err(error) => {
            // Nothing of the batch was stored: every sender may retry with its clientMsgId.
            tracing::warn!(%error, size = batch.len(), "a message batch failed");
            for job in batch {
                let _ = job.done.send(Err(Error::Unavailable(
                    "the message could not be stored; retry",
                )));
            }
        }
    }
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

    // Retries: clientMsgIds stored before, or sent twice within this batch.
    let keyed: Vec<(Uuid, String)> = batch
        .iter()
        .filter_map(|job| Some((job.sender_id, job.client_msg_id.clone()?)))
        .collect();
    let (senders, client_ids): (Vec<Uuid>, Vec<String>) = keyed.iter().cloned().unzip();
    let mut stored: HashMap<(Uuid, String), Message> =
        repo::messages_by_client_id(&mut tx, &senders, &client_ids)
            .await?
            .into_iter()
            .filter_map(|message| {
                Some(((message.sender_id, message.client_msg_id.clone()?), message))
            })
            .collect();

    // Membership is checked again here, in the transaction that reserves the seqs: a member
    // removed since the send was accepted stores nothing, and no seq is spent on them.
    let (rooms, senders): (Vec<Uuid>, Vec<Uuid>) =
        batch.iter().map(|job| (job.room_id, job.sender_id)).unzip();
    let members: HashSet<(Uuid, Uuid)> = repo::memberships(&mut tx, &rooms, &senders)
        .await?
        .into_iter()
        .collect();

    // The sends that store something: the first of each key, and every send without one.
    let mut seen = HashSet::new();
    let leaders: Vec<(usize, &SendJob)> = batch
        .iter()
        .enumerate()
        .filter(|(_, job)| members.contains(&(job.room_id, job.sender_id)))
        .filter(
            |(_, job)| match job.client_msg_id.clone().map(|id| (job.sender_id, id)) {
                Some(key) => !stored.contains_key(&key) && seen.insert(key),
                None => true,
            },
        )
        .collect();

    let mut per_room: Vec<(Uuid, i64)> = Vec::new();
    for (_, job) in &leaders {
        match per_room.iter_mut().find(|(id, _)| *id == job.room_id) {
            Some((_, count)) => *count += 1,
            None => per_room.push((job.room_id, 1)),
        }
    }
    let (rooms, counts): (Vec<Uuid>, Vec<i64>) = per_room.iter().copied().unzip();
    let reserved: HashMap<Uuid, i64> = repo::reserve_seqs(&mut tx, &rooms, &counts)
        .await?
        .into_iter()
        .collect();
    // The next seq to hand out in each room: the first of its reserved range.
    let mut next: HashMap<Uuid, i64> = per_room
        .iter()
        .filter_map(|(room, count)| Some((*room, reserved.get(room)? - count + 1)))
        .collect();

    let mut positions = Vec::with_capacity(leaders.len());
    let mut new_messages = Vec::with_capacity(leaders.len());
    for (index, job) in &leaders {
        let Some(seq) = next.get_mut(&job.room_id) else {
            continue; // The room was deleted meanwhile.
        };
        positions.push(*index);
        new_messages.push(NewMessage {
            id: Uuid::new_v4(),
            room_id: job.room_id,
            seq: *seq,
            sender_id: job.sender_id,
            content: job.content.clone(),
            message_type: job.message_type,
            client_msg_id: job.client_msg_id.clone(),
            reply_to_id: job.reply_to_id,
        });
        *seq += 1;
    }
    let fresh = repo::insert_messages(&mut tx, &new_messages).await?;
    // A sender has read what they sent.
    repo::advance_read(
        &mut tx,
        &fresh.iter().map(|m| m.room_id).collect::<Vec<_>>(),
        &fresh.iter().map(|m| m.sender_id).collect::<Vec<_>>(),
        &fresh.iter().map(|m| m.seq).collect::<Vec<_>>(),
    )
    .await?;
    let by_id: HashMap<Uuid, &Message> = fresh.iter().map(|m| (m.id, m)).collect();
    let announced = {
        let announced = Batch::default();
        let stored = positions
            .iter()
            .zip(&new_messages)
            .filter_map(|(index, new)| {
                Some(Stored {
                    message: by_id.get(&new.id).copied()?,
                    job: batch.get(*index)?,
                })
            })
            .collect();
        announce(stored, &announced);
        announced
    };
    events.store_in(&mut tx, announced).await?;
    tx.commit().await?;

    let mut by_position: HashMap<usize, Message> = positions
        .iter()
        .zip(&new_messages)
        .filter_map(|(index, new)| Some((*index, (*by_id.get(&new.id)?).clone())))
        .collect();
    for message in &fresh {
        if let Some(key) = message.client_msg_id.clone() {
            stored
                .entry((message.sender_id, key))
                .or_insert_with(|| message.clone());
        }
    }
    let outcomes = batch
        .iter()
        .enumerate()
        .map(|(index, job)| {
            if let Some(message) = by_position.remove(&index) {
                return Ok(message);
            }
            let key = job.client_msg_id.clone().map(|id| (job.sender_id, id));
            match key.and_then(|key| stored.get(&key).cloned()) {
                Some(message) => Ok(message),
                None if !members.contains(&(job.room_id, job.sender_id)) => {
                    Err(Error::PermissionDenied("you are not a member of this room"))
                }
                None => Err(Error::NotFound("no such room")),
            }
        })
        .collect();
    Ok(outcomes)
}
