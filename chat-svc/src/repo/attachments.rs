//! The SQL of the files messages carry (`chat.message_attachments`).

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use crate::domain::{AttachmentId, AttachmentKind, MessageId, RoomId};

/// A file a message carries, with its metadata as media-svc resolved it at send time.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Attachment {
    pub attachment_id: AttachmentId,
    pub message_id: MessageId,
    pub room_id: RoomId,
    /// Order within the message, from 0.
    pub position: i16,
    #[sqlx(try_from = "String")]
    pub kind: AttachmentKind,
    pub name: String,
    pub size: i64,
    pub mime_type: String,
    pub width: Option<i32>,
    pub height: Option<i32>,
    pub thumbhash: Option<Vec<u8>>,
    pub has_thumbnail: bool,
    pub has_preview: bool,
}

const ATTACHMENT_COLUMNS: &str = "a.attachment_id, a.message_id, a.room_id, a.position, a.kind, \
     a.name, a.size, a.mime_type, a.width, a.height, a.thumbhash, a.has_thumbnail, a.has_preview";

/// An attachment a batch of sends wants to store, with its message's seq.
pub struct Claim<'a> {
    pub attachment: &'a Attachment,
    pub seq: i64,
}

/// Stores the attachments of a batch's messages, each unless another message holds it
/// already, and returns those stored. Their messages are stored later in the transaction (the
/// foreign key is checked at commit), so that a send that lost an attachment can be dropped
/// before seqs are given.
#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql", claims = claims.len()))]
pub async fn claim_attachments(
    db: &mut PgConnection,
    claims: &[Claim<'_>],
    at: DateTime<Utc>,
) -> sqlx::Result<Vec<AttachmentId>> {
    sqlx::query_scalar(
        "INSERT INTO chat.message_attachments
             (attachment_id, message_id, room_id, seq, position, kind, name, size, mime_type,
              width, height, thumbhash, has_thumbnail, has_preview, created_at)
         SELECT *, $15::timestamptz
         FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::bigint[], $5::smallint[],
                     $6::text[], $7::text[], $8::bigint[], $9::text[], $10::integer[],
                     $11::integer[], $12::bytea[], $13::boolean[], $14::boolean[])
         ON CONFLICT (attachment_id) DO NOTHING
         RETURNING attachment_id",
    )
    .bind(column(claims, |a| a.attachment_id))
    .bind(column(claims, |a| a.message_id))
    .bind(column(claims, |a| a.room_id))
    .bind(claims.iter().map(|claim| claim.seq).collect::<Vec<_>>())
    .bind(column(claims, |a| a.position))
    .bind(column(claims, |a| a.kind.as_str()))
    .bind(column(claims, |a| a.name.as_str()))
    .bind(column(claims, |a| a.size))
    .bind(column(claims, |a| a.mime_type.as_str()))
    .bind(column(claims, |a| a.width))
    .bind(column(claims, |a| a.height))
    .bind(column(claims, |a| a.thumbhash.as_deref()))
    .bind(column(claims, |a| a.has_thumbnail))
    .bind(column(claims, |a| a.has_preview))
    .bind(at)
    .fetch_all(db)
    .await
}

/// One field of every claimed attachment, as a statement's array parameter.
fn column<'c, T>(claims: &'c [Claim<'_>], field: impl Fn(&'c Attachment) -> T) -> Vec<T> {
    claims.iter().map(|claim| field(claim.attachment)).collect()
}

/// Gives back attachments this transaction claimed (for sends it then dropped).
#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql"))]
pub async fn release_attachments(db: &mut PgConnection, ids: &[AttachmentId]) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM chat.message_attachments WHERE attachment_id = ANY($1)")
        .bind(ids)
        .execute(db)
        .await
        .map(drop)
}

/// The attachments of several messages in one read, each message's in position order.
#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql"))]
pub async fn attachments_of(
    db: &mut PgConnection,
    messages: &[MessageId],
) -> sqlx::Result<Vec<Attachment>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ATTACHMENT_COLUMNS} FROM chat.message_attachments a
         WHERE a.message_id = ANY($1)
         ORDER BY a.message_id, a.position"
    )))
    .bind(messages)
    .fetch_all(db)
    .await
}

/// Which of `ids` are attachments of live messages of `room`.
#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql"))]
pub async fn live_attachments_among(
    db: &mut PgConnection,
    room: RoomId,
    ids: &[AttachmentId],
) -> sqlx::Result<Vec<Attachment>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ATTACHMENT_COLUMNS} FROM chat.message_attachments a
         JOIN chat.messages m ON m.id = a.message_id
         WHERE a.attachment_id = ANY($2) AND a.room_id = $1 AND m.deleted_at IS NULL"
    )))
    .bind(room)
    .bind(ids)
    .fetch_all(db)
    .await
}

/// Where an attachment of `room` stands in its gallery: its message's seq and its position.
#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql"))]
pub async fn gallery_position(
    db: &mut PgConnection,
    room: RoomId,
    id: AttachmentId,
) -> sqlx::Result<Option<(i64, i16)>> {
    sqlx::query_as(
        "SELECT seq, position FROM chat.message_attachments
         WHERE attachment_id = $1 AND room_id = $2",
    )
    .bind(id)
    .bind(room)
    .fetch_optional(db)
    .await
}

/// A page of a room's gallery: the attachments of its live messages, newest message first and
/// each message's in their order, after `before` (a [`gallery_position`]); one more than
/// `limit` to tell if there is more.
#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql"))]
pub async fn gallery(
    db: &mut PgConnection,
    room: RoomId,
    kind: Option<AttachmentKind>,
    before: Option<(i64, i16)>,
    limit: u32,
) -> sqlx::Result<Vec<Attachment>> {
    let (before_seq, before_position) = before.unzip();
    // `seq <= COALESCE(...)` bounds the index scan; the rest of the cursor is a filter on the
    // rows of that one seq.
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ATTACHMENT_COLUMNS} FROM chat.message_attachments a
         JOIN chat.messages m ON m.id = a.message_id
         WHERE a.room_id = $1 AND m.deleted_at IS NULL
           AND ($2::text IS NULL OR a.kind = $2)
           AND a.seq <= COALESCE($3, 9223372036854775807)
           AND ($3 IS NULL OR a.seq < $3 OR a.position > $4)
         ORDER BY a.seq DESC, a.position
         LIMIT $5"
    )))
    .bind(room)
    .bind(kind.map(AttachmentKind::as_str))
    .bind(before_seq)
    .bind(before_position)
    .bind(i64::from(limit) + 1)
    .fetch_all(db)
    .await
}

/// Which message holds each of `ids` (ids no message holds are left out).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AttachmentRef {
    pub attachment_id: AttachmentId,
    pub message_id: MessageId,
    pub room_id: RoomId,
    pub message_deleted: bool,
}

#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql"))]
pub async fn attachment_refs(
    db: &mut PgConnection,
    ids: &[AttachmentId],
) -> sqlx::Result<Vec<AttachmentRef>> {
    sqlx::query_as(
        "SELECT a.attachment_id, a.message_id, a.room_id, m.deleted_at IS NOT NULL AS message_deleted
         FROM chat.message_attachments a JOIN chat.messages m ON m.id = a.message_id
         WHERE a.attachment_id = ANY($1)",
    )
    .bind(ids)
    .fetch_all(db)
    .await
}
