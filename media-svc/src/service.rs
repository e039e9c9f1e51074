//! What media-svc decides: reservations against quotas, completing an upload (its type from
//! its bytes, metadata stripped, variants made), cancelling, handing attachments to chat-svc
//! for a send, and removing what was deleted or never sent.

use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use parley_common::{
    chat::ChatClient,
    error::ServiceError,
    media_url::{MediaUrls, Variant},
    rate_limit::RateLimit,
};
use parley_proto::chat::v1 as chat;
use sqlx::PgPool;

use crate::{
    config::Limits,
    domain::{Kind, Processed, RoomId, State, Upload, UploadId, Usage, UserId},
    error::{Error, from_chat},
    processing::{self, ImageLimits, ProcessedImage, SNIFF_BYTES},
    processor::{Processor, off_runtime},
    repo::{self, NewUpload, Quotas, Refusal},
    store::{Key, Store, StoreError},
};

/// A ready attachment claimed for a send this recently may be in a message being committed:
/// it cannot be cancelled yet, nor removed by the sweeper.
pub(crate) const SEND_IN_FLIGHT: chrono::TimeDelta = chrono::TimeDelta::seconds(30);

/// The longest `client_upload_id`.
const MAX_CLIENT_UPLOAD_ID: usize = 128;

/// Where an upload goes: a room, or a user whose DM room it is.
#[derive(Debug, Clone, Copy)]
pub enum Target {
    Room(RoomId),
    Receiver(UserId),
}

/// A reservation as the client gets it.
#[derive(Debug, Clone)]
pub struct Reserved {
    pub upload: Upload,
    pub url: String,
    pub url_expires_at: DateTime<Utc>,
}

pub struct Media {
    pub pool: PgPool,
    pub store: Store,
    pub chat: ChatClient,
    pub urls: MediaUrls,
    pub limits: Limits,
    image_limits: ImageLimits,
    creates: RateLimit<UserId>,
    processor: Processor,
}

impl Media {
    pub fn new(
        pool: PgPool,
        store: Store,
        chat: ChatClient,
        urls: MediaUrls,
        limits: Limits,
    ) -> Arc<Self> {
        Arc::new(Self {
            pool,
            store,
            chat,
            urls,
            image_limits: ImageLimits::default(),
            creates: RateLimit::per_minute(limits.uploads_per_minute),
            processor: Processor::new(limits.processing_threads),
            limits,
        })
    }

    pub async fn usage(&self, user: UserId) -> Result<Usage, Error> {
        Ok(repo::usage(&self.pool, user).await?)
    }

    /// `create-upload`: authorized by chat-svc, charged to the caller's quotas, nothing stored
    /// when refused.
    pub async fn create_upload(
        &self,
        user: UserId,
        target: Target,
        name: &str,
        size: u64,
        content_type: Option<String>,
        client_upload_id: Option<String>,
    ) -> Result<Reserved, Error> {
        if size == 0 {
            return Err(ServiceError::invalid("size", "must be at least 1 byte").into());
        }
        if size > self.limits.max_upload_bytes {
            return Err(ServiceError::invalid(
                "size",
                format!("must be at most {} bytes", self.limits.max_upload_bytes),
            )
            .into());
        }
        let name = processing::clean_name(name)
            .ok_or_else(|| ServiceError::invalid("name", "is empty once cleaned"))?;
        if let Some(id) = &client_upload_id {
            if id.is_empty() || id.chars().count() > MAX_CLIENT_UPLOAD_ID || id.contains('\0') {
                return Err(ServiceError::invalid(
                    "client_upload_id",
                    "must be 1–128 characters without NUL",
                )
                .into());
            }
            if let Some(existing) = repo::by_client_upload_id(&self.pool, user, id).await? {
                return Ok(self.reserved(existing));
            }
        }
        let content_type = content_type
            .map(|hint| {
                hint.chars()
                    .filter(|c| !c.is_control())
                    .take(255)
                    .collect::<String>()
            })
            .filter(|hint| !hint.is_empty());
        self.creates
            .check(&user)
            .map_err(ServiceError::RateLimited)?;
        let room = self.check_post_target(user, target).await?;
        let upload = NewUpload {
            id: UploadId(uuid::Uuid::new_v4()),
            user_id: user,
            room_id: room,
            client_upload_id: client_upload_id.clone(),
            name,
            size,
            content_type_hint: content_type,
            expires_at: Utc::now() + self.limits.upload_ttl,
        };
        let quotas = Quotas {
            max_pending: self.limits.max_pending_uploads,
            daily_bytes: self.limits.daily_bytes,
            max_stored_bytes: self.limits.max_stored_bytes,
        };
        match repo::reserve(&self.pool, &upload, quotas).await {
            Ok(Ok(stored)) => Ok(self.reserved(stored)),
            Ok(Err(Refusal::Quota { limit, used })) => Err(Error::Quota { limit, used }),
            Ok(Err(Refusal::TooManyPending { limit })) => {
                Err(ServiceError::FailedPrecondition(if limit == 1 {
                    "an upload is already pending: complete or cancel it first"
                } else {
                    "too many uploads are pending: complete or cancel some first"
                })
                .into())
            }
            // Two calls with one client_upload_id at once: the other one's reservation stands.
            Err(error)
                if parley_common::db::is_unique_violation(&error, "uploads_client_upload_id") =>
            {
                let id = client_upload_id.unwrap_or_default();
                repo::by_client_upload_id(&self.pool, user, &id)
                    .await?
                    .map(|existing| self.reserved(existing))
                    .ok_or_else(|| ServiceError::Unavailable("try again").into())
            }
            Err(error) => Err(error.into()),
        }
    }

    async fn check_post_target(&self, user: UserId, target: Target) -> Result<RoomId, Error> {
        let target = match target {
            Target::Room(room) => chat::check_post_target_request::Target::RoomId(room.to_string()),
            Target::Receiver(receiver) => {
                chat::check_post_target_request::Target::ReceiverId(receiver.to_string())
            }
        };
        let answer = self
            .chat
            .clone()
            .check_post_target(chat::CheckPostTargetRequest {
                acting_user_id: user.to_string(),
                target: Some(target),
            })
            .await
            .map_err(from_chat)?
            .into_inner();
        RoomId::parse("room_id", &answer.room_id)
            .map_err(|_| ServiceError::Unavailable("chat-svc answered a malformed room id").into())
    }

    fn reserved(&self, upload: Upload) -> Reserved {
        let expires = upload.expires_at.timestamp();
        let size = u64::try_from(upload.declared_size).unwrap_or_default();
        Reserved {
            url: self.urls.upload(upload.id.uuid(), size, expires),
            url_expires_at: upload.expires_at,
            upload,
        }
    }

    /// The caller's own upload, unless deleted.
    async fn own(&self, user: UserId, id: UploadId) -> Result<Upload, Error> {
        match repo::get(&self.pool, id).await? {
            Some(upload) if upload.user_id == user && upload.state != State::Deleted => Ok(upload),
            _ => Err(ServiceError::NotFound("no such upload").into()),
        }
    }

    /// `complete-upload`: idempotent; processing runs on the bounded pool.
    pub async fn complete(&self, user: UserId, id: UploadId) -> Result<Upload, Error> {
        let upload = self.own(user, id).await?;
        match upload.state {
            State::Ready => return Ok(upload),
            State::Pending | State::Receiving => {
                return Err(
                    ServiceError::FailedPrecondition("the bytes were not uploaded yet").into(),
                );
            }
            State::Deleted => return Err(ServiceError::NotFound("no such upload").into()),
            State::Uploaded => {}
        }
        let processed = self.process(&upload).await?;
        match repo::mark_ready(&self.pool, id, &processed).await? {
            Some(ready) => {
                self.delete_objects(&[Key::staging(id.uuid())]).await;
                Ok(ready)
            }
            // Completed by a concurrent call (same objects, written twice), or cancelled.
            None => {
                let now = self.own(user, id).await?;
                if now.state == State::Ready {
                    Ok(now)
                } else {
                    Err(ServiceError::NotFound("no such upload").into())
                }
            }
        }
    }

    /// Stores the attachment's servable objects from the staged bytes.
    async fn process(&self, upload: &Upload) -> Result<Processed, Error> {
        let id = upload.id.uuid();
        let staged = Key::staging(id);
        let original = Key::attachment(id, Variant::Original);
        let head = self
            .store
            .read_head(&staged, SNIFF_BYTES)
            .await
            .map_err(store_error)?;
        let sniffed = processing::sniff(&head, &upload.name);
        let size = upload
            .received_size
            .and_then(|size| u64::try_from(size).ok())
            .unwrap_or_default();
        let file = |mime: &str, size: u64| Processed {
            kind: Kind::File,
            mime_type: mime.to_owned(),
            size,
            width: None,
            height: None,
            thumbhash: None,
            thumbnail_mime: None,
            preview_mime: None,
        };
        let Some(format) = sniffed.image else {
            self.store
                .copy(&staged, &original)
                .await
                .map_err(store_error)?;
            return Ok(file(sniffed.mime, size));
        };
        if size > self.limits.max_image_bytes {
            // Never read whole into memory: kept as an opaque download.
            self.store
                .copy(&staged, &original)
                .await
                .map_err(store_error)?;
            return Ok(file("application/octet-stream", size));
        }
        let _place = self.processor.place().await.map_err(|_| {
            ServiceError::Unavailable("too many uploads are being processed: retry later")
        })?;
        let bytes = self
            .store
            .read_all(&staged, self.limits.max_image_bytes)
            .await
            .map_err(store_error)?;
        let limits = self.image_limits;
        let started = std::time::Instant::now();
        let outcome = off_runtime(move || {
            processing::process_image(&bytes, format, &limits)
                .map_err(|refused| (refused, processing::strip_metadata(&bytes, format), bytes))
        })
        .await;
        // A decoder that panicked (a bug, logged) must not make the upload impossible to
        // complete: its bytes are kept as an opaque download, never shown.
        let Some(outcome) = outcome else {
            self.store
                .copy(&staged, &original)
                .await
                .map_err(store_error)?;
            return Ok(file("application/octet-stream", size));
        };
        metrics::histogram!("media_image_processing_seconds")
            .record(started.elapsed().as_secs_f64());
        match outcome {
            Ok(image) => self.store_image(id, image).await,
            Err((refused, stripped, bytes)) => {
                tracing::info!(upload = %id, ?refused, "kept an image as a file");
                match stripped {
                    Some(stripped) => {
                        let size = stripped.len() as u64;
                        self.put(&original, Bytes::from(stripped)).await?;
                        Ok(file(sniffed.mime, size))
                    }
                    // Its container does not even parse: whatever it holds is served as an
                    // opaque download.
                    None => {
                        self.put(&original, bytes).await?;
                        Ok(file("application/octet-stream", size))
                    }
                }
            }
        }
    }

    async fn store_image(&self, id: uuid::Uuid, image: ProcessedImage) -> Result<Processed, Error> {
        let ProcessedImage {
            original,
            mime,
            width,
            height,
            thumbnail,
            preview,
            thumbhash,
        } = image;
        let size = original.len() as u64;
        self.put(
            &Key::attachment(id, Variant::Original),
            Bytes::from(original),
        )
        .await?;
        let mut variant_mimes = [None, None];
        for (slot, (variant, encoded)) in variant_mimes
            .iter_mut()
            .zip([(Variant::Thumbnail, thumbnail), (Variant::Preview, preview)])
        {
            if let Some(encoded) = encoded {
                *slot = Some(encoded.mime);
                self.put(&Key::attachment(id, variant), Bytes::from(encoded.bytes))
                    .await?;
            }
        }
        let [thumbnail_mime, preview_mime] = variant_mimes;
        Ok(Processed {
            kind: Kind::Image,
            mime_type: mime.to_owned(),
            size,
            width: Some(width),
            height: Some(height),
            thumbhash: Some(thumbhash),
            thumbnail_mime,
            preview_mime,
        })
    }

    async fn put(&self, key: &Key, bytes: Bytes) -> Result<(), Error> {
        self.store.put_bytes(key, bytes).await.map_err(store_error)
    }

    /// `cancel-upload`: the reservation given back and the bytes removed, unless the
    /// attachment is (or may be about to be) in a message.
    pub async fn cancel(&self, user: UserId, id: UploadId) -> Result<(), Error> {
        let upload = self.own(user, id).await?;
        let unfinished = [State::Pending, State::Receiving, State::Uploaded];
        if upload.state == State::Ready {
            let claimed_recently = upload
                .claimed_at
                .is_some_and(|claimed| Utc::now() - claimed < SEND_IN_FLIGHT);
            if claimed_recently || !self.unreferenced(&[id]).await?.contains(&id) {
                return Err(ServiceError::FailedPrecondition(
                    "the attachment was sent: delete the message instead",
                )
                .into());
            }
        }
        self.delete_objects(&object_keys(&upload)).await;
        let states: &[State] = if upload.state == State::Ready {
            &[State::Ready]
        } else {
            &unfinished
        };
        if !repo::remove(&self.pool, id, states).await? {
            return Err(ServiceError::NotFound("no such upload").into());
        }
        Ok(())
    }

    /// For chat-svc: the caller's ready attachments for `room`, in the order asked.
    pub async fn resolve_for_send(
        &self,
        user: UserId,
        room: RoomId,
        ids: &[UploadId],
    ) -> Result<Vec<Upload>, Error> {
        let mut unique = ids.to_vec();
        unique.sort_unstable();
        unique.dedup();
        if unique.len() != ids.len() {
            return Err(ServiceError::invalid("attachment_ids", "lists an id twice").into());
        }
        let mut claimed = repo::claim_for_send(&self.pool, user, ids).await?;
        let mut ordered = Vec::with_capacity(ids.len());
        for id in ids {
            let position = claimed.iter().position(|upload| upload.id == *id).ok_or(
                ServiceError::NotFound("an attachment is not your completed upload"),
            )?;
            let upload = claimed.swap_remove(position);
            if upload.room_id != room {
                return Err(ServiceError::FailedPrecondition(
                    "an attachment was uploaded for another room",
                )
                .into());
            }
            ordered.push(upload);
        }
        Ok(ordered)
    }

    /// Of `ids`, those no message holds, by chat-svc's word.
    pub async fn unreferenced(&self, ids: &[UploadId]) -> Result<Vec<UploadId>, Error> {
        let held: std::collections::HashSet<String> = self
            .refs(ids)
            .await?
            .into_iter()
            .map(|held| held.attachment_id)
            .collect();
        Ok(ids
            .iter()
            .copied()
            .filter(|id| !held.contains(&id.to_string()))
            .collect())
    }

    /// chat-svc's record of which messages hold `ids`.
    pub async fn refs(&self, ids: &[UploadId]) -> Result<Vec<chat::AttachmentRef>, Error> {
        let answer = self
            .chat
            .clone()
            .list_attachment_refs(chat::ListAttachmentRefsRequest {
                attachment_ids: ids.iter().map(ToString::to_string).collect(),
            })
            .await
            .map_err(|status| Error::Service(ServiceError::Dependency("chat-svc", status)))?;
        Ok(answer.into_inner().refs)
    }

    /// Makes attachments 404 now; their bytes are purged after the grace period.
    pub async fn delete_attachments(&self, ids: &[UploadId]) -> Result<usize, Error> {
        let purge_after = Utc::now() + self.limits.purge_after;
        Ok(repo::mark_deleted(&self.pool, ids, purge_after)
            .await?
            .len())
    }

    /// Removes objects, logging (not failing on) those the store would not remove: the
    /// sweeper retries from the rows.
    pub async fn delete_objects(&self, keys: &[Key]) -> bool {
        let mut all = true;
        for key in keys {
            if let Err(error) = self.store.delete(key).await {
                tracing::warn!(?key, %error, "cannot remove an object yet");
                all = false;
            }
        }
        all
    }
}

/// Every object an upload may have.
pub fn object_keys(upload: &Upload) -> Vec<Key> {
    let id = upload.id.uuid();
    let mut keys = vec![Key::staging(id)];
    keys.extend(
        Variant::ALL
            .into_iter()
            .map(|variant| Key::attachment(id, variant)),
    );
    keys
}

fn store_error(error: StoreError) -> Error {
    match error {
        StoreError::NotFound => {
            ServiceError::FailedPrecondition("the bytes were not uploaded yet").into()
        }
        StoreError::TooLarge => {
            ServiceError::FailedPrecondition("the upload is larger than it said").into()
        }
        StoreError::Unavailable(reason) => {
            tracing::warn!(%reason, "the object store failed");
            ServiceError::Unavailable("the object store is unavailable").into()
        }
    }
}
