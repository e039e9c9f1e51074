//! Fan-out of a service's events across its replicas, through Postgres LISTEN/NOTIFY.
//!
//! A replica does not put the events it publishes straight into its own [`EventLog`]. Each
//! batch of events becomes one row of the service's outbox table and one NOTIFY naming that
//! row, in one statement, so the notification leaves exactly when the row commits: one row
//! and one notification per batch, not per event. A change whose events must keep its
//! commit order stores them in its own transaction ([`Publisher::store_in`]); other events
//! are queued, and a writer task stores what is queued in batches. Every
//! replica LISTENs on the channel, reads each notified row once and publishes its events into
//! its own log in notification order, which Postgres makes the commit order, the same on
//! every replica. A subscriber of any replica therefore sees every replica's events, each
//! once. The replica that stored a row keeps its bytes until the row's notification comes
//! back, and relays them from memory instead of reading the row: still in notification
//! order, one query fewer per batch.
//!
//! What may be missed is recovered or reported, never silent:
//! - a listener that loses its connection reads, once it is back, the rows committed
//!   meanwhile (rows are kept for [`RETENTION`]);
//! - events that could not be queued (the queue is bounded, and fills while Postgres is
//!   down) or read are replaced by a jump in the log's event ids, which tells subscribers to
//!   resynchronise (see `follow`).

use std::{
    collections::{BTreeSet, HashMap},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use sqlx::{AssertSqlSafe, PgPool, postgres::PgListener};
use tokio::{
    sync::{mpsc, watch},
    task::JoinHandle,
    time::Instant,
};

use crate::events::EventLog;

/// Where a stream of events travels: the outbox table (schema-qualified, created by the
/// service's migrations with columns `id bigserial`, `channel text`, `after_gap boolean`,
/// `events bytea`, `created_at timestamptz`) and the NOTIFY channel. Several topics may
/// share one table.
#[derive(Debug, Clone, Copy)]
pub struct Topic {
    pub table: &'static str,
    pub channel: &'static str,
}

/// Events waiting to be written. Bounded: when Postgres is down for long, later events are
/// dropped (and reported as a gap) instead of growing memory.
const QUEUE: usize = 65_536;
/// The most events stored in one row.
const MAX_BATCH: usize = 1024;
/// How long rows stay in the outbox: a listener that reconnects within this reads what it
/// missed; one away longer reports a gap.
const RETENTION: Duration = Duration::from_secs(300);
/// How often old rows are deleted.
const CLEANUP_EVERY: Duration = Duration::from_secs(60);
/// Row ids remembered as read, so that a catch-up after a reconnect delivers nothing twice.
const REMEMBERED: usize = 16_384;
/// Rows read per query by a listener that has several notifications waiting.
const READ_AT_ONCE: usize = 256;
/// Batches this replica stored and has not heard back yet; past it the oldest are forgotten
/// (read from the table like any other row if their notification still comes).
const OWN_BATCHES: usize = 1024;
/// How long the writer may take to store what is queued when the service stops.
const FLUSH_ON_STOP: Duration = Duration::from_secs(5);

const FIRST_RETRY: Duration = Duration::from_millis(50);
const LAST_RETRY: Duration = Duration::from_secs(2);

/// The publishing end, cheap to clone.
pub struct Publisher<T> {
    queue: mpsc::Sender<T>,
    overflowed: Arc<AtomicBool>,
    channel: &'static str,
    queries: Arc<Queries>,
    own: Arc<OwnBatches>,
}

impl<T> Clone for Publisher<T> {
    fn clone(&self) -> Self {
        Self {
            queue: self.queue.clone(),
            overflowed: self.overflowed.clone(),
            channel: self.channel,
            queries: self.queries.clone(),
            own: self.own.clone(),
        }
    }
}

impl<T: prost::Message> Publisher<T> {
    /// Stores `events` as one batch inside the caller's transaction: they reach every replica
    /// when, and only if, it commits, and in commit order with every other change. Changes
    /// whose order matters (messages and their seqs, memberships) publish this way; a crash
    /// after the commit cannot lose their events.
    pub async fn store_in(
        &self,
        transaction: &mut sqlx::PgConnection,
        events: &[T],
    ) -> Result<(), sqlx::Error> {
        if events.is_empty() {
            return Ok(());
        }
        let mut batch = Vec::new();
        for event in events {
            append(&mut batch, event);
        }
        let after_gap = self.overflowed.swap(false, Ordering::Relaxed);
        let stored = self
            .queries
            .store(transaction, after_gap, &batch, uuid::Uuid::new_v4())
            .await?;
        // Kept before the commit sends the notification, so it is here when that arrives;
        // if the transaction rolls back, the id is never notified and ages out.
        if let Some(id) = stored {
            self.own.keep(id, after_gap, batch);
        }
        Ok(())
    }
}

impl<T> Publisher<T> {
    /// Queues one event for every replica; never waits.
    pub fn publish(&self, event: T) {
        if self.queue.try_send(event).is_err() {
            metrics::counter!("parley_bus_events_dropped_total", "channel" => self.channel)
                .increment(1);
            if !self.overflowed.swap(true, Ordering::Relaxed) {
                tracing::error!(
                    channel = self.channel,
                    "event queue full: events dropped; subscribers will be told of a gap"
                );
            }
        }
    }
}

/// The writer and listener tasks of one topic.
pub struct FanOut {
    /// Turns true once the listener listens: events published from then on reach this
    /// replica's log too.
    listening: watch::Receiver<bool>,
    stop: watch::Sender<bool>,
    writer: JoinHandle<()>,
    listener: JoinHandle<()>,
    cleanup: JoinHandle<()>,
}

impl FanOut {
    /// Waits until this replica hears the topic's notifications (Postgres must be up).
    pub async fn listening(&self) {
        let mut listening = self.listening.clone();
        // An error means the listener task is gone: waiting longer would not help.
        let _ = listening.wait_for(|listening| *listening).await;
    }

    /// Stores what is still queued (for at most a few seconds) and stops listening.
    pub async fn stop(self) {
        self.stop.send_replace(true);
        if tokio::time::timeout(FLUSH_ON_STOP, self.writer)
            .await
            .is_err()
        {
            tracing::warn!("events still queued at shutdown were not stored");
        }
        self.listener.abort();
        self.cleanup.abort();
    }
}

/// Writes a log's event id into an event as it enters this replica's log; it may also finish
/// the event for this replica's subscribers there (chat-svc signs attachment URLs, which are
/// never stored), once per event however many subscribers it has.
type Stamp<T> = Box<dyn Fn(&mut T, u64) + Send>;

/// Starts fanning out `topic` into `log`; `stamp` writes a log's event id into an event (see
/// [`Stamp`]).
pub fn start<T>(
    pool: PgPool,
    topic: Topic,
    log: Arc<EventLog<T>>,
    stamp: impl Fn(&mut T, u64) + Send + 'static,
) -> (Publisher<T>, FanOut)
where
    T: prost::Message + Default + Clone + Send + Sync + 'static,
{
    let (queue, queued) = mpsc::channel(QUEUE);
    let overflowed = Arc::new(AtomicBool::new(false));
    let (stop, stopped) = watch::channel(false);
    let queries = Arc::new(Queries::new(topic));
    let own = Arc::new(OwnBatches::default());
    let writer = tokio::spawn(write(
        pool.clone(),
        queries.clone(),
        own.clone(),
        queued,
        overflowed.clone(),
        stopped,
    ));
    let (heard, listening) = watch::channel(false);
    let listener = tokio::spawn(listen(
        pool.clone(),
        queries.clone(),
        own.clone(),
        log,
        Box::new(stamp),
        heard,
    ));
    let cleanup = tokio::spawn(clean_up(pool, queries.clone()));
    let publisher = Publisher {
        queue,
        overflowed,
        channel: topic.channel,
        queries,
        own,
    };
    let running = FanOut {
        listening,
        stop,
        writer,
        listener,
        cleanup,
    };
    (publisher, running)
}

/// The statements of one topic, built once (the table name is code, never input).
struct Queries {
    channel: &'static str,
    insert_and_notify: Arc<str>,
    read: Arc<str>,
    since: Arc<str>,
    newest: Arc<str>,
    delete_old: Arc<str>,
}

impl Queries {
    fn new(topic: Topic) -> Self {
        let table = topic.table;
        Self {
            channel: topic.channel,
            // A retry of a batch that did commit stores nothing and announces nothing.
            insert_and_notify: format!(
                "WITH stored AS (INSERT INTO {table} (channel, after_gap, events, batch_id) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (batch_id) DO NOTHING RETURNING id) \
                 SELECT id, pg_notify($1, id::text) FROM stored"
            )
            .into(),
            read: format!(
                "SELECT id, after_gap, events FROM {table} WHERE id = ANY($1) AND channel = $2"
            )
            .into(),
            since: format!(
                "SELECT id, after_gap, events FROM {table} \
                 WHERE id > $1 AND channel = $2 ORDER BY id"
            )
            .into(),
            newest: format!("SELECT coalesce(max(id), 0) FROM {table} WHERE channel = $1").into(),
            delete_old: format!(
                "DELETE FROM {table} WHERE channel = $1 AND created_at < now() - make_interval(secs => $2)"
            )
            .into(),
        }
    }
}

impl Queries {
    /// Stores one encoded batch with its notification and returns the row's id; a retry with
    /// the same `batch_id` stores and announces nothing more (and returns `None`).
    async fn store<'c>(
        &self,
        executor: impl sqlx::PgExecutor<'c>,
        after_gap: bool,
        batch: &[u8],
        batch_id: uuid::Uuid,
    ) -> Result<Option<i64>, sqlx::Error> {
        let id = sqlx::query_scalar(AssertSqlSafe(self.insert_and_notify.clone()))
            .bind(self.channel)
            .bind(after_gap)
            .bind(batch)
            .bind(batch_id)
            .fetch_optional(executor)
            .await?;
        metrics::counter!("parley_bus_batches_total", "channel" => self.channel).increment(1);
        Ok(id)
    }
}

/// The batches this replica stored, by row id, until their notification comes back.
#[derive(Default)]
struct OwnBatches {
    rows: Mutex<std::collections::BTreeMap<i64, Row>>,
}

impl OwnBatches {
    fn keep(&self, id: i64, after_gap: bool, events: Vec<u8>) {
        let mut rows = self.lock();
        rows.insert(
            id,
            Row {
                id,
                after_gap,
                events,
            },
        );
        while rows.len() > OWN_BATCHES {
            rows.pop_first();
        }
    }

    /// The row with `id`, if this replica stored it (once). Rows far older than `id` will
    /// not be notified any more (their transaction rolled back, or the listener caught up
    /// from the table meanwhile) and are forgotten, so that the map stays small.
    fn take(&self, id: i64) -> Option<Row> {
        let mut rows = self.lock();
        let row = rows.remove(&id);
        let recent = rows.split_off(&id.saturating_sub(REMEMBERED as i64));
        *rows = recent;
        row
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::BTreeMap<i64, Row>> {
        // A panic while holding the lock cannot leave the map half-changed.
        crate::lock::lock(&self.rows)
    }
}

/// Adds one event to an encoded batch (length-delimited, so a batch is events end to end).
fn append<T: prost::Message>(batch: &mut Vec<u8>, event: &T) {
    // Encoding into a Vec cannot run out of room.
    event.encode_length_delimited(batch).ok();
}

/// One stored batch.
#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    after_gap: bool,
    events: Vec<u8>,
}

/// Takes queued events in batches and stores each batch with its notification, in order;
/// retries with backoff while Postgres is away.
async fn write<T: prost::Message>(
    pool: PgPool,
    queries: Arc<Queries>,
    own: Arc<OwnBatches>,
    mut queued: mpsc::Receiver<T>,
    overflowed: Arc<AtomicBool>,
    mut stop: watch::Receiver<bool>,
) {
    let mut batch = Vec::new();
    while let Some(first) = next_event(&mut queued, &mut stop).await {
        batch.clear();
        append(&mut batch, &first);
        let mut count = 1;
        while count < MAX_BATCH {
            let Ok(event) = queued.try_recv() else { break };
            append(&mut batch, &event);
            count += 1;
        }
        let after_gap = overflowed.swap(false, Ordering::Relaxed);
        let batch_id = uuid::Uuid::new_v4();
        let mut retry = FIRST_RETRY;
        loop {
            match queries.store(&pool, after_gap, &batch, batch_id).await {
                Ok(stored) => {
                    // Stored and notified in one statement: the notification may be read
                    // before this, and the row then comes from the table instead.
                    if let Some(id) = stored {
                        own.keep(id, after_gap, std::mem::take(&mut batch));
                    }
                    break;
                }
                Err(error) => {
                    tracing::warn!(channel = queries.channel, %error, "cannot store events; retrying");
                    tokio::time::sleep(retry).await;
                    retry = (retry * 2).min(LAST_RETRY);
                }
            }
        }
    }
}

/// The next queued event; once stopping, only what is already queued.
async fn next_event<T>(
    queued: &mut mpsc::Receiver<T>,
    stop: &mut watch::Receiver<bool>,
) -> Option<T> {
    if *stop.borrow() {
        return queued.try_recv().ok();
    }
    tokio::select! {
        biased;
        event = queued.recv() => event,
        _ = stop.changed() => queued.try_recv().ok(),
    }
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
                if let Err(error) = relay(&mut listener, &pool, &queries, &own, &mut delivery).await
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
async fn relay<T>(
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
