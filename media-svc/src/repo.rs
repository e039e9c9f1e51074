//! The `media` schema: uploads through their states, and each user's usage.
//!
//! A reservation and its charge are one transaction that locks the user's usage row, so two
//! create-uploads of one user cannot both pass a quota; every refund is in the transaction
//! that removes or deletes the row it was charged for, so a charge is given back once.

use chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, PgConnection, PgPool};

use crate::domain::{Processed, RoomId, State, Upload, UploadId, Usage, UserId};

/// Every column of [`Upload`]: a constant, so the queries built with it are safe.
const COLUMNS: &str = "id, user_id, room_id, client_upload_id, name, declared_size, \
    content_type_hint, state, expires_at, received_size, sha256, kind, mime_type, size, width, \
    height, thumbhash, thumbnail_mime, preview_mime, claimed_at";

/// A reservation asked for.
#[derive(Debug, Clone)]
pub struct NewUpload {
    pub id: UploadId,
    pub user_id: UserId,
    pub room_id: RoomId,
    pub client_upload_id: Option<String>,
    pub name: String,
    pub size: u64,
    pub content_type_hint: Option<String>,
    pub expires_at: DateTime<Utc>,
}

/// The limits a reservation is checked against (0: no limit).
#[derive(Debug, Clone, Copy)]
pub struct Quotas {
    pub max_pending: u32,
    pub daily_bytes: u64,
    pub max_stored_bytes: u64,
}

/// Why a reservation was refused; nothing was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A byte quota: its limit and what the user uses of it now.
    Quota {
        limit: u64,
        used: u64,
    },
    TooManyPending {
        limit: u32,
    },
}

fn to_db(bytes: u64) -> i64 {
    i64::try_from(bytes).unwrap_or(i64::MAX)
}

fn from_db(bytes: i64) -> u64 {
    u64::try_from(bytes).unwrap_or_default()
}

/// The user's usage row, created when missing, locked for the rest of `transaction`, with the
/// day's count started again on a new UTC day.
async fn lock_usage(connection: &mut PgConnection, user: UserId) -> Result<Usage, sqlx::Error> {
    sqlx::query("INSERT INTO media.user_usage (user_id) VALUES ($1) ON CONFLICT DO NOTHING")
        .bind(user)
        .execute(&mut *connection)
        .await?;
    let (stored, today): (i64, i64) = sqlx::query_as(
        "UPDATE media.user_usage SET \
             day_bytes = CASE WHEN day = (now() AT TIME ZONE 'utc')::date THEN day_bytes ELSE 0 END, \
             day = (now() AT TIME ZONE 'utc')::date \
         WHERE user_id = $1 RETURNING stored_bytes, day_bytes",
    )
    .bind(user)
    .fetch_one(&mut *connection)
    .await?;
    Ok(Usage {
        stored_bytes: from_db(stored),
        today_bytes: from_db(today),
    })
}

/// Reserves `upload.size` against the user's quotas and records the pending upload, or says
/// which limit refuses it (and writes nothing).
pub async fn reserve(
    pool: &PgPool,
    upload: &NewUpload,
    quotas: Quotas,
) -> Result<Result<Upload, Refusal>, sqlx::Error> {
    let mut transaction = pool.begin().await?;
    let usage = lock_usage(&mut transaction, upload.user_id).await?;
    let pending: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM media.uploads \
         WHERE user_id = $1 AND state IN ('pending', 'receiving', 'uploaded')",
    )
    .bind(upload.user_id)
    .fetch_one(&mut *transaction)
    .await?;
    if quotas.max_pending > 0 && from_db(pending) >= u64::from(quotas.max_pending) {
        return Ok(Err(Refusal::TooManyPending {
            limit: quotas.max_pending,
        }));
    }
    let over = |limit: u64, used: u64| limit > 0 && used.saturating_add(upload.size) > limit;
    if over(quotas.max_stored_bytes, usage.stored_bytes) {
        return Ok(Err(Refusal::Quota {
            limit: quotas.max_stored_bytes,
            used: usage.stored_bytes,
        }));
    }
    if over(quotas.daily_bytes, usage.today_bytes) {
        return Ok(Err(Refusal::Quota {
            limit: quotas.daily_bytes,
            used: usage.today_bytes,
        }));
    }
    let size = to_db(upload.size);
    let stored: Upload = sqlx::query_as(AssertSqlSafe(format!(
        "INSERT INTO media.uploads (id, user_id, room_id, client_upload_id, name, declared_size, \
             content_type_hint, state, expires_at, charged_bytes) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, $6) RETURNING {COLUMNS}"
    )))
    .bind(upload.id)
    .bind(upload.user_id)
    .bind(upload.room_id)
    .bind(&upload.client_upload_id)
    .bind(&upload.name)
    .bind(size)
    .bind(&upload.content_type_hint)
    .bind(upload.expires_at)
    .fetch_one(&mut *transaction)
    .await?;
    sqlx::query(
        "UPDATE media.user_usage SET stored_bytes = stored_bytes + $2, day_bytes = day_bytes + $2 \
         WHERE user_id = $1",
    )
    .bind(upload.user_id)
    .bind(size)
    .execute(&mut *transaction)
    .await?;
    transaction.commit().await?;
    Ok(Ok(stored))
}

/// The user's usage now (no row: nothing used).
pub async fn usage(pool: &PgPool, user: UserId) -> Result<Usage, sqlx::Error> {
    let row: Option<(i64, i64)> = sqlx::query_as(
        "SELECT stored_bytes, \
             CASE WHEN day = (now() AT TIME ZONE 'utc')::date THEN day_bytes ELSE 0 END \
         FROM media.user_usage WHERE user_id = $1",
    )
    .bind(user)
    .fetch_optional(pool)
    .await?;
    Ok(row.map_or_else(Usage::default, |(stored, today)| Usage {
        stored_bytes: from_db(stored),
        today_bytes: from_db(today),
    }))
}

pub async fn get(pool: &PgPool, id: UploadId) -> Result<Option<Upload>, sqlx::Error> {
    sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM media.uploads WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// The user's upload of that idempotency key, unless it was deleted.
pub async fn by_client_upload_id(
    pool: &PgPool,
    user: UserId,
    client_upload_id: &str,
) -> Result<Option<Upload>, sqlx::Error> {
    sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM media.uploads \
         WHERE user_id = $1 AND client_upload_id = $2 AND state <> 'deleted'"
    )))
    .bind(user)
    .bind(client_upload_id)
    .fetch_optional(pool)
    .await
}

/// Claims a pending, unexpired upload for one PUT; `None` when it is not pending (another PUT
/// streams or finished, or it expired).
pub async fn start_receiving(pool: &PgPool, id: UploadId) -> Result<Option<Upload>, sqlx::Error> {
    sqlx::query_as(AssertSqlSafe(format!(
        "UPDATE media.uploads SET state = 'receiving' \
         WHERE id = $1 AND state = 'pending' AND expires_at > now() RETURNING {COLUMNS}"
    )))
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// The PUT stored every byte.
pub async fn finish_receiving(
    pool: &PgPool,
    id: UploadId,
    sha256: &[u8],
    size: u64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE media.uploads SET state = 'uploaded', sha256 = $2, received_size = $3 \
         WHERE id = $1 AND state = 'receiving'",
    )
    .bind(id)
    .bind(sha256)
    .bind(to_db(size))
    .execute(pool)
    .await
    .map(drop)
}

/// The PUT failed: the upload may be PUT again.
pub async fn abort_receiving(pool: &PgPool, id: UploadId) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE media.uploads SET state = 'pending' WHERE id = $1 AND state = 'receiving'")
        .bind(id)
        .execute(pool)
        .await
        .map(drop)
}

/// Records what processing made of an uploaded upload; `None` when it is no longer uploaded
/// (completed meanwhile by another call, cancelled, expired).
pub async fn mark_ready(
    pool: &PgPool,
    id: UploadId,
    processed: &Processed,
) -> Result<Option<Upload>, sqlx::Error> {
    sqlx::query_as(AssertSqlSafe(format!(
        "UPDATE media.uploads SET state = 'ready', ready_at = now(), kind = $2, mime_type = $3, \
             size = $4, width = $5, height = $6, thumbhash = $7, thumbnail_mime = $8, \
             preview_mime = $9 \
         WHERE id = $1 AND state = 'uploaded' RETURNING {COLUMNS}"
    )))
    .bind(id)
    .bind(processed.kind)
    .bind(&processed.mime_type)
    .bind(to_db(processed.size))
    .bind(processed.width.and_then(|w| i32::try_from(w).ok()))
    .bind(processed.height.and_then(|h| i32::try_from(h).ok()))
    .bind(&processed.thumbhash)
    .bind(processed.thumbnail_mime)
    .bind(processed.preview_mime)
    .fetch_optional(pool)
    .await
}

/// The user's ready attachments among `ids` (in no order), each marked as claimed for a send
/// now.
pub async fn claim_for_send(
    pool: &PgPool,
    user: UserId,
    ids: &[UploadId],
) -> Result<Vec<Upload>, sqlx::Error> {
    sqlx::query_as(AssertSqlSafe(format!(
        "UPDATE media.uploads SET claimed_at = now() \
         WHERE id = ANY($1) AND user_id = $2 AND state = 'ready' RETURNING {COLUMNS}"
    )))
    .bind(ids)
    .bind(user)
    .fetch_all(pool)
    .await
}

/// Removes the row of an upload that never became servable to others (cancelled, or expired
/// unfinished), giving back its charge: the stored bytes, and the day's when it was reserved
/// today. Its objects must be removed first. `false` when it was not in one of `states`.
pub async fn remove(pool: &PgPool, id: UploadId, states: &[State]) -> Result<bool, sqlx::Error> {
    let mut transaction = pool.begin().await?;
    let removed: Option<(UserId, i64, bool)> = sqlx::query_as(
        "DELETE FROM media.uploads WHERE id = $1 AND state = ANY($2) \
         RETURNING user_id, charged_bytes, \
             (created_at AT TIME ZONE 'utc')::date = (now() AT TIME ZONE 'utc')::date",
    )
    .bind(id)
    .bind(
        states
            .iter()
            .map(|state| state.as_str())
            .collect::<Vec<_>>(),
    )
    .fetch_optional(&mut *transaction)
    .await?;
    let Some((user, charged, today)) = removed else {
        return Ok(false);
    };
    sqlx::query(
        "UPDATE media.user_usage SET stored_bytes = greatest(stored_bytes - $2, 0), \
             day_bytes = CASE WHEN $3 AND day = (now() AT TIME ZONE 'utc')::date \
                 THEN greatest(day_bytes - $2, 0) ELSE day_bytes END \
         WHERE user_id = $1",
    )
    .bind(user)
    .bind(charged)
    .bind(today)
    .execute(&mut *transaction)
    .await?;
    transaction.commit().await?;
    Ok(true)
}

/// Makes these attachments 404 at once and gives their stored bytes back, in one statement;
/// their bytes go at `purge_after`. Returns those that were not deleted already.
pub async fn mark_deleted(
    pool: &PgPool,
    ids: &[UploadId],
    purge_after: DateTime<Utc>,
) -> Result<Vec<UploadId>, sqlx::Error> {
    sqlx::query_scalar(
        "WITH old AS ( \
             SELECT id, user_id, charged_bytes FROM media.uploads \
             WHERE id = ANY($1) AND state <> 'deleted' FOR UPDATE), \
         deleted AS ( \
             UPDATE media.uploads AS u SET state = 'deleted', deleted_at = now(), \
                 purge_after = $2, charged_bytes = 0 \
             FROM old WHERE u.id = old.id RETURNING u.id), \
         refunded AS ( \
             UPDATE media.user_usage AS usage \
             SET stored_bytes = greatest(usage.stored_bytes - charges.bytes, 0) \
             FROM (SELECT user_id, sum(charged_bytes)::bigint AS bytes FROM old GROUP BY user_id) \
                 AS charges \
             WHERE usage.user_id = charges.user_id) \
         SELECT id FROM deleted",
    )
    .bind(ids)
    .bind(purge_after)
    .fetch_all(pool)
    .await
}

/// Unfinished uploads past their reservation, oldest first.
pub async fn expired_unfinished(pool: &PgPool, limit: i64) -> Result<Vec<Upload>, sqlx::Error> {
    sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM media.uploads \
         WHERE state IN ('pending', 'receiving', 'uploaded') AND expires_at < now() \
         ORDER BY expires_at LIMIT $1"
    )))
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Ready attachments chat-svc must be asked about, oldest first: never confirmed and
/// completed before `unsent_before` (or claimed for a send before `recheck_before`), or
/// confirmed before `confirmed_before` (or before `recheck_before`). One claimed for a send
/// at or after `claimed_before` is left for later: its message may be committing now.
pub async fn due_for_reconciliation(
    pool: &PgPool,
    unsent_before: DateTime<Utc>,
    confirmed_before: DateTime<Utc>,
    recheck_before: Option<DateTime<Utc>>,
    claimed_before: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<UploadId>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id FROM media.uploads WHERE state = 'ready' AND ( \
             (confirmed_at IS NULL AND (ready_at < $1 OR claimed_at < $3) \
                 AND coalesce(claimed_at, '-infinity') < $5) \
             OR confirmed_at < greatest($2, $3)) \
         ORDER BY coalesce(confirmed_at, ready_at) LIMIT $4",
    )
    .bind(unsent_before)
    .bind(confirmed_before)
    .bind(recheck_before)
    .bind(limit)
    .bind(claimed_before)
    .fetch_all(pool)
    .await
}

/// chat-svc says a live message holds these.
pub async fn confirm(pool: &PgPool, ids: &[UploadId]) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE media.uploads SET confirmed_at = now() WHERE id = ANY($1) AND state = 'ready'",
    )
    .bind(ids)
    .execute(pool)
    .await
    .map(drop)
}

/// Deleted attachments whose grace period is over.
pub async fn purgeable(pool: &PgPool, limit: i64) -> Result<Vec<Upload>, sqlx::Error> {
    sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM media.uploads WHERE state = 'deleted' AND purge_after <= now() \
         ORDER BY purge_after LIMIT $1"
    )))
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// The last step of a purge, once the objects are gone.
pub async fn forget(pool: &PgPool, id: UploadId) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM media.uploads WHERE id = $1 AND state = 'deleted'")
        .bind(id)
        .execute(pool)
        .await
        .map(drop)
}
