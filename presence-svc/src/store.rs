//! All SQL of presence-svc.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::Status;

/// What is stored of a user: id, chosen status, last seen.
pub type Stored = (Uuid, Status, Option<DateTime<Utc>>);

/// A user's stored status and last seen; absent users chose nothing and were never seen.
#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql"))]
pub async fn load(pool: &PgPool, users: &[Uuid]) -> sqlx::Result<Vec<Stored>> {
    let rows: Vec<(Uuid, String, Option<DateTime<Utc>>)> = sqlx::query_as(
        "SELECT user_id, chosen_status, last_seen FROM presence.users WHERE user_id = ANY($1)",
    )
    .bind(users)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(user, status, last_seen)| {
            (
                user,
                Status::parse(&status).unwrap_or(Status::Online),
                last_seen,
            )
        })
        .collect())
}

/// Stores a chosen status at once: it was acknowledged to the user.
#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql"))]
pub async fn save_chosen(pool: &PgPool, user: Uuid, status: Status) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO presence.users (user_id, chosen_status) VALUES ($1, $2)
         ON CONFLICT (user_id) DO UPDATE SET chosen_status = EXCLUDED.chosen_status",
    )
    .bind(user)
    .bind(status.as_str())
    .execute(pool)
    .await
    .map(drop)
}

/// Writes a batch of last-seen times in one statement and one commit.
#[tracing::instrument(level = "info", skip_all, fields(db.system = "postgresql"))]
pub async fn save_last_seen(pool: &PgPool, batch: &[(Uuid, DateTime<Utc>)]) -> sqlx::Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let (users, times): (Vec<Uuid>, Vec<DateTime<Utc>>) = batch.iter().copied().unzip();
    sqlx::query(
        "INSERT INTO presence.users (user_id, last_seen)
         SELECT * FROM UNNEST($1::uuid[], $2::timestamptz[])
         ON CONFLICT (user_id) DO UPDATE SET last_seen = EXCLUDED.last_seen",
    )
    .bind(users)
    .bind(times)
    .execute(pool)
    .await
    .map(drop)
}
