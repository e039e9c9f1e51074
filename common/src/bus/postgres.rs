//! The Postgres bus: every replica LISTENs on the topic's channel and reads each notified
//! row into its own log, in notification order, which Postgres makes the commit order. The
//! replica that stored a row keeps its bytes until the row's notification comes back, and
//! relays them from memory instead of reading the row: still in notification order, one
//! query fewer per batch.

use std::{
    collections::{BTreeSet, HashMap},
    sync::Arc,
};

use sqlx::{AssertSqlSafe, PgPool, postgres::PgListener};
use tokio::{sync::watch, task::JoinHandle, time::Instant};

use super::{
    CLEANUP_EVERY, FIRST_RETRY, LAST_RETRY, OwnBatches, Queries, READ_AT_ONCE, REMEMBERED,
    RETENTION, Row, Stamp,
};
use crate::events::EventLog;

/// Starts reading the topic into `log`, and deleting its rows past their retention.
pub(super) fn start<T>(
    pool: PgPool,
    queries: Arc<Queries>,
    own: Arc<OwnBatches>,
    log: Arc<EventLog<T>>,
    stamp: Stamp<T>,
    listening: watch::Sender<bool>,
) -> Vec<JoinHandle<()>>
where
    T: prost::Message + Default + Clone + Send + Sync + 'static,
{
    let listener = tokio::spawn(listen(
        pool.clone(),
        queries.clone(),
        own,
        log,
        stamp,
        listening,
    ));
    let cleanup = tokio::spawn(clean_up(pool, queries));
    vec![listener, cleanup]
}

/// Reads every notified batch into `log`, reconnecting and catching up after an outage.
async fn listen<T>(
    pool: PgPool,
    queries: Arc<Queries>,
    own: Arc<OwnBatches>,
    log: Arc<EventLog<T>>,
    stamp: Stamp<T>,
    listening: watch::Sender<bool>,
) where
    T: prost::Message + Default + Clone + Send + Sync + 'static,
{
    let mut delivery = Delivery {
        log,
        stamp,
        read: BTreeSet::new(),
    };
    // Rows older than the first connection were delivered before this replica existed.
    let mut lost_at: Option<Instant> = None;
    let mut retry = FIRST_RETRY;
    loop {
        match subscribe(&pool, &queries, &mut delivery, lost_at).await {
            Ok(mut listener) => {
                retry = FIRST_RETRY;
                listening.send_replace(true);
                if let Err(error) =
                    follow(&mut listener, &pool, &queries, &own, &mut delivery).await
                {
                    tracing::warn!(channel = queries.channel, %error, "event listener lost its connection");
                }
            }
            Err(error) => {
                tracing::warn!(channel = queries.channel, %error, "cannot listen for events");
            }
        }
        lost_at.get_or_insert_with(Instant::now);
        tokio::time::sleep(retry).await;
        retry = (retry * 2).min(LAST_RETRY);
    }
}

/// LISTENs, then reads what was committed while the listener was away (`lost_at`), or, on
/// the first connection, notes where this replica's history begins.
async fn subscribe<T>(
    pool: &PgPool,
    queries: &Queries,
    delivery: &mut Delivery<T>,
    lost_at: Option<Instant>,
) -> Result<PgListener, sqlx::Error>
where
    T: prost::Message + Default + Clone + Send + Sync + 'static,
{
    let mut listener = PgListener::connect_with(pool).await?;
    listener.eager_reconnect(false);
    listener.listen(queries.channel).await?;
    match lost_at {
        None => {
            let newest: i64 = sqlx::query_scalar(AssertSqlSafe(queries.newest.clone()))
                .bind(queries.channel)
                .fetch_one(pool)
                .await?;
            delivery.remember(newest);
        }
        Some(lost_at) => {
            if lost_at.elapsed() >= RETENTION {
                tracing::warn!(
                    channel = queries.channel,
                    "away too long: events were missed"
                );
                delivery.log.skip();
            }
            // Ids are taken before commit, so a row committed late may have an id a little
            // below the newest one read: look back a window and skip what was read.
            let from = delivery.newest().saturating_sub(REMEMBERED as i64 / 2);
            let rows: Vec<Row> = sqlx::query_as(AssertSqlSafe(queries.since.clone()))
                .bind(from)
                .bind(queries.channel)
                .fetch_all(pool)
                .await?;
            tracing::info!(
                channel = queries.channel,
                rows = rows.len(),
                "caught up with events"
            );
            for row in rows {
                delivery.deliver(row);
            }
        }
    }
    Ok(listener)
}

/// Relays notifications until the connection breaks.
async fn follow<T>(
    listener: &mut PgListener,
    pool: &PgPool,
    queries: &Queries,
    own: &OwnBatches,
    delivery: &mut Delivery<T>,
) -> Result<(), sqlx::Error>
where
    T: prost::Message + Default + Clone + Send + Sync + 'static,
{
    let mut ids = Vec::with_capacity(READ_AT_ONCE);
    loop {
        let Some(notification) = listener.try_recv().await? else {
            return Ok(());
        };
        ids.clear();
        ids.extend(notification.payload().parse::<i64>().ok());
        while ids.len() < READ_AT_ONCE {
            let Some(more) = listener.next_buffered() else {
                break;
            };
            ids.extend(more.payload().parse::<i64>().ok());
        }
        // This replica's own rows come from memory; only the others' are read.
        let mut by_id: HashMap<i64, Row> = ids
            .iter()
            .filter_map(|id| own.take(*id))
            .map(|row| (row.id, row))
            .collect();
        let unknown: Vec<i64> = ids
            .iter()
            .copied()
            .filter(|id| !by_id.contains_key(id))
            .collect();
        if !unknown.is_empty() {
            let rows: Vec<Row> = sqlx::query_as(AssertSqlSafe(queries.read.clone()))
                .bind(&unknown)
                .bind(queries.channel)
                .fetch_all(pool)
                .await?;
            by_id.extend(rows.into_iter().map(|row| (row.id, row)));
        }
        // Deliver in notification order, which is commit order.
        for id in &ids {
            match by_id.remove(id) {
                Some(row) => delivery.deliver(row),
                // Deleted already: only if this replica was stalled for minutes.
                None => delivery.log.skip(),
            }
        }
    }
}

/// Puts rows' events into the log, each row once.
struct Delivery<T> {
    log: Arc<EventLog<T>>,
    stamp: Stamp<T>,
    read: BTreeSet<i64>,
}

impl<T> Delivery<T>
where
    T: prost::Message + Default + Clone + Send + Sync + 'static,
{
    fn deliver(&mut self, row: Row) {
        if !self.remember(row.id) {
            return;
        }
        if row.after_gap {
            self.log.skip();
        }
        let mut bytes = row.events.as_slice();
        while !bytes.is_empty() {
            match T::decode_length_delimited(&mut bytes) {
                Ok(mut event) => {
                    let stamp = &self.stamp;
                    self.log.publish(|id| {
                        stamp(&mut event, id);
                        event
                    });
                }
                Err(error) => {
                    tracing::error!(row = row.id, %error, "cannot decode stored events");
                    self.log.skip();
                    return;
                }
            }
        }
    }

    /// Notes `id` as read; false if it was already.
    fn remember(&mut self, id: i64) -> bool {
        let new = self.read.insert(id);
        while self.read.len() > REMEMBERED {
            self.read.pop_first();
        }
        new
    }

    fn newest(&self) -> i64 {
        self.read.last().copied().unwrap_or(0)
    }
}

/// Deletes rows past their retention, every minute, on every replica (harmless twice).
async fn clean_up(pool: PgPool, queries: Arc<Queries>) {
    let mut tick = tokio::time::interval(CLEANUP_EVERY);
    loop {
        tick.tick().await;
        let deleted = sqlx::query(AssertSqlSafe(queries.delete_old.clone()))
            .bind(queries.channel)
            .bind(RETENTION.as_secs_f64())
            .execute(&pool)
            .await;
        if let Err(error) = deleted {
            tracing::warn!(channel = queries.channel, %error, "cannot delete old events");
        }
    }
}
