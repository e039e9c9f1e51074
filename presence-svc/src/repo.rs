//! All SQL of presence-svc, on a connection the caller holds (from the pool, or `&mut *tx`
//! inside a transaction). Only what must survive a restart is stored: the status each user
//! chose and when friends last saw them; sessions live in memory.

use crate::domain::{Status, UserId};
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

/// What is stored of a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub user: UserId,
    pub chosen: Status,
    pub last_seen: Option<DateTime<Utc>>,
}

/// The stored status and last seen of those of `users` who have a row; absent users chose
/// nothing and were never seen.
#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql"))]
pub async fn load(db: &mut PgConnection, users: &[UserId]) -> sqlx::Result<Vec<Stored>> {
    let rows: Vec<(UserId, String, Option<DateTime<Utc>>)> = sqlx::query_as(
        "SELECT user_id, chosen_status, last_seen FROM presence.users WHERE user_id = ANY($1)",
    )
    .bind(users)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(user, chosen, last_seen)| Stored {
            user,
            // The CHECK admits only known names; should one not parse, ONLINE (the column's
            // default) stands in.
            chosen: Status::parse(&chosen).unwrap_or(Status::Online),
            last_seen,
        })
        .collect())
}

/// Stores a chosen status at once: it was acknowledged to the user.
#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql"))]
pub async fn save_chosen(db: &mut PgConnection, user: UserId, status: Status) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO presence.users (user_id, chosen_status) VALUES ($1, $2)
         ON CONFLICT (user_id) DO UPDATE SET chosen_status = EXCLUDED.chosen_status",
    )
    .bind(user)
    .bind(status.as_str())
    .execute(db)
    .await
    .map(drop)
}

/// Writes a batch of last-seen times in one statement, so one commit.
#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql"))]
pub async fn save_last_seen(
    db: &mut PgConnection,
    batch: &[(UserId, DateTime<Utc>)],
) -> sqlx::Result<()> {
    let (users, times): (Vec<UserId>, Vec<DateTime<Utc>>) = batch.iter().copied().unzip();
    sqlx::query(
        "INSERT INTO presence.users (user_id, last_seen)
         SELECT * FROM UNNEST($1::uuid[], $2::timestamptz[])
         ON CONFLICT (user_id) DO UPDATE SET last_seen = EXCLUDED.last_seen",
    )
    .bind(users)
    .bind(times)
    .execute(db)
    .await
    .map(drop)
}

/// Records that `edge` renewed its lease with `replica` now (the database's clock, the one
/// clock every replica shares).
#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql"))]
pub async fn record_renewal(db: &mut PgConnection, edge: &str, replica: Uuid) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO presence.edge_leases (edge_id, replica_id, renewed_at) VALUES ($1, $2, now())
         ON CONFLICT (edge_id) DO UPDATE
         SET replica_id = EXCLUDED.replica_id, renewed_at = EXCLUDED.renewed_at",
    )
    .bind(edge)
    .bind(replica)
    .execute(db)
    .await
    .map(drop)
}

/// Those of `edges` that renewed their lease with another replica than `replica` within the
/// last `ttl`: alive, and served elsewhere. The others are dead; their rows, older than a
/// lease, are removed, so the table holds about one row per live edge.
#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql"))]
pub async fn renewed_elsewhere(
    db: &mut PgConnection,
    edges: &[String],
    replica: Uuid,
    ttl: std::time::Duration,
) -> sqlx::Result<Vec<String>> {
    let ttl = ttl.as_secs_f64();
    let alive: Vec<String> = sqlx::query_scalar(
        "SELECT edge_id FROM presence.edge_leases
         WHERE edge_id = ANY($1) AND replica_id <> $2
           AND renewed_at > now() - make_interval(secs => $3)",
    )
    .bind(edges)
    .bind(replica)
    .bind(ttl)
    .fetch_all(&mut *db)
    .await?;
    sqlx::query(
        "DELETE FROM presence.edge_leases
         WHERE edge_id = ANY($1) AND renewed_at <= now() - make_interval(secs => $2)",
    )
    .bind(edges)
    .bind(ttl)
    .execute(db)
    .await?;
    Ok(alive)
}

/// Marks the replica at `url` alive now (this renews its lease on every shard it holds), and
/// returns every replica seen within `ttl`, this one included, in order. Rows of replicas
/// gone for an hour are removed (their shards are free by then).
#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql"))]
pub async fn live_replicas(
    db: &mut PgConnection,
    url: &str,
    ttl: std::time::Duration,
) -> sqlx::Result<Vec<String>> {
    sqlx::query(
        "INSERT INTO presence.replicas (url, seen_at) VALUES ($1, now())
         ON CONFLICT (url) DO UPDATE SET seen_at = EXCLUDED.seen_at",
    )
    .bind(url)
    .execute(&mut *db)
    .await?;
    sqlx::query("DELETE FROM presence.replicas WHERE seen_at < now() - interval '1 hour'")
        .execute(&mut *db)
        .await?;
    sqlx::query_scalar(
        "SELECT url FROM presence.replicas
         WHERE seen_at > now() - make_interval(secs => $1) ORDER BY url",
    )
    .bind(ttl.as_secs_f64())
    .fetch_all(db)
    .await
}

/// A shard just taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct Taken {
    pub shard: i32,
    /// Someone held the shard within the last `recent` (see [`take_shards`]): the edges may
    /// have live sessions of its users that this replica has not heard of yet.
    pub recently_held: bool,
}

/// Takes those of `shards` that nobody holds: given back, or held by a replica not seen
/// within `ttl` (its lease lapsed). A shard another replica is taking at the same moment is
/// left to it (the row lock makes the second claim see the first). Only shards that change
/// hands are written.
#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql"))]
pub async fn take_shards(
    db: &mut PgConnection,
    url: &str,
    shards: &[i32],
    ttl: std::time::Duration,
    recent: std::time::Duration,
) -> sqlx::Result<Vec<Taken>> {
    sqlx::query_as(
        "WITH free AS (
             SELECT lease.shard,
                    (holder.seen_at > now() - make_interval(secs => $4)
                     OR lease.released_at > now() - make_interval(secs => $4)) AS recently_held
             FROM presence.shard_leases AS lease
             LEFT JOIN presence.replicas AS holder ON holder.url = lease.holder
             WHERE lease.shard = ANY($1) AND lease.holder IS DISTINCT FROM $2
               AND (lease.holder IS NULL OR holder.seen_at IS NULL
                    OR holder.seen_at < now() - make_interval(secs => $3))
             FOR UPDATE OF lease
         )
         UPDATE presence.shard_leases AS lease
         SET holder = $2, epoch = lease.epoch + 1, released_at = NULL
         FROM free WHERE lease.shard = free.shard
         RETURNING lease.shard, coalesce(free.recently_held, false) AS recently_held",
    )
    .bind(shards)
    .bind(url)
    .bind(ttl.as_secs_f64())
    .bind(recent.as_secs_f64())
    .fetch_all(db)
    .await
}

/// The shards the database says `url` holds, with their epochs.
#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql"))]
pub async fn held_by(db: &mut PgConnection, url: &str) -> sqlx::Result<Vec<(i32, i64)>> {
    sqlx::query_as("SELECT shard, epoch FROM presence.shard_leases WHERE holder = $1")
        .bind(url)
        .fetch_all(db)
        .await
}

/// Takes the replica at `url` out of the live ones, at shutdown: the others take its shards
/// at their next round instead of after its lease.
#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql"))]
pub async fn forget_replica(db: &mut PgConnection, url: &str) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM presence.replicas WHERE url = $1")
        .bind(url)
        .execute(db)
        .await
        .map(drop)
}

/// Gives back those of `shards` this replica holds, for another to take at once.
#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql"))]
pub async fn release_shards(db: &mut PgConnection, url: &str, shards: &[i32]) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE presence.shard_leases SET holder = NULL, released_at = now()
         WHERE shard = ANY($1) AND holder = $2",
    )
    .bind(shards)
    .bind(url)
    .execute(db)
    .await
    .map(drop)
}

/// Each shard whose holder was seen within `ttl`, with its holder's URL.
#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql"))]
pub async fn shard_holders(
    db: &mut PgConnection,
    ttl: std::time::Duration,
) -> sqlx::Result<Vec<(i32, String)>> {
    sqlx::query_as(
        "SELECT lease.shard, lease.holder FROM presence.shard_leases AS lease
         JOIN presence.replicas AS holder ON holder.url = lease.holder
         WHERE holder.seen_at > now() - make_interval(secs => $1)",
    )
    .bind(ttl.as_secs_f64())
    .fetch_all(db)
    .await
}
