//! Removing what nobody will fetch: reservations that expired unfinished, attachments never
//! sent, attachments whose message was deleted, and, after their grace period, the bytes of
//! deleted attachments. Each round works in bounded batches.
//!
//! Deletions reach media-svc fast by chat-svc's events ([`follow_deletions`]); the sweeper
//! decides by asking chat-svc, so that a lost event never leaves an orphan nor deletes a
//! live file: an attachment is removed as unsent only when chat-svc says no message holds
//! it, and every sent attachment is checked again now and then (and after any gap in the
//! events).

use std::{collections::HashSet, sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use parley_common::follow::{After, Followed, follow};
use parley_proto::chat::v1::{self as chat, chat_event::Payload};
use tokio::sync::Mutex;

use crate::{
    domain::{State, UploadId},
    error::Error,
    repo,
    service::{Media, object_keys},
};

/// Rows handled per step of a round; chat-svc's ListAttachmentRefs takes up to 1000 ids.
const BATCH: i64 = 200;

/// What one round did, for the log and the tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    pub expired: usize,
    pub confirmed: usize,
    pub deleted: usize,
    pub purged: usize,
}

pub struct Sweeper {
    media: Arc<Media>,
    /// Sent attachments confirmed before this instant are checked again at once: events
    /// may have been missed then (set by [`follow_deletions`] on a gap).
    recheck_before: Mutex<Option<DateTime<Utc>>>,
}

impl Sweeper {
    pub fn new(media: Arc<Media>) -> Arc<Self> {
        Arc::new(Self {
            media,
            recheck_before: Mutex::new(None),
        })
    }

    /// Sweeps every `interval` until aborted; a round that found full batches goes again at
    /// once.
    pub async fn run(self: Arc<Self>, interval: Duration) {
        loop {
            match self.round().await {
                Ok(swept) if swept != Swept::default() => {
                    tracing::info!(?swept, "swept media");
                    continue;
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "media sweep failed; retrying later"),
            }
            tokio::time::sleep(interval).await;
        }
    }

    /// One round of every step.
    pub async fn round(&self) -> Result<Swept, Error> {
        let mut swept = Swept {
            expired: self.expire_unfinished().await?,
            ..Swept::default()
        };
        let (confirmed, deleted) = self.reconcile().await?;
        swept.confirmed = confirmed;
        swept.deleted = deleted;
        swept.purged = self.purge().await?;
        Ok(swept)
    }

    async fn expire_unfinished(&self) -> Result<usize, Error> {
        let media = &self.media;
        let expired = repo::expired_unfinished(&media.pool, BATCH).await?;
        let mut count = 0;
        for upload in expired {
            if media.delete_objects(&object_keys(&upload)).await
                && repo::remove(
                    &media.pool,
                    upload.id,
                    &[State::Pending, State::Receiving, State::Uploaded],
                )
                .await?
            {
                count += 1;
            }
        }
        Ok(count)
    }

    /// Asks chat-svc about ready attachments that are due: confirms those a live message
    /// holds, deletes the others (never sent, or their message deleted).
    async fn reconcile(&self) -> Result<(usize, usize), Error> {
        let media = &self.media;
        let now = Utc::now();
        let recheck = *self.recheck_before.lock().await;
        let due = repo::due_for_reconciliation(
            &media.pool,
            now - media.limits.unsent_ttl,
            now - media.limits.reconcile_after,
            recheck,
            now - crate::service::SEND_IN_FLIGHT,
            BATCH,
        )
        .await?;
        if due.is_empty() {
            // Everything confirmed before the gap has been checked again, unless another gap
            // came meanwhile: its newer mark stays, to be rechecked in turn.
            let mut mark = self.recheck_before.lock().await;
            if *mark == recheck {
                *mark = None;
            }
            return Ok((0, 0));
        }
        // Held by a live message, by chat-svc's word; anything else goes.
        let held_live: HashSet<String> = media
            .refs(&due)
            .await?
            .into_iter()
            .filter(|held| !held.message_deleted)
            .map(|held| held.attachment_id)
            .collect();
        let (live, gone): (Vec<UploadId>, Vec<UploadId>) = due
            .into_iter()
            .partition(|id| held_live.contains(&id.to_string()));
        repo::confirm(&media.pool, &live).await?;
        let deleted = if gone.is_empty() {
            0
        } else {
            media.delete_attachments(&gone).await?
        };
        Ok((live.len(), deleted))
    }

    async fn purge(&self) -> Result<usize, Error> {
        let media = &self.media;
        let mut count = 0;
        for upload in repo::purgeable(&media.pool, BATCH).await? {
            if media.delete_objects(&object_keys(&upload)).await {
                repo::forget(&media.pool, upload.id).await?;
                count += 1;
            }
        }
        Ok(count)
    }

    /// Events may have been missed up to now.
    async fn missed_events(&self) {
        *self.recheck_before.lock().await = Some(Utc::now());
    }
}

/// Follows chat-svc's event stream as `subscriber_id` until aborted: the attachments of a
/// deleted message answer 404 at once.
pub async fn follow_deletions(sweeper: Arc<Sweeper>, subscriber_id: String) {
    let chat = sweeper.media.chat.clone();
    let subscribe = |after: After| {
        let mut chat = chat.clone();
        let request = after.request(chat::SubscribeRequest {
            edge_id: subscriber_id.clone(),
            after_event_id: after.event_id,
        });
        async move { chat.subscribe(request).await }
    };
    let handle = |followed: Followed<chat::ChatEvent>| {
        let sweeper = sweeper.clone();
        async move {
            match followed {
                Followed::Gap => sweeper.missed_events().await,
                Followed::Event(event) => {
                    let Some(Payload::MessageDeleted(deleted)) = event.payload else {
                        return;
                    };
                    let ids: Vec<UploadId> = deleted
                        .attachment_ids
                        .iter()
                        .filter_map(|id| UploadId::parse("attachment_id", id).ok())
                        .collect();
                    if ids.is_empty() {
                        return;
                    }
                    if let Err(error) = sweeper.media.delete_attachments(&ids).await {
                        // The sweeper's reconciliation catches it later.
                        tracing::warn!(%error, "cannot mark a deleted message's attachments yet");
                        sweeper.missed_events().await;
                    }
                }
            }
        }
    };
    follow(
        "chat events",
        subscribe,
        |event: &chat::ChatEvent| event.event_id,
        |_| None,
        handle,
    )
    .await;
}
