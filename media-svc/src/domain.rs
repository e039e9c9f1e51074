//! What media-svc keeps about an upload, from its reservation to its purge.

use chrono::{DateTime, Utc};
use parley_common::media_url::Variant;
use uuid::Uuid;

parley_common::uuid_id!(
    /// An upload, and the attachment it becomes (they share the id).
    UploadId
);

parley_common::uuid_id!(
    /// A chat room, as chat-svc names it.
    RoomId
);

pub use parley_common::ids::UserId;

/// Where an upload is in its life (the `state` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum State {
    /// Reserved, waiting for its bytes.
    Pending,
    /// A PUT is streaming its bytes.
    Receiving,
    /// The bytes are staged, not yet processed.
    Uploaded,
    /// Processed and servable: an attachment that may be sent.
    Ready,
    /// Refused to everyone (404); its bytes are purged at `purge_after`.
    Deleted,
}

impl State {
    /// As the `state` column spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Receiving => "receiving",
            State::Uploaded => "uploaded",
            State::Ready => "ready",
            State::Deleted => "deleted",
        }
    }
}

/// What an attachment is to clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "UPPERCASE")]
pub enum Kind {
    Image,
    File,
}

/// One row of `media.uploads`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Upload {
    pub id: UploadId,
    pub user_id: UserId,
    pub room_id: RoomId,
    pub client_upload_id: Option<String>,
    pub name: String,
    pub declared_size: i64,
    pub content_type_hint: Option<String>,
    pub state: State,
    pub expires_at: DateTime<Utc>,
    pub received_size: Option<i64>,
    pub sha256: Option<Vec<u8>>,
    pub kind: Option<Kind>,
    pub mime_type: Option<String>,
    pub size: Option<i64>,
    pub width: Option<i32>,
    pub height: Option<i32>,
    pub thumbhash: Option<Vec<u8>>,
    pub thumbnail_mime: Option<String>,
    pub preview_mime: Option<String>,
    pub claimed_at: Option<DateTime<Utc>>,
}

impl Upload {
    /// The type a variant is served with, when the variant exists.
    pub fn variant_mime(&self, variant: Variant) -> Option<&str> {
        match variant {
            Variant::Original => self.mime_type.as_deref(),
            Variant::Thumbnail => self.thumbnail_mime.as_deref(),
            Variant::Preview => self.preview_mime.as_deref(),
        }
    }

    /// The variants besides the original that were made (and must be purged).
    pub fn variants(&self) -> impl Iterator<Item = Variant> + '_ {
        Variant::ALL
            .into_iter()
            .filter(|variant| self.variant_mime(*variant).is_some())
    }
}

/// What processing decided about a completed upload, to be recorded with it.
#[derive(Debug, Clone)]
pub struct Processed {
    pub kind: Kind,
    pub mime_type: String,
    pub size: u64,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub thumbhash: Option<Vec<u8>>,
    pub thumbnail_mime: Option<&'static str>,
    pub preview_mime: Option<&'static str>,
}

/// A user's usage against their quotas.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub stored_bytes: u64,
    pub today_bytes: u64,
}

/// The id of an object, as a plain UUID for the store's keys.
impl UploadId {
    pub fn uuid(self) -> Uuid {
        self.0
    }
}
