//! Reading the files messages carry: fresh URLs and a room's gallery for its members, and for
//! media-svc's sweeper which message holds which file. Sending them is part of sending a
//! message (`messages.rs`).

use std::{collections::HashMap, sync::Arc};

use parley_proto::{chat::v1 as pb, media::v1 as media};
use sqlx::PgPool;

use crate::{
    attachment_urls,
    domain::{AttachmentId, RoomId, UserId},
    error::Error,
    grpc::convert,
    messages::Messages,
    repo,
};

/// Most ids one `get-attachment-urls` names.
pub const MAX_URLS_PER_CALL: usize = 100;
/// Gallery pages: default and largest.
const DEFAULT_GALLERY: u32 = 50;
const MAX_GALLERY: u32 = 100;
/// Most ids one `ListAttachmentRefs` names.
pub const MAX_REFS_PER_CALL: usize = 1000;

pub struct Attachments {
    pool: PgPool,
    /// Who may read a room (its member cache), and whether attachments are configured.
    messages: Arc<Messages>,
}

impl Attachments {
    pub fn new(pool: PgPool, messages: Arc<Messages>) -> Self {
        Self { pool, messages }
    }

    /// Fresh URLs for the attachments among `ids` that live messages of `room` carry, for a
    /// member; other ids are left out.
    pub async fn urls(
        &self,
        me: UserId,
        room: RoomId,
        ids: &[String],
    ) -> Result<HashMap<String, pb::AttachmentUrls>, Error> {
        let media = self.messages.media()?;
        if ids.len() > MAX_URLS_PER_CALL {
            return Err(Error::invalid(
                "attachmentIds",
                format!("at most {MAX_URLS_PER_CALL} per call"),
            ));
        }
        let ids = ids
            .iter()
            .map(|id| AttachmentId::parse("attachmentIds", id))
            .collect::<Result<Vec<_>, _>>()?;
        self.messages.require_member(room, me).await?;
        let mut db = self.pool.acquire().await?;
        let found = repo::live_attachments_among(&mut db, room, &ids).await?;
        drop(db);
        let now = attachment_urls::now();
        Ok(found
            .into_iter()
            .map(|attachment| {
                let urls = attachment_urls::urls(
                    &media.urls,
                    attachment.attachment_id.0,
                    &attachment.name,
                    attachment.has_thumbnail,
                    attachment.has_preview,
                    now,
                );
                (attachment.attachment_id.to_string(), urls)
            })
            .collect())
    }

    /// A page of `room`'s gallery for a member: the attachments of its live messages, newest
    /// message first (each message's in their order), of one `kind` when named (unspecified:
    /// all), older than the attachment `before`; with whether there are more.
    pub async fn gallery(
        &self,
        me: UserId,
        room: RoomId,
        kind: Option<i32>,
        before: Option<&str>,
        limit: Option<u32>,
    ) -> Result<(Vec<media::Attachment>, bool), Error> {
        let media = self.messages.media()?;
        let limit = limit.unwrap_or(DEFAULT_GALLERY);
        if !(1..=MAX_GALLERY).contains(&limit) {
            return Err(Error::invalid("limit", format!("must be 1–{MAX_GALLERY}")));
        }
        let kind = match kind {
            None => None,
            Some(raw) if raw == media::AttachmentKind::Unspecified as i32 => None,
            Some(raw) => Some(
                convert::attachment_kind_of(raw)
                    .ok_or_else(|| Error::invalid("kind", "must be IMAGE or FILE"))?,
            ),
        };
        let before = before
            .map(|id| AttachmentId::parse("before", id))
            .transpose()?;
        self.messages.require_member(room, me).await?;
        let mut db = self.pool.acquire().await?;
        let before = match before {
            Some(id) => Some(
                repo::gallery_position(&mut db, room, id)
                    .await?
                    .ok_or_else(|| {
                        Error::invalid("before", "must be an attachment of this room")
                    })?,
            ),
            None => None,
        };
        let mut page = repo::gallery(&mut db, room, kind, before, limit).await?;
        drop(db);
        let has_more = page.len() > limit as usize;
        page.truncate(limit as usize);
        let now = attachment_urls::now();
        let attachments = page
            .iter()
            .map(|attachment| {
                let mut rendered = convert::attachment(attachment);
                attachment_urls::sign(&mut rendered, &media.urls, now);
                rendered
            })
            .collect();
        Ok((attachments, has_more))
    }

    /// Which message holds each of `ids`, and whether it is deleted (ids no message holds
    /// are left out). Answered with attachments configured or not: it is what chat-svc
    /// stores, and media-svc's sweeper decides by it.
    pub async fn refs(&self, ids: &[String]) -> Result<Vec<pb::AttachmentRef>, Error> {
        if ids.len() > MAX_REFS_PER_CALL {
            return Err(Error::invalid(
                "attachment_ids",
                format!("at most {MAX_REFS_PER_CALL} per call"),
            ));
        }
        let ids = ids
            .iter()
            .map(|id| AttachmentId::parse("attachment_ids", id))
            .collect::<Result<Vec<_>, _>>()?;
        let mut db = self.pool.acquire().await?;
        let refs = repo::attachment_refs(&mut db, &ids).await?;
        Ok(refs.iter().map(convert::attachment_ref).collect())
    }
}
