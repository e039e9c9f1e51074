//! All SQL of friends-svc. Functions take a connection so that callers choose the transaction.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use crate::domain::{
    Friend, FriendRequest, RequestId, User, UserId, username_key, username_skeleton,
};

/// A user's row with what the latest token asked for.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredUser {
    pub id: UserId,
    pub username: String,
    pub requested_username: String,
    pub avatar: Option<String>,
    pub claims_issued_at: Option<i64>,
    /// None on a row stored before skeletons, until the backfill or its user's next connect.
    pub username_skeleton: Option<String>,
}

impl From<StoredUser> for User {
    fn from(stored: StoredUser) -> Self {
        Self {
            id: stored.id,
            username: stored.username,
            avatar: stored.avatar,
        }
    }
}

/// A pending request, by ids.
#[derive(Debug, Clone, Copy, sqlx::FromRow)]
pub struct RequestIds {
    pub id: RequestId,
    pub from_user_id: UserId,
    pub to_user_id: UserId,
    pub created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct RequestRow {
    id: RequestId,
    created_at: DateTime<Utc>,
    from_id: UserId,
    from_username: String,
    from_avatar: Option<String>,
    to_id: UserId,
    to_username: String,
    to_avatar: Option<String>,
}

impl From<RequestRow> for FriendRequest {
    fn from(row: RequestRow) -> Self {
        Self {
            id: row.id,
            created_at: row.created_at,
            from: User {
                id: row.from_id,
                username: row.from_username,
                avatar: row.from_avatar,
            },
            to: User {
                id: row.to_id,
                username: row.to_username,
                avatar: row.to_avatar,
            },
        }
    }
}

// --- users ---

#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql"))]
pub async fn stored_user(db: &mut PgConnection, id: UserId) -> sqlx::Result<Option<StoredUser>> {
    sqlx::query_as(
        "SELECT id, username, requested_username, avatar, claims_issued_at, username_skeleton
         FROM friends.users WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(db)
    .await
}

#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql"))]
pub async fn user(db: &mut PgConnection, id: UserId) -> sqlx::Result<Option<User>> {
    sqlx::query_as("SELECT id, username, avatar FROM friends.users WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await
}

#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql"))]
pub async fn user_by_username_key(db: &mut PgConnection, key: &str) -> sqlx::Result<Option<User>> {
    sqlx::query_as("SELECT id, username, avatar FROM friends.users WHERE username_key = $1")
        .bind(key)
        .fetch_optional(db)
        .await
}

#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql"))]
pub async fn users(db: &mut PgConnection, ids: &[UserId]) -> sqlx::Result<Vec<User>> {
    sqlx::query_as("SELECT id, username, avatar FROM friends.users WHERE id = ANY($1)")
        .bind(ids)
        .fetch_all(db)
        .await
}

/// The unique indexes a clashing username violates: its folded key, or its skeleton (a
/// name that looks like one another user holds).
const USERNAME_TAKEN: [&str; 2] = [
    "users_username_key_unique",
    "users_username_skeleton_unique",
];

/// Whether `error` says that another user holds the name, or one that looks like it.
pub fn is_username_taken(error: &sqlx::Error) -> bool {
    USERNAME_TAKEN
        .iter()
        .any(|index| parley_common::db::is_unique_violation(error, index))
}

/// What a token says about its user.
#[derive(Debug, Clone, Copy)]
pub struct Claims<'a> {
    pub requested_username: &'a str,
    pub avatar: Option<&'a str>,
    pub issued_at: Option<i64>,
}

/// Inserts or updates a user under `username`; fails with a unique violation that
/// [`is_username_taken`] recognises when another user holds it or a look-alike. A row written
/// from a newer token than `claims` is left as it is (and returned).
#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql"))]
pub async fn save_user(
    db: &mut PgConnection,
    id: UserId,
    username: &str,
    claims: Claims<'_>,
) -> sqlx::Result<User> {
    let saved: Option<User> = sqlx::query_as(
        "INSERT INTO friends.users
             (id, username, username_key, username_skeleton, requested_username, avatar,
              claims_issued_at)
         VALUES ($1, $2, $3, $7, $4, $5, $6)
         ON CONFLICT (id) DO UPDATE SET
             username = EXCLUDED.username,
             username_key = EXCLUDED.username_key,
             username_skeleton = EXCLUDED.username_skeleton,
             requested_username = EXCLUDED.requested_username,
             avatar = EXCLUDED.avatar,
             claims_issued_at = EXCLUDED.claims_issued_at,
             updated_at = now()
         WHERE EXCLUDED.claims_issued_at IS NULL
            OR friends.users.claims_issued_at IS NULL
            OR friends.users.claims_issued_at <= EXCLUDED.claims_issued_at
         RETURNING id, username, avatar",
    )
    .bind(id)
    .bind(username)
    .bind(username_key(username))
    .bind(claims.requested_username)
    .bind(claims.avatar)
    .bind(claims.issued_at)
    .bind(username_skeleton(username))
    .fetch_optional(&mut *db)
    .await?;
    match saved {
        Some(user) => Ok(user),
        None => user(db, id).await?.ok_or(sqlx::Error::RowNotFound),
    }
}

/// Who holds `username` or a name that looks like it, if anyone.
#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql"))]
pub async fn username_holder(
    db: &mut PgConnection,
    username: &str,
) -> sqlx::Result<Option<UserId>> {
    sqlx::query_scalar("SELECT id FROM friends.users WHERE username_skeleton = $1")
        .bind(username_skeleton(username))
        .fetch_optional(db)
        .await
}

/// Up to `limit` users stored before skeletons, oldest first, with their names.
#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql"))]
pub async fn users_without_skeleton(
    db: &mut PgConnection,
    limit: i64,
) -> sqlx::Result<Vec<(UserId, String)>> {
    sqlx::query_as(
        "SELECT id, username FROM friends.users WHERE username_skeleton IS NULL
         ORDER BY created_at, id LIMIT $1",
    )
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Renames user `id` to `username` with both its keys; fails like [`save_user`] when the
/// name is taken.
#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql"))]
pub async fn rename_user(db: &mut PgConnection, id: UserId, username: &str) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE friends.users
         SET username = $2, username_key = $3, username_skeleton = $4, updated_at = now()
         WHERE id = $1",
    )
    .bind(id)
    .bind(username)
    .bind(username_key(username))
    .bind(username_skeleton(username))
    .execute(db)
    .await
    .map(drop)
}

/// Holds the backfill to one replica at a time until [`unlock_backfill`] or the end of the
/// session.
pub async fn lock_backfill(db: &mut PgConnection) -> sqlx::Result<()> {
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(BACKFILL_LOCK)
        .execute(db)
        .await
        .map(drop)
}

pub async fn unlock_backfill(db: &mut PgConnection) -> sqlx::Result<()> {
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(BACKFILL_LOCK)
        .execute(db)
        .await
        .map(drop)
}

/// The advisory-lock key of the username backfill; pair locks are hashes of two ids, so a
/// clash with one only makes one wait for the other.
const BACKFILL_LOCK: i64 = 0x7061_726c_6579_0008;

/// Users whose lowercased name starts with `prefix`, by name, without `viewer` and without
/// those who blocked `viewer`. The prefix is matched as the range `[prefix, upper)` so that
/// the plan is an index range scan even for a prepared statement (`LIKE $1` is not).
#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql"))]
pub async fn search_users(
    db: &mut PgConnection,
    viewer: UserId,
    prefix: &str,
    upper: Option<&str>,
    limit: u32,
) -> sqlx::Result<Vec<User>> {
    let query = match upper {
        Some(_) => SEARCH_IN_RANGE,
        // Only for a prefix of U+10FFFF characters, which has no upper bound.
        None => SEARCH_FROM_PREFIX,
    };
    sqlx::query_as(query)
        .bind(viewer)
        .bind(prefix)
        .bind(i64::from(limit))
        .bind(upper)
        .fetch_all(db)
        .await
}

const SEARCH_IN_RANGE: &str = "
    SELECT u.id, u.username, u.avatar FROM friends.users u
    WHERE u.username_key >= $2 AND u.username_key < $4
      AND u.id <> $1
      AND NOT EXISTS (
          SELECT 1 FROM friends.blocks b WHERE b.blocker_id = u.id AND b.blocked_id = $1)
    ORDER BY u.username_key
    LIMIT $3";

const SEARCH_FROM_PREFIX: &str = "
    SELECT u.id, u.username, u.avatar FROM friends.users u
    WHERE u.username_key >= $2 AND starts_with(u.username_key, $2)
      AND u.id <> $1 AND $4::text IS NULL
      AND NOT EXISTS (
          SELECT 1 FROM friends.blocks b WHERE b.blocker_id = u.id AND b.blocked_id = $1)
    ORDER BY u.username_key
    LIMIT $3";

// --- pairs ---

/// Serializes every change to the pair that `key` stands for until the transaction ends.
#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql"))]
pub async fn lock_pair(db: &mut PgConnection, key: i64) -> sqlx::Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(key)
        .execute(db)
        .await
        .map(drop)
}

/// Who blocked whom between `me` and `other`: (`me` blocked `other`, `other` blocked `me`).
#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql"))]
pub async fn blocks_between(
    db: &mut PgConnection,
    me: UserId,
    other: UserId,
) -> sqlx::Result<(bool, bool)> {
    let blockers: Vec<UserId> = sqlx::query_scalar(
        "SELECT blocker_id FROM friends.blocks
         WHERE (blocker_id = $1 AND blocked_id = $2) OR (blocker_id = $2 AND blocked_id = $1)",
    )
    .bind(me)
    .bind(other)
    .fetch_all(db)
    .await?;
    Ok((blockers.contains(&me), blockers.contains(&other)))
}

#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql"))]
pub async fn friendship_since(
    db: &mut PgConnection,
    (low, high): (UserId, UserId),
) -> sqlx::Result<Option<DateTime<Utc>>> {
    sqlx::query_scalar(
        "SELECT since FROM friends.friendships WHERE user_low = $1 AND user_high = $2",
    )
    .bind(low)
    .bind(high)
    .fetch_optional(db)
    .await
}

/// Stores the friendship (once) and returns since when it exists.
#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql"))]
pub async fn add_friendship(
    db: &mut PgConnection,
    (low, high): (UserId, UserId),
) -> sqlx::Result<DateTime<Utc>> {
    sqlx::query_scalar(
        "INSERT INTO friends.friendships (user_low, user_high) VALUES ($1, $2)
         ON CONFLICT (user_low, user_high) DO UPDATE SET since = friends.friendships.since
         RETURNING since",
    )
    .bind(low)
    .bind(high)
    .fetch_one(db)
    .await
}

#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql"))]
pub async fn remove_friendship(
    db: &mut PgConnection,
    (low, high): (UserId, UserId),
) -> sqlx::Result<bool> {
    let result =
        sqlx::query("DELETE FROM friends.friendships WHERE user_low = $1 AND user_high = $2")
            .bind(low)
            .bind(high)
            .execute(db)
            .await?;
    Ok(result.rows_affected() > 0)
}

// --- requests ---

#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql"))]
pub async fn request(db: &mut PgConnection, id: RequestId) -> sqlx::Result<Option<RequestIds>> {
    sqlx::query_as(
        "SELECT id, from_user_id, to_user_id, created_at FROM friends.friend_requests
         WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(db)
    .await
}

#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql"))]
pub async fn request_between(
    db: &mut PgConnection,
    a: UserId,
    b: UserId,
) -> sqlx::Result<Option<RequestIds>> {
    sqlx::query_as(
        "SELECT id, from_user_id, to_user_id, created_at FROM friends.friend_requests
         WHERE LEAST(from_user_id, to_user_id) = LEAST($1::uuid, $2::uuid)
           AND GREATEST(from_user_id, to_user_id) = GREATEST($1::uuid, $2::uuid)",
    )
    .bind(a)
    .bind(b)
    .fetch_optional(db)
    .await
}

#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql"))]
pub async fn insert_request(
    db: &mut PgConnection,
    id: RequestId,
    from: UserId,
    to: UserId,
) -> sqlx::Result<DateTime<Utc>> {
    sqlx::query_scalar(
        "INSERT INTO friends.friend_requests (id, from_user_id, to_user_id) VALUES ($1, $2, $3)
         RETURNING created_at",
    )
    .bind(id)
    .bind(from)
    .bind(to)
    .fetch_one(db)
    .await
}

#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql"))]
pub async fn delete_request(db: &mut PgConnection, id: RequestId) -> sqlx::Result<bool> {
    let result = sqlx::query("DELETE FROM friends.friend_requests WHERE id = $1")
        .bind(id)
        .execute(db)
        .await?;
    Ok(result.rows_affected() > 0)
}

/// Up to `limit` pending requests of `user`, with both users, newest first, older than
/// `after` (a request's time and id) when given.
#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql"))]
pub async fn requests_of(
    db: &mut PgConnection,
    user: UserId,
    incoming: bool,
    after: Option<(DateTime<Utc>, RequestId)>,
    limit: u32,
) -> sqlx::Result<Vec<FriendRequest>> {
    let query = if incoming {
        REQUESTS_SELECT_INCOMING
    } else {
        REQUESTS_SELECT_OUTGOING
    };
    let rows: Vec<RequestRow> = sqlx::query_as(query)
        .bind(user)
        .bind(after.map(|(at, _)| at))
        .bind(after.map(|(_, id)| id))
        .bind(i64::from(limit))
        .fetch_all(db)
        .await?;
    Ok(rows.into_iter().map(FriendRequest::from).collect())
}

const REQUESTS_SELECT_INCOMING: &str = "
    SELECT r.id, r.created_at,
           f.id AS from_id, f.username AS from_username, f.avatar AS from_avatar,
           t.id AS to_id, t.username AS to_username, t.avatar AS to_avatar
    FROM friends.friend_requests r
    JOIN friends.users f ON f.id = r.from_user_id
    JOIN friends.users t ON t.id = r.to_user_id
    WHERE r.to_user_id = $1
      AND ($2::timestamptz IS NULL OR (r.created_at, r.id) < ($2, $3::uuid))
    ORDER BY r.created_at DESC, r.id DESC
    LIMIT $4";

const REQUESTS_SELECT_OUTGOING: &str = "
    SELECT r.id, r.created_at,
           f.id AS from_id, f.username AS from_username, f.avatar AS from_avatar,
           t.id AS to_id, t.username AS to_username, t.avatar AS to_avatar
    FROM friends.friend_requests r
    JOIN friends.users f ON f.id = r.from_user_id
    JOIN friends.users t ON t.id = r.to_user_id
    WHERE r.from_user_id = $1
      AND ($2::timestamptz IS NULL OR (r.created_at, r.id) < ($2, $3::uuid))
    ORDER BY r.created_at DESC, r.id DESC
    LIMIT $4";

// --- cooldowns ---

/// Makes `from` wait `length` before asking `to` again; a longer wait already running stays.
#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql"))]
pub async fn start_cooldown(
    db: &mut PgConnection,
    from: UserId,
    to: UserId,
    length: std::time::Duration,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO friends.request_cooldowns (from_user_id, to_user_id, until)
         VALUES ($1, $2, now() + $3 * interval '1 millisecond')
         ON CONFLICT (from_user_id, to_user_id) DO UPDATE
         SET until = GREATEST(friends.request_cooldowns.until, EXCLUDED.until)",
    )
    .bind(from)
    .bind(to)
    // f64 holds every whole number of milliseconds up to 285 000 years exactly.
    .bind(length.as_millis() as f64)
    .execute(db)
    .await
    .map(drop)
}

/// How many milliseconds `from` must still wait before asking `to` again, if any.
#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql"))]
pub async fn cooldown_left_ms(
    db: &mut PgConnection,
    from: UserId,
    to: UserId,
) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar(
        "SELECT ceil(extract(epoch FROM until - now()) * 1000)::bigint
         FROM friends.request_cooldowns
         WHERE from_user_id = $1 AND to_user_id = $2 AND until > now()",
    )
    .bind(from)
    .bind(to)
    .fetch_optional(db)
    .await
}

/// Forgets the cooldowns of a pair in both directions (they became friends).
#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql"))]
pub async fn end_cooldowns(
    db: &mut PgConnection,
    (low, high): (UserId, UserId),
) -> sqlx::Result<()> {
    sqlx::query(
        "DELETE FROM friends.request_cooldowns
         WHERE (from_user_id = $1 AND to_user_id = $2) OR (from_user_id = $2 AND to_user_id = $1)",
    )
    .bind(low)
    .bind(high)
    .execute(db)
    .await
    .map(drop)
}

// --- friends ---

/// Where a list by name goes on: after this folded name and, for equal names (rows that
/// predate the unique key), this id.
#[derive(Debug, Clone)]
pub struct NamePosition {
    pub key: String,
    pub user: UserId,
}

/// The folded key of `user`'s current name, if they exist.
#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql"))]
pub async fn username_key_of(db: &mut PgConnection, user: UserId) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("SELECT username_key FROM friends.users WHERE id = $1")
        .bind(user)
        .fetch_optional(db)
        .await
}

/// Up to `limit` friends of `user`, by name, after `after` when given.
#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql"))]
pub async fn friends_of(
    db: &mut PgConnection,
    user: UserId,
    after: Option<&NamePosition>,
    limit: u32,
) -> sqlx::Result<Vec<Friend>> {
    sqlx::query_as(
        "SELECT u.id, u.username, u.avatar, f.since
         FROM (SELECT user_high AS friend_id, since FROM friends.friendships WHERE user_low = $1
               UNION ALL
               SELECT user_low, since FROM friends.friendships WHERE user_high = $1) f
         JOIN friends.users u ON u.id = f.friend_id
         WHERE $2::text IS NULL OR (u.username_key, u.id) > ($2, $3::uuid)
         ORDER BY u.username_key, u.id
         LIMIT $4",
    )
    .bind(user)
    .bind(after.map(|position| position.key.as_str()))
    .bind(after.map(|position| position.user))
    .bind(i64::from(limit))
    .fetch_all(db)
    .await
}

/// One page of the ids of `user`'s friends, in id order, after `after`.
#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql"))]
pub async fn friend_ids_page(
    db: &mut PgConnection,
    user: UserId,
    after: Option<UserId>,
    limit: u32,
) -> sqlx::Result<Vec<UserId>> {
    sqlx::query_scalar(
        "SELECT friend_id FROM (
             SELECT user_high AS friend_id FROM friends.friendships WHERE user_low = $1
             UNION ALL
             SELECT user_low FROM friends.friendships WHERE user_high = $1) f
         -- The nil UUID sorts first and is nobody's id: one plan serves every page.
         WHERE friend_id > COALESCE($2::uuid, '00000000-0000-0000-0000-000000000000')
         ORDER BY friend_id
         LIMIT $3",
    )
    .bind(user)
    .bind(after)
    .bind(i64::from(limit))
    .fetch_all(db)
    .await
}

// --- blocks ---

/// Whether the block was new.
#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql"))]
pub async fn add_block(
    db: &mut PgConnection,
    blocker: UserId,
    blocked: UserId,
) -> sqlx::Result<bool> {
    let result = sqlx::query(
        "INSERT INTO friends.blocks (blocker_id, blocked_id) VALUES ($1, $2)
         ON CONFLICT DO NOTHING",
    )
    .bind(blocker)
    .bind(blocked)
    .execute(db)
    .await?;
    Ok(result.rows_affected() > 0)
}

/// Whether there was a block to lift.
#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql"))]
pub async fn remove_block(
    db: &mut PgConnection,
    blocker: UserId,
    blocked: UserId,
) -> sqlx::Result<bool> {
    let result =
        sqlx::query("DELETE FROM friends.blocks WHERE blocker_id = $1 AND blocked_id = $2")
            .bind(blocker)
            .bind(blocked)
            .execute(db)
            .await?;
    Ok(result.rows_affected() > 0)
}

/// Both directions of `user`'s blocks, as ids: (whom `user` blocked, who blocked `user`).
#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql"))]
pub async fn block_ids(
    db: &mut PgConnection,
    user: UserId,
) -> sqlx::Result<(Vec<UserId>, Vec<UserId>)> {
    // One statement, one snapshot; `blocks_by_blocked` serves the second half.
    let rows: Vec<(UserId, bool)> = sqlx::query_as(
        "SELECT blocked_id, true FROM friends.blocks WHERE blocker_id = $1
         UNION ALL
         SELECT blocker_id, false FROM friends.blocks WHERE blocked_id = $1",
    )
    .bind(user)
    .fetch_all(db)
    .await?;
    let (blocked, blockers): (Vec<_>, Vec<_>) = rows.into_iter().partition(|(_, mine)| *mine);
    Ok((
        blocked.into_iter().map(|(id, _)| id).collect(),
        blockers.into_iter().map(|(id, _)| id).collect(),
    ))
}

/// Up to `limit` users `blocker` has blocked, by name, after `after` when given.
#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql"))]
pub async fn blocked_by(
    db: &mut PgConnection,
    blocker: UserId,
    after: Option<&NamePosition>,
    limit: u32,
) -> sqlx::Result<Vec<User>> {
    sqlx::query_as(
        "SELECT u.id, u.username, u.avatar FROM friends.blocks b
         JOIN friends.users u ON u.id = b.blocked_id
         WHERE b.blocker_id = $1
           AND ($2::text IS NULL OR (u.username_key, u.id) > ($2, $3::uuid))
         ORDER BY u.username_key, u.id
         LIMIT $4",
    )
    .bind(blocker)
    .bind(after.map(|position| position.key.as_str()))
    .bind(after.map(|position| position.user))
    .bind(i64::from(limit))
    .fetch_all(db)
    .await
}
