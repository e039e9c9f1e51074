//! The message write path. Sends are grouped into batches, and each batch is one transaction
//! of five round trips, however many sends it holds: `BEGIN`, read the facts (rooms locked,
//! retries, memberships), plan in memory ([`send_plan`]), store the plan in one statement,
//! store its events, commit. Each send is answered only after its own batch commits. A batch
//! with attachments claims them after planning (one more round trip); a send that lost one to
//! another message is dropped and the batch planned again, so it fails alone and seqs keep
//! no gaps.
//!
//! Nothing waits in one line: the batching writer ([`crate::batching`]) spreads rooms over
//! several shards by id, each with its own batch in flight, so a room's sends keep their
//! order while other rooms' sends go alongside. A lone send goes at once. A batch that fails
//! is written again one send at a time, so that a send the database refuses fails alone.

use parley_proto::{calls::v1::CallLog, chat::v1 as pb};
use std::{collections::HashSet, sync::Arc};

use sqlx::PgPool;

use crate::{
    batching::{Batcher, Layout, Sharded},
    domain::{AttachmentId, MessageId, MessageType, RoomId, UserId},
    error::Error,
    events::{Batch, Events},
    repo::{self, Attachment, Claim, Message},
    send_plan::{self, Decision, Plan, Refusal},
};

/// Most sends written in one transaction.
const MAX_BATCH: usize = 512;
/// Sends waiting for each writer; past it, callers wait (back-pressure, bounded memory).
const QUEUE: usize = 1024;

/// One send, as the writer receives it.
pub struct SendJob {
    /// The id of the message it stores: chosen before the write, so that its attachments can
    /// name it before it is stored.
    pub id: MessageId,
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
    /// The files it carries, in order, as media-svc resolved them (naming message `id`).
    pub attachments: Vec<Attachment>,
    /// The room's members who blocked the sender, left out of its `new-message`.
    pub blockers: Vec<UserId>,
    /// A CALL message's details (`AppendCallMessage`); `None` for every client's send.
    pub call: Option<CallLog>,
}

impl Sharded for SendJob {
    fn shard_key(&self) -> u128 {
        self.room_id.0.as_u128()
    }
}

impl SendJob {
    fn attachment_ids(&self) -> Vec<AttachmentId> {
        self.attachments
            .iter()
            .map(|attachment| attachment.attachment_id)
            .collect()
    }

    fn key<'a>(&'a self, attachments: &'a [AttachmentId]) -> send_plan::Key<'a> {
        send_plan::Key {
            room: self.room_id,
            sender: self.sender_id,
            client_msg_id: self.client_msg_id.as_deref(),
            attachments,
        }
    }

    /// The message this send stores as `seq`, at the transaction's time.
    fn message(&self, seq: i64, at: chrono::DateTime<chrono::Utc>) -> Message {
        Message {
            id: self.id,
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
            call: self.call.as_ref().map(prost::Message::encode_to_vec),
            attachments: self.attachments.clone(),
        }
    }
}

/// Hands sends to the writer of their room.
#[derive(Clone)]
pub struct Writer {
    batcher: Batcher<SendJob, Message>,
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
        let layout = Layout {
            shards: writers,
            max_batch: MAX_BATCH,
            queue: QUEUE,
            stopped: "the message writer stopped",
        };
        let batcher = Batcher::spawn(layout, move |batch: Vec<SendJob>| {
            let (pool, events, announce) = (pool.clone(), events.clone(), announce.clone());
            async move {
                let (size, started) = (batch.len(), std::time::Instant::now());
                let outcomes = write_batch(&pool, &events, &batch, &*announce).await;
                metrics::histogram!("parley_chat_batch_size").record(size as f64);
                metrics::histogram!("parley_chat_batch_seconds")
                    .record(started.elapsed().as_secs_f64());
                outcomes
            }
        });
        Self { batcher }
    }

    /// Answers with the message this send stored, or the one stored before under its
    /// clientMsgId (a retry, answered with the stored message and announced to nobody).
    pub async fn send(&self, job: SendJob) -> Result<Message, Error> {
        self.batcher.submit(job).await
    }
}

/// A message a batch stored, with the send it came from.
pub struct Stored<'a> {
    pub message: &'a Message,
    pub job: &'a SendJob,
}

/// Writes the batch and returns each send's outcome, in order.
async fn write_batch(
    pool: &PgPool,
    events: &Events,
    batch: &[SendJob],
    announce: &(impl Fn(Vec<Stored<'_>>, &Batch) + Sync),
) -> Vec<Result<Message, Error>> {
    match store(pool, events, batch, announce).await {
        Ok(outcomes) => outcomes,
        Err(error @ sqlx::Error::Database(_)) if batch.len() == 1 => {
            vec![Err(lone_failure(error))]
        }
        Err(error @ sqlx::Error::Database(_)) => {
            // Postgres refused the batch and stored none of it. One send may be at fault:
            // each is written again on its own, so that only that one fails.
            tracing::warn!(%error, size = batch.len(), "a message batch failed; writing its sends one by one");
            metrics::counter!("parley_chat_batches_split_total").increment(1);
            let mut outcomes = Vec::with_capacity(batch.len());
            for job in batch {
                outcomes.push(
                    match store(pool, events, std::slice::from_ref(job), announce).await {
                        Ok(mut outcomes) => outcomes.pop().unwrap_or_else(|| Err(not_stored())),
                        Err(error) => Err(lone_failure(error)),
                    },
                );
            }
            outcomes
        }
        Err(error) => {
            // Postgres is away (or the pool is exhausted): nothing was stored, and every
            // sender may retry with its clientMsgId.
            tracing::warn!(%error, size = batch.len(), "a message batch failed");
            batch.iter().map(|_| Err(not_stored())).collect()
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
    let attachments: Vec<Vec<AttachmentId>> = batch.iter().map(SendJob::attachment_ids).collect();
    let keys: Vec<send_plan::Key<'_>> = batch
        .iter()
        .zip(&attachments)
        .map(|(job, attachments)| job.key(attachments))
        .collect();
    let (now, facts) = repo::send_facts(&mut tx, &keys).await?;
    let plan = plan_and_claim(&mut tx, batch, &keys, &facts, now).await?;

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
            Decision::Refused(Refusal::AttachmentTaken) => {
                Err(Error::FailedPrecondition("attachment already sent"))
            }
        })
        .collect();
    Ok(outcomes)
}

/// Plans the batch and claims the attachments of the sends that store. When another message
/// holds some already, the batch's claims are given back and it is planned again with those
/// sends refused: each round refuses more, so it ends, and the last plan's seqs have no gaps.
async fn plan_and_claim(
    tx: &mut sqlx::PgConnection,
    batch: &[SendJob],
    keys: &[send_plan::Key<'_>],
    facts: &[send_plan::Facts],
    now: chrono::DateTime<chrono::Utc>,
) -> sqlx::Result<Plan> {
    let mut taken = HashSet::new();
    loop {
        let plan = send_plan::plan(keys, facts, &taken);
        let claims: Vec<Claim<'_>> = plan
            .decisions
            .iter()
            .zip(batch)
            .filter_map(|(decision, job)| match decision {
                Decision::Store { seq } => Some((*seq, job)),
                _ => None,
            })
            .flat_map(|(seq, job)| {
                job.attachments
                    .iter()
                    .map(move |attachment| Claim { attachment, seq })
            })
            .collect();
        if claims.is_empty() {
            return Ok(plan);
        }
        let claimed = repo::claim_attachments(tx, &claims, now).await?;
        if claimed.len() == claims.len() {
            return Ok(plan);
        }
        metrics::counter!("parley_chat_attachments_taken_total").increment(1);
        let got: HashSet<AttachmentId> = claimed.iter().copied().collect();
        taken.extend(
            claims
                .iter()
                .map(|claim| claim.attachment.attachment_id)
                .filter(|id| !got.contains(id)),
        );
        repo::release_attachments(tx, &claimed).await?;
    }
}

#[cfg(test)]
mod tests {
    use futures_util::{StreamExt, future::join_all};
    use parley_common::{db, testing::TestDatabase};
    use parley_proto::chat::v1::chat_event::Payload;
    use uuid::Uuid;

    use super::*;
    use crate::{
        domain::{AttachmentKind, Role},
        events::Announce,
        grpc::convert,
    };

    fn file_of(message: MessageId, room: RoomId, position: i16) -> Attachment {
        Attachment {
            attachment_id: AttachmentId(Uuid::new_v4()),
            message_id: message,
            room_id: room,
            position,
            kind: AttachmentKind::File,
            name: "notes.txt".into(),
            size: 5,
            mime_type: "text/plain".into(),
            width: None,
            height: None,
            thumbhash: None,
            has_thumbnail: false,
            has_preview: false,
        }
    }

    /// A send to `room` by `sender` of the files `attachments` gives (for its message id).
    fn job(
        room: RoomId,
        sender: UserId,
        attachments: impl FnOnce(MessageId) -> Vec<Attachment>,
    ) -> SendJob {
        let id = MessageId(Uuid::new_v4());
        SendJob {
            id,
            room_id: room,
            sender_id: sender,
            sender: pb::User::default(),
            private: None,
            content: "hi".into(),
            message_type: MessageType::File,
            client_msg_id: None,
            reply_to_id: None,
            attachments: attachments(id),
            blockers: Vec::new(),
            call: None,
        }
    }

    /// The same attachment, as the `position`th of another message.
    fn again(attachment: &Attachment, message: MessageId, position: i16) -> Attachment {
        Attachment {
            message_id: message,
            position,
            ..attachment.clone()
        }
    }

    #[tokio::test]
    async fn a_send_whose_attachment_is_taken_fails_alone_and_the_batch_keeps_gapless_seqs() {
        let database = TestDatabase::create().await;
        let pool = db::pool(&database.args()).unwrap();
        db::migrate(&pool, crate::SCHEMA, sqlx::migrate!("./migrations"))
            .await
            .unwrap();
        let (alice, bob) = (UserId(Uuid::new_v4()), UserId(Uuid::new_v4()));
        let room = RoomId(Uuid::new_v4());
        let mut conn = pool.acquire().await.unwrap();
        repo::insert_group(&mut conn, room, None, false)
            .await
            .unwrap();
        repo::add_members(&mut conn, room, &[alice, bob], Role::Member)
            .await
            .unwrap();
        drop(conn);
        let event_bus = parley_common::bus::Bus::connect(&database.bus())
            .await
            .unwrap();
        let (events, bus) = Events::start(&event_bus, pool.clone(), None);
        bus.listening().await;
        let events = Arc::new(events);
        let mut announced = events.log.subscribe(None);
        let writer = Writer::spawn(pool.clone(), events.clone(), 1, |stored, batch| {
            for Stored { message, job } in stored {
                let names = Default::default();
                batch.new_message(job.room_id, convert::message(message, &names, None), &[]);
            }
        });

        let first = job(room, alice, |id| vec![file_of(id, room, 0)]);
        let held = first.attachments[0].clone();
        let first = writer.send(first).await.unwrap();

        // One batch (the writer runs only once every send is queued): a text, a send of the
        // attachment the first message holds, two sends of one new attachment, and a send
        // of two new ones.
        let text = SendJob {
            attachments: Vec::new(),
            ..job(room, alice, |_| Vec::new())
        };
        let taken = job(room, alice, |id| {
            vec![file_of(id, room, 0), again(&held, id, 1)]
        });
        let shared = job(room, bob, |id| vec![file_of(id, room, 0)]);
        let shared_again = {
            let attachment = shared.attachments[0].clone();
            job(room, alice, |id| vec![again(&attachment, id, 0)])
        };
        let two = job(room, alice, |id| {
            vec![file_of(id, room, 0), file_of(id, room, 1)]
        });
        let ids = |job: &SendJob| {
            job.attachments
                .iter()
                .map(|a| a.attachment_id)
                .collect::<Vec<_>>()
        };
        let (taken_own, shared_id, two_ids) = (ids(&taken)[0], ids(&shared)[0], ids(&two));
        let outcomes =
            join_all([text, taken, shared, shared_again, two].map(|job| writer.send(job))).await;

        let seqs: Vec<Option<i64>> = outcomes
            .iter()
            .map(|outcome| outcome.as_ref().ok().map(|message| message.seq))
            .collect();
        assert_eq!(seqs, [Some(2), None, Some(3), None, Some(4)]);
        for refused in [&outcomes[1], &outcomes[3]] {
            assert!(
                matches!(
                    refused,
                    Err(Error::FailedPrecondition("attachment already sent"))
                ),
                "{refused:?}"
            );
        }
        let stored: Vec<&Message> = outcomes.iter().filter_map(|o| o.as_ref().ok()).collect();
        assert!(
            stored
                .iter()
                .all(|message| message.created_at == stored[0].created_at),
            "the sends were one batch"
        );
        assert_eq!(stored[2].attachments.len(), 2);

        let mut conn = pool.acquire().await.unwrap();
        let mut asked = vec![held.attachment_id, taken_own, shared_id];
        asked.extend(&two_ids);
        let refs = repo::attachment_refs(&mut conn, &asked).await.unwrap();
        let holder = |id: AttachmentId| {
            refs.iter()
                .find(|found| found.attachment_id == id)
                .map(|found| found.message_id)
        };
        assert_eq!(holder(held.attachment_id), Some(first.id));
        assert_eq!(
            holder(taken_own),
            None,
            "a refused send's claims are given back"
        );
        assert_eq!(
            holder(shared_id),
            Some(stored[1].id),
            "the first send of the batch"
        );
        assert!(two_ids.iter().all(|id| holder(*id) == Some(stored[2].id)));
        assert_eq!(repo::last_seq(&mut conn, room).await.unwrap(), 4);

        // Announced as stored, attachments without URLs.
        let mut carried = Vec::new();
        while carried.len() < 4 {
            let event = announced.next().await.unwrap().unwrap();
            if let Some(Payload::NewMessage(new)) = event.payload {
                carried.push(new.message.unwrap().attachments);
            }
        }
        assert_eq!(
            carried.iter().map(Vec::len).collect::<Vec<_>>(),
            [1, 0, 1, 2]
        );
        assert!(
            carried
                .iter()
                .flatten()
                .all(|attachment| attachment.url.is_empty())
        );
        bus.stop().await;
    }
}
