//! All SQL of presence-svc, on a connection the caller holds (from the pool, or `&mut *tx`
//! inside a transaction). Only what must survive a restart is stored: the status each user
//! chose and when friends last saw them; sessions live in memory.

use crate::domain::{Status, UserId};
use chrono::{DateTime, Utc};
use sqlx::PgConnection;

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
