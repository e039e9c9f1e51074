//! Fan-out of a service's events across its replicas: an outbox table in Postgres, read by
//! every replica through LISTEN/NOTIFY ([`Bus::Postgres`], the default) or relayed to a NATS
//! JetStream stream that every replica reads ([`Bus::Nats`], for more than one machine; see
//! `nats`).
//!
//! A replica does not put the events it publishes straight into its own [`EventLog`]. Each
//! batch of events becomes one row of the service's outbox table and one NOTIFY naming that
//! row, in one statement, so the notification leaves exactly when the row commits: one row
//! and one notification per batch, not per event. A change whose events must keep its
//! commit order stores them in its own transaction ([`Publisher::store_in`]); other events
//! are queued, and a writer task stores what is queued in batches. Both buses share this
//! write path, so an event is never written twice (to the table and to a broker); they differ
//! in who reads the rows:
//! - Postgres: every replica LISTENs on the channel, reads each notified row once and
//!   publishes its events into its own log in notification order, which Postgres makes the
//!   commit order, the same on every replica (see `postgres`).
//! - NATS: one replica, the relay leader, reads the rows in the same order and publishes each
//!   event to the topic's stream with a deduplication id; every replica reads the stream into
//!   its log (see `nats`).
//!
//! Either way a subscriber of any replica sees every replica's events, each once, and what
//! may be missed is recovered or reported, never silent:
//! - a reader that loses its connection reads, once it is back, what was committed meanwhile
//!   (rows are kept for [`RETENTION`], and so are stream messages);
//! - events that could not be queued (the queue is bounded, and fills while Postgres is
//!   down) or read are replaced by a jump in the log's event ids, which tells subscribers to
//!   resynchronise (see `follow`).

mod nats;
mod postgres;

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use sqlx::{AssertSqlSafe, PgPool};
use tokio::{
    sync::{mpsc, watch},
    task::JoinHandle,
};

use crate::{config::BusArgs, events::EventLog};

pub use nats::Nats;

/// Where a stream of events travels: the outbox table (schema-qualified, created by the
/// service's migrations with columns `id bigserial`, `channel text`, `after_gap boolean`,
/// `events bytea`, `batch_id uuid unique`, `created_at timestamptz`) and the NOTIFY channel,
/// which also names the topic's JetStream stream. Several topics may share one table.
#[derive(Debug, Clone, Copy)]
pub struct Topic {
    pub table: &'static str,
    pub channel: &'static str,
}

/// How this process's events reach the other replicas, chosen by `PARLEY_BUS`.
#[derive(Clone)]
pub enum Bus {
    /// Every replica reads the outbox through LISTEN/NOTIFY: nothing but Postgres.
    Postgres,
    /// A relay publishes the outbox to JetStream, and every replica reads the stream.
    Nats(Arc<Nats>),
}

impl Bus {
    /// The bus `args` choose. NATS is connected in the background, so a service starts (and
    /// keeps its events in the outbox) while the NATS servers are still coming up.
    pub async fn connect(args: &BusArgs) -> anyhow::Result<Self> {
        Ok(match args.kind {
            crate::config::BusKind::Postgres => Self::Postgres,
            crate::config::BusKind::Nats => Self::Nats(Arc::new(Nats::connect(args).await?)),
        })
    }
}

impl Bus {
    /// A new event log for `topic`. On NATS every replica's log of a topic numbers its events
    /// by their stream sequence, under one epoch, so that a subscriber moves between
    /// replicas without a gap (an edge whose replica dies resumes on another one and closes
    /// no client transport); on Postgres each log is an epoch of its own.
    pub fn log<T: Clone + Send + Sync + 'static>(
        &self,
        capacity: usize,
        topic: Topic,
    ) -> EventLog<T> {
        match self {
            Self::Postgres => EventLog::new(capacity),
            Self::Nats(nats) => EventLog::shared(capacity, &nats.stream_name(topic.channel)),
        }
    }
}

/// Events waiting to be written. Bounded: when Postgres is down for long, later events are
/// dropped (and reported as a gap) instead of growing memory.
const QUEUE: usize = 65_536;
/// The most events stored in one row.
const MAX_BATCH: usize = 1024;
/// How long rows stay in the outbox (and messages in a stream): a reader that reconnects
/// within this reads what it missed; one away longer reports a gap.
const RETENTION: Duration = Duration::from_secs(300);
/// How often old rows are deleted.
const CLEANUP_EVERY: Duration = Duration::from_secs(60);
/// Row ids remembered as read, so that a catch-up after a reconnect delivers nothing twice.
const REMEMBERED: usize = 16_384;
/// Rows read per query by a reader that has several notifications waiting.
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
    own: Option<Arc<OwnBatches>>,
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
        if let (Some(id), Some(own)) = (stored, &self.own) {
            own.keep(id, after_gap, batch);
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

/// The writer and reader tasks of one topic.
pub struct FanOut {
    /// Turns true once this replica reads the topic: events published from then on reach
    /// this replica's log too.
    listening: watch::Receiver<bool>,
    stop: watch::Sender<bool>,
    writer: JoinHandle<()>,
    /// What reads the topic (and, with NATS, relays it), stopped at once on shutdown.
    readers: Vec<JoinHandle<()>>,
}

impl FanOut {
    /// Waits until this replica reads the topic (Postgres, or NATS, must be up).
    pub async fn listening(&self) {
        let mut listening = self.listening.clone();
        // An error means the reader task is gone: waiting longer would not help.
        let _ = listening.wait_for(|listening| *listening).await;
    }

    /// Stores what is still queued (for at most a few seconds) and stops reading.
    pub async fn stop(self) {
        self.stop.send_replace(true);
        if tokio::time::timeout(FLUSH_ON_STOP, self.writer)
            .await
            .is_err()
        {
            tracing::warn!("events still queued at shutdown were not stored");
        }
        for reader in self.readers {
            reader.abort();
        }
    }
}

/// Writes a log's event id into an event as it enters this replica's log; it may also finish
/// the event for this replica's subscribers there (chat-svc signs attachment URLs, which are
/// never stored), once per event however many subscribers it has.
type Stamp<T> = Box<dyn Fn(&mut T, u64) + Send + Sync>;

/// Starts fanning out `topic` into `log` over `bus`; `stamp` writes a log's event id into an
/// event (see [`Stamp`]).
pub fn start<T>(
    bus: &Bus,
    pool: PgPool,
    topic: Topic,
    log: Arc<EventLog<T>>,
    stamp: impl Fn(&mut T, u64) + Send + Sync + 'static,
) -> (Publisher<T>, FanOut)
where
    T: prost::Message + Default + Clone + Send + Sync + 'static,
{
    let (queue, queued) = mpsc::channel(QUEUE);
    let overflowed = Arc::new(AtomicBool::new(false));
    let (stop, stopped) = watch::channel(false);
    let queries = Arc::new(Queries::new(topic));
    let (heard, listening) = watch::channel(false);
    // Only a replica that reads the notifications itself can hand its own rows over from
    // memory; with NATS the relay leader reads every row from the table.
    let (own, readers) = match bus {
        Bus::Postgres => {
            let own = Arc::new(OwnBatches::default());
            let readers = postgres::start(
                pool.clone(),
                queries.clone(),
                own.clone(),
                log,
                Box::new(stamp),
                heard,
            );
            (Some(own), readers)
        }
        Bus::Nats(nats) => {
            let readers = nats.start(pool.clone(), queries.clone(), log, Box::new(stamp), heard);
            (None, readers)
        }
    };
    let writer = tokio::spawn(write(
        pool,
        queries.clone(),
        own.clone(),
        queued,
        overflowed.clone(),
        stopped,
    ));
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
        readers,
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
    replay: Arc<str>,
    delete_relayed: Arc<str>,
}

impl Queries {
    fn new(topic: Topic) -> Self {
        let table = topic.table;
        let row = "id, after_gap, events, batch_id";
        Self {
            channel: topic.channel,
            // A retry of a batch that did commit stores nothing and announces nothing.
            insert_and_notify: format!(
                "WITH stored AS (INSERT INTO {table} (channel, after_gap, events, batch_id) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (batch_id) DO NOTHING RETURNING id) \
                 SELECT id, pg_notify($1, id::text) FROM stored"
            )
            .into(),
            read: format!("SELECT {row} FROM {table} WHERE id = ANY($1) AND channel = $2").into(),
            since: format!(
                "SELECT {row} FROM {table} WHERE id > $1 AND channel = $2 ORDER BY id"
            )
            .into(),
            newest: format!("SELECT coalesce(max(id), 0) FROM {table} WHERE channel = $1").into(),
            delete_old: format!(
                "DELETE FROM {table} WHERE channel = $1 AND created_at < now() - make_interval(secs => $2)"
            )
            .into(),
            // Every row past the relayed one ($3), and the rows above $2 created within $4
            // seconds, which may have committed after it (ids are taken before commit); the
            // stream drops what it already holds by their deduplication ids.
            replay: format!(
                "SELECT {row} FROM {table} WHERE channel = $1 AND id > $2 \
                 AND (id > $3 OR created_at > now() - make_interval(secs => $4)) ORDER BY id"
            )
            .into(),
            // Rows past their retention, but never one the stream does not hold yet.
            delete_relayed: format!(
                "DELETE FROM {table} WHERE channel = $1 AND id <= $3 \
                 AND created_at < now() - make_interval(secs => $2)"
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
                batch_id: None,
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
    /// Null only in rows stored before the column existed.
    batch_id: Option<uuid::Uuid>,
}

/// Takes queued events in batches and stores each batch with its notification, in order;
/// retries with backoff while Postgres is away.
async fn write<T: prost::Message>(
    pool: PgPool,
    queries: Arc<Queries>,
    own: Option<Arc<OwnBatches>>,
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
                    if let (Some(id), Some(own)) = (stored, &own) {
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
