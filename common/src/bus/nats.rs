//! The NATS bus: the outbox is relayed to a JetStream stream per topic, which every replica
//! reads into its log (docs/decisions/0016-scale-out-on-nats.md).
//!
//! - **One relay at a time.** Every replica runs a relay task; the one that holds the
//!   topic's advisory lock in Postgres leads, the others wait on it. The lock lives as long as
//!   the leader's connection, so a leader killed with -9 frees it at once and a standby takes
//!   over within [`STANDBY_POLL`].
//! - **Commit order, nothing twice.** The leader LISTENs like a Postgres-bus replica and
//!   publishes each row's events in notification order, which is commit order. Each message
//!   carries a deduplication id made of its row's batch id and its place in the row, so a
//!   row published again (by a leader that took over, or after an error) is stored once. A
//!   publish is fenced with the sequence the stream must be at, so that nothing can land
//!   after a message that failed, nor come from a replica that lost the lead.
//! - **Taking over.** A new leader reads where the stream ends (the row id of its last
//!   message), publishes every row after it and the recent rows just below it (a row may
//!   commit after one with a higher id), then follows the notifications.
//! - **Reading.** Every replica reads the stream from where it ended at start-up, in stream
//!   order, and resumes from the next sequence after a reconnect. A jump in sequences (what it
//!   missed aged out) or a row stored after dropped events becomes a jump in the log's ids,
//!   as on the Postgres bus.
//!
//! Rows stay in the outbox until they are past [`RETENTION`] and relayed; the leader deletes
//! them.

use std::{
    collections::BTreeSet,
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
    time::Duration,
};

use anyhow::Context as _;
use async_nats::jetstream::{
    self,
    consumer::{DeliverPolicy, pull::OrderedConfig},
    context::{PublishAckFuture, PublishErrorKind},
    message::PublishMessage,
    stream,
};
use futures_util::StreamExt as _;
use sqlx::{
    AssertSqlSafe, PgPool,
    postgres::{PgListener, PgPoolOptions},
};
use tokio::{sync::watch, task::JoinHandle};

use super::{
    CLEANUP_EVERY, FIRST_RETRY, LAST_RETRY, Queries, READ_AT_ONCE, REMEMBERED, RETENTION, Row,
    Stamp,
};
use crate::{
    config::BusArgs,
    events::{Backfill, EventLog},
};

/// How often a standby asks whether the lead is free.
const STANDBY_POLL: Duration = Duration::from_millis(500);
/// How long the stream keeps a message: longer than the outbox keeps a relayed row, so that a
/// leader finds where the stream ends from its last message while the rows below it are still
/// in the table.
const STREAM_RETENTION: Duration = Duration::from_secs(2 * RETENTION.as_secs());
/// How long the stream remembers a deduplication id.
const DEDUP_WINDOW: Duration = Duration::from_secs(120);
/// Rows below the last relayed one that a new leader publishes again, if recent enough: a row
/// may commit a little after one with a higher id. Kept inside the deduplication window.
const LOOK_BACK_ROWS: i64 = REMEMBERED as i64 / 2;
const LOOK_BACK: Duration = Duration::from_secs(100);
/// A stream that is new (never published to) gets the rows of the last moments only: older
/// ones were delivered by the Postgres bus before this system switched, or by no one.
const NEW_STREAM_LOOK_BACK: Duration = Duration::from_secs(10);
/// Publishes sent before their acknowledgements are awaited: well under async-nats's own
/// limit of unacknowledged publishes (5 000), past which a publish waits for one.
const IN_FLIGHT: usize = 1024;
/// How long a JetStream request (a stream lookup, a publish's acknowledgement) may take.
/// async-nats waits 10 s by default; when a NATS node dies, its streams have no leader for a
/// few seconds, and a relay that asked meanwhile went on waiting for seconds after the new
/// leader was there (the fault test's `nats` fault: deliveries 10.2 s late). Asked again
/// instead, it resumes about when the stream does.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// How often a reader that was sent nothing asks whether the stream holds more. async-nats's
/// ordered consumer notices a lost consumer only after two missed heartbeats (10 s) and then
/// recreates it with backoffs that reach 10 s; after a NATS node died, the fault test saw
/// deliveries 31 s late. A reader that sees the stream ahead of it on two checks in a row
/// reads anew itself, after its own short backoff.
const STALL_CHECK: Duration = Duration::from_secs(1);

/// The most events a subscriber resuming from an id older than a replica's ring is sent read
/// back from the stream; one further behind sees a gap (and its clients resync).
const BACKFILL_MOST: u64 = 100_000;
/// How long reading them back may take.
const BACKFILL_TIMEOUT: Duration = Duration::from_secs(10);

/// The row id a message came from: where a new leader resumes.
const ROW_HEADER: &str = "Parley-Row";
/// Marks a message that stands for dropped events (no event of its own).
const GAP_HEADER: &str = "Parley-After-Gap";

/// A connection to the NATS servers, shared by every topic of a process.
pub struct Nats {
    jetstream: jetstream::Context,
    prefix: String,
    replicas: usize,
}

impl Nats {
    pub(super) async fn connect(args: &BusArgs) -> anyhow::Result<Self> {
        let servers = args
            .nats_url
            .split(',')
            .map(str::trim)
            .filter(|url| !url.is_empty())
            .map(|url| {
                url.parse::<async_nats::ServerAddr>()
                    .with_context(|| format!("`{url}` is not a NATS server URL"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        anyhow::ensure!(!servers.is_empty(), "PARLEY_NATS_URL names no server");
        let client = async_nats::ConnectOptions::new()
            .name("parley")
            // Start while the servers come up; the outbox keeps events meanwhile.
            .retry_on_initial_connect()
            .connect(servers)
            .await
            .context("cannot reach NATS (PARLEY_NATS_URL)")?;
        let mut jetstream = jetstream::new(client);
        jetstream.set_timeout(REQUEST_TIMEOUT);
        Ok(Self {
            jetstream,
            prefix: args.nats_prefix.clone(),
            replicas: usize::from(args.nats_replicas),
        })
    }

    /// Starts the topic's relay (leading or standing by) and the reader of its stream.
    pub(super) fn start<T>(
        self: &Arc<Self>,
        pool: PgPool,
        queries: Arc<Queries>,
        log: Arc<EventLog<T>>,
        stamp: Stamp<T>,
        listening: watch::Sender<bool>,
    ) -> Vec<JoinHandle<()>>
    where
        T: prost::Message + Default + Clone + Send + Sync + 'static,
    {
        let stamp: SharedStamp<T> = Arc::from(stamp);
        log.set_backfill(Arc::new(StreamBackfill {
            nats: self.clone(),
            queries: queries.clone(),
            stamp: stamp.clone(),
        }));
        let relay = tokio::spawn(relay(self.clone(), pool, queries.clone()));
        let reader = tokio::spawn(read(self.clone(), queries, log, stamp, listening));
        vec![relay, reader]
    }

    /// The name of a topic's stream; also the epoch of its replicas' logs.
    pub(super) fn stream_name(&self, channel: &str) -> String {
        format!("{}_{}", self.prefix, channel)
    }

    fn subject(&self, queries: &Queries) -> String {
        format!("{}.{}", self.prefix, queries.channel)
    }

    /// The topic's stream, created when missing (every replica asks for the same one).
    async fn stream(&self, queries: &Queries) -> anyhow::Result<stream::Stream> {
        let config = stream::Config {
            name: self.stream_name(queries.channel),
            subjects: vec![self.subject(queries)],
            max_age: STREAM_RETENTION,
            duplicate_window: DEDUP_WINDOW,
            num_replicas: self.replicas,
            storage: stream::StorageType::File,
            allow_direct: true,
            ..Default::default()
        };
        self.jetstream
            .get_or_create_stream(config)
            .await
            .context("cannot open the JetStream stream")
    }
}

/// Leads the relay whenever this replica holds the lead; stands by otherwise.
async fn relay(nats: Arc<Nats>, pool: PgPool, queries: Arc<Queries>) {
    // The lead's connection comes from a pool of its own that closes every connection given
    // back to it: a lead that ends, however it ends, takes its session lock with it instead
    // of leaving it in a pooled connection.
    let lead_connections = PgPoolOptions::new()
        .max_connections(1)
        .after_release(|_, _| Box::pin(async { Ok(false) }))
        .connect_lazy_with(pool.connect_options().as_ref().clone());
    let mut retry = FIRST_RETRY;
    loop {
        let started = tokio::time::Instant::now();
        if let Err(error) = lead(&nats, &pool, &lead_connections, &queries).await {
            tracing::warn!(
                channel = queries.channel,
                error = format!("{error:#}"),
                "event relay stopped"
            );
        }
        metrics::gauge!("parley_bus_relay_leader", "channel" => queries.channel).set(0.0);
        if started.elapsed() > LAST_RETRY * 5 {
            retry = FIRST_RETRY;
        }
        tokio::time::sleep(retry).await;
        retry = (retry * 2).min(LAST_RETRY);
    }
}

/// Waits for the lead, then relays until an error. The lead is a session lock taken on the
/// connection that listens for rows: whatever ends the one ends the other, so a relay never
/// publishes a row notified after it lost the lead.
async fn lead(
    nats: &Nats,
    pool: &PgPool,
    lead_connections: &PgPool,
    queries: &Queries,
) -> anyhow::Result<()> {
    let mut listener = PgListener::connect_with(lead_connections).await?;
    // A lost connection must end the lead, not reconnect without the lock.
    listener.eager_reconnect(false);
    let key = format!("parley-relay:{}", queries.channel);
    while !sqlx::query_scalar::<_, bool>("SELECT pg_try_advisory_lock(hashtext($1))")
        .bind(&key)
        .fetch_one(&mut listener)
        .await?
    {
        tokio::time::sleep(STANDBY_POLL).await;
    }
    tracing::info!(
        channel = queries.channel,
        "this replica relays the topic's events"
    );
    metrics::gauge!("parley_bus_relay_leader", "channel" => queries.channel).set(1.0);
    // Listening before the replay: a row committed from now on is notified, one committed
    // before is in the table.
    listener.listen(queries.channel).await?;
    let relayed_row = AtomicI64::new(0);
    tokio::select! {
        result = relay_as_leader(nats, pool, queries, &mut listener, &relayed_row) => result,
        error = delete_relayed(pool, queries, &relayed_row) => Err(error.into()),
    }
}

/// Deletes relayed rows past their retention, every minute, until a query fails.
async fn delete_relayed(pool: &PgPool, queries: &Queries, relayed_row: &AtomicI64) -> sqlx::Error {
    let mut tick = tokio::time::interval(CLEANUP_EVERY);
    loop {
        tick.tick().await;
        let deleted = sqlx::query(AssertSqlSafe(queries.delete_relayed.clone()))
            .bind(queries.channel)
            .bind(RETENTION.as_secs_f64())
            .bind(relayed_row.load(Ordering::Relaxed))
            .execute(pool)
            .await;
        if let Err(error) = deleted {
            return error;
        }
    }
}

async fn relay_as_leader(
    nats: &Nats,
    pool: &PgPool,
    queries: &Queries,
    listener: &mut PgListener,
    relayed_row: &AtomicI64,
) -> anyhow::Result<()> {
    let mut stream = nats.stream(queries).await?;
    let mut relay = Relay {
        jetstream: &nats.jetstream,
        subject: nats.subject(queries),
        channel: queries.channel,
        sequence: 0,
        relayed: BTreeSet::new(),
    };
    let replay = relay.find_the_end(&mut stream).await?;
    let rows: Vec<Row> = sqlx::query_as(AssertSqlSafe(queries.replay.clone()))
        .bind(queries.channel)
        .bind(replay.from)
        .bind(replay.every_row_past)
        .bind(replay.recent.as_secs_f64())
        .fetch_all(pool)
        .await?;
    tracing::info!(
        channel = queries.channel,
        rows = rows.len(),
        "relaying the rows the stream may lack"
    );
    relay.publish(&rows, false).await?;
    // Replayed rows may have been stored before: the stream's end is read again, not counted.
    relay.sequence = stream.info().await?.state.last_sequence;
    note_relayed(relayed_row, &rows);

    let mut ids = Vec::with_capacity(READ_AT_ONCE);
    loop {
        let notification = listener
            .try_recv()
            .await?
            .context("lost the connection that listens for rows")?;
        ids.clear();
        ids.extend(notification.payload().parse::<i64>().ok());
        while ids.len() < READ_AT_ONCE {
            let Some(more) = listener.next_buffered() else {
                break;
            };
            ids.extend(more.payload().parse::<i64>().ok());
        }
        ids.retain(|id| !relay.relayed.contains(id));
        if ids.is_empty() {
            continue;
        }
        let mut rows: Vec<Row> = sqlx::query_as(AssertSqlSafe(queries.read.clone()))
            .bind(&ids)
            .bind(queries.channel)
            .fetch_all(pool)
            .await?;
        // In notification order, which is commit order.
        rows.sort_by_key(|row| ids.iter().position(|id| *id == row.id));
        relay.publish(&rows, true).await?;
        note_relayed(relayed_row, &rows);
    }
}

fn note_relayed(relayed_row: &AtomicI64, rows: &[Row]) {
    if let Some(newest) = rows.iter().map(|row| row.id).max() {
        relayed_row.fetch_max(newest, Ordering::Relaxed);
    }
}

/// What a new leader publishes again: rows with ids above `every_row_past`, and rows above
/// `from` created within `recent`.
struct Replay {
    from: i64,
    every_row_past: i64,
    recent: Duration,
}

/// The leader's publishing end.
struct Relay<'a> {
    jetstream: &'a jetstream::Context,
    subject: String,
    channel: &'static str,
    /// The stream's last sequence, which the next fenced publish expects.
    sequence: u64,
    /// Rows published by this lead, so that a row read in the replay and notified as well is
    /// published once.
    relayed: BTreeSet<i64>,
}

impl Relay<'_> {
    /// Reads where the stream ends, and so which rows a new leader publishes again.
    async fn find_the_end(&mut self, stream: &mut stream::Stream) -> anyhow::Result<Replay> {
        let state = stream.info().await?.state.clone();
        self.sequence = state.last_sequence;
        if state.last_sequence == 0 {
            return Ok(Replay {
                from: 0,
                every_row_past: i64::MAX,
                recent: NEW_STREAM_LOOK_BACK,
            });
        }
        if state.messages == 0 {
            // Every message aged out: rows created since were never relayed. Older rows are
            // relayed ones the cleanup has not reached, unless no leader ran for minutes.
            tracing::info!(
                channel = self.channel,
                "the stream is empty: relaying the rows of its retention"
            );
            return Ok(Replay {
                from: 0,
                every_row_past: i64::MAX,
                recent: STREAM_RETENTION,
            });
        }
        let last = stream.get_raw_message(state.last_sequence).await?;
        let row = last
            .headers
            .get(ROW_HEADER)
            .and_then(|value| value.as_str().parse::<i64>().ok())
            .context("the stream's last message names no row")?;
        Ok(Replay {
            from: row.saturating_sub(LOOK_BACK_ROWS),
            every_row_past: row,
            recent: LOOK_BACK,
        })
    }

    /// Publishes each row's events in order and waits until the stream holds them all. A
    /// `fenced` publish must extend the stream by one message, or it fails, and so does every
    /// later one.
    async fn publish(&mut self, rows: &[Row], fenced: bool) -> anyhow::Result<()> {
        let mut acks = Vec::new();
        for row in rows {
            if !self.relayed.insert(row.id) {
                continue;
            }
            while self.relayed.len() > REMEMBERED {
                self.relayed.pop_first();
            }
            if row.after_gap {
                // A message of its own, so that every replica's log skips the same id.
                let marker = PublishMessage::build()
                    .header(GAP_HEADER, "1")
                    .header(ROW_HEADER, row.id.to_string())
                    .message_id(format!("{}:gap", dedup_id(row, 0)));
                self.send(marker, fenced, &mut acks).await?;
            }
            let mut bytes = row.events.as_slice();
            let mut index = 0_usize;
            while !bytes.is_empty() {
                let event = next_event(&mut bytes)
                    .with_context(|| format!("row {} holds an undecodable batch", row.id))?;
                // Headers first: setting them replaces any set before, the id among them.
                let message = PublishMessage::build()
                    .header(ROW_HEADER, row.id.to_string())
                    .payload(event.to_vec().into())
                    .message_id(dedup_id(row, index));
                self.send(message, fenced, &mut acks).await?;
                index += 1;
            }
        }
        self.settle(&mut acks, fenced).await
    }

    /// Sends one message (fenced or not), first waiting for the acknowledgements in flight
    /// once there are [`IN_FLIGHT`]: the client takes no more unacknowledged publishes than
    /// its own limit, and a replay of many rows would otherwise wait forever.
    async fn send(
        &mut self,
        mut message: PublishMessage,
        fenced: bool,
        acks: &mut Vec<PublishAckFuture>,
    ) -> anyhow::Result<()> {
        if acks.len() >= IN_FLIGHT {
            self.settle(acks, fenced).await?;
        }
        if fenced {
            message = message.expected_last_sequence(self.sequence);
            self.sequence += 1;
        }
        acks.push(
            self.jetstream
                .send_publish(self.subject.clone(), message)
                .await?,
        );
        Ok(())
    }

    /// Waits for every acknowledgement in `acks`, in order.
    async fn settle(&self, acks: &mut Vec<PublishAckFuture>, fenced: bool) -> anyhow::Result<()> {
        let published = acks.len();
        for ack in acks.drain(..) {
            // Bounded by REQUEST_TIMEOUT: an acknowledgement that does not come is an error.
            match ack.await {
                Ok(ack) if fenced && ack.duplicate => {
                    anyhow::bail!("the stream held message {} already", ack.sequence)
                }
                Ok(_) => {}
                Err(error) if error.kind() == PublishErrorKind::WrongLastSequence => {
                    anyhow::bail!("another relay published to the stream: {error}")
                }
                Err(error) => return Err(error.into()),
            }
        }
        metrics::counter!("parley_bus_relayed_events_total", "channel" => self.channel)
            .increment(published as u64);
        Ok(())
    }
}

/// Unique per event for as long as its row exists, and the same however often it is sent.
fn dedup_id(row: &Row, index: usize) -> String {
    match row.batch_id {
        Some(batch) => format!("{batch}:{index}"),
        None => format!("row-{}:{index}", row.id),
    }
}

/// Splits the next event off an encoded batch (length-delimited events end to end).
fn next_event<'a>(bytes: &mut &'a [u8]) -> anyhow::Result<&'a [u8]> {
    let length = prost::decode_length_delimiter(&mut *bytes)?;
    anyhow::ensure!(length <= bytes.len(), "an event runs past its batch");
    let (event, rest) = bytes.split_at(length);
    *bytes = rest;
    Ok(event)
}

/// A [`Stamp`] that the reader and the backfill share.
type SharedStamp<T> = Arc<dyn Fn(&mut T, u64) + Send + Sync>;

/// Reads events older than a replica's ring back from the topic's stream, whose sequences
/// are the log's ids (see [`crate::events::Backfill`]).
struct StreamBackfill<T> {
    nats: Arc<Nats>,
    queries: Arc<Queries>,
    stamp: SharedStamp<T>,
}

impl<T> Backfill<T> for StreamBackfill<T>
where
    T: prost::Message + Default + Clone + Send + Sync + 'static,
{
    fn range(
        &self,
        after: u64,
        before: u64,
    ) -> futures_util::future::BoxFuture<'static, Option<Vec<T>>> {
        let (nats, queries, stamp) = (self.nats.clone(), self.queries.clone(), self.stamp.clone());
        Box::pin(async move {
            let read = read_range(&nats, &queries, &stamp, after, before);
            match tokio::time::timeout(BACKFILL_TIMEOUT, read).await {
                Ok(Ok(events)) => Some(events),
                Ok(Err(error)) => {
                    tracing::info!(
                        channel = queries.channel,
                        after,
                        before,
                        error = format!("{error:#}"),
                        "cannot read missed events back: a gap"
                    );
                    None
                }
                Err(_) => {
                    tracing::warn!(
                        channel = queries.channel,
                        after,
                        before,
                        "reading missed events back took too long: a gap"
                    );
                    None
                }
            }
        })
    }
}

/// The events of the stream with sequences above `after` and below `before`, stamped with
/// their sequences; an error when the stream no longer holds them all, or they are too many.
async fn read_range<T>(
    nats: &Nats,
    queries: &Queries,
    stamp: &SharedStamp<T>,
    after: u64,
    before: u64,
) -> anyhow::Result<Vec<T>>
where
    T: prost::Message + Default,
{
    let first = after + 1;
    if before <= first {
        return Ok(Vec::new());
    }
    anyhow::ensure!(
        before - first <= BACKFILL_MOST,
        "{} events: too many",
        before - first
    );
    let mut stream = nats.stream(queries).await?;
    let state = stream.info().await?.state.clone();
    anyhow::ensure!(
        state.first_sequence <= first && before <= state.last_sequence + 1,
        "the stream holds {}..={}, not {first}..{before}",
        state.first_sequence,
        state.last_sequence
    );
    let consumer = stream
        .create_consumer(OrderedConfig {
            deliver_policy: DeliverPolicy::ByStartSequence {
                start_sequence: first,
            },
            ..Default::default()
        })
        .await?;
    let mut messages = consumer.messages().await?;
    let mut events = Vec::new();
    while let Some(message) = messages.next().await {
        let message = message?;
        let sequence = message
            .info()
            .map_err(|error| anyhow::anyhow!("{error}"))?
            .stream_sequence;
        if sequence >= before {
            break;
        }
        // As the reader does: a marker or an event that cannot be decoded leaves its id unused.
        if !is_gap_marker(&message)
            && let Ok(mut event) = T::decode(message.payload.as_ref())
        {
            stamp(&mut event, sequence);
            events.push(event);
        }
        if sequence + 1 >= before {
            break;
        }
    }
    Ok(events)
}

/// Whether `message` stands for dropped events rather than carrying one.
fn is_gap_marker(message: &jetstream::Message) -> bool {
    message
        .headers
        .as_ref()
        .is_some_and(|headers| headers.get(GAP_HEADER).is_some())
}

/// Reads the topic's stream into `log`, resubscribing after an outage.
async fn read<T>(
    nats: Arc<Nats>,
    queries: Arc<Queries>,
    log: Arc<EventLog<T>>,
    stamp: SharedStamp<T>,
    listening: watch::Sender<bool>,
) where
    T: prost::Message + Default + Clone + Send + Sync + 'static,
{
    let mut reader = Reader {
        log,
        stamp,
        next: None,
    };
    let mut retry = FIRST_RETRY;
    loop {
        match reader.follow(&nats, &queries, &listening).await {
            Ok(()) => retry = FIRST_RETRY,
            Err(error) => tracing::warn!(
                channel = queries.channel,
                error = format!("{error:#}"),
                "cannot read the event stream"
            ),
        }
        tokio::time::sleep(retry).await;
        retry = (retry * 2).min(LAST_RETRY);
    }
}

struct Reader<T> {
    log: Arc<EventLog<T>>,
    stamp: SharedStamp<T>,
    /// The stream sequence expected next; none before the first subscription.
    next: Option<u64>,
}

/// Whether a reader's consumer still sends what the stream holds.
#[derive(Default)]
struct Progress {
    /// A message arrived since the last check.
    moved: bool,
    /// The last check found the stream ahead of the reader, with nothing sent since.
    behind: bool,
}

impl Progress {
    fn moved(&mut self) {
        self.moved = true;
    }

    /// True on the second check in a row that finds messages past `next` in the stream and
    /// none sent meanwhile; asks the stream only when nothing was sent since the last check.
    async fn stalled(
        &mut self,
        next: Option<u64>,
        stream: &mut stream::Stream,
    ) -> anyhow::Result<bool> {
        if std::mem::take(&mut self.moved) {
            self.behind = false;
            return Ok(false);
        }
        let last = stream.info().await?.state.last_sequence;
        let behind = next.is_some_and(|next| last >= next);
        let stalled = behind && self.behind;
        self.behind = behind;
        Ok(stalled)
    }
}

impl<T> Reader<T>
where
    T: prost::Message + Default + Clone + Send + Sync + 'static,
{
    /// Subscribes from the expected sequence and reads until the subscription ends.
    async fn follow(
        &mut self,
        nats: &Nats,
        queries: &Queries,
        listening: &watch::Sender<bool>,
    ) -> anyhow::Result<()> {
        let mut stream = nats.stream(queries).await?;
        let state = stream.info().await?.state.clone();
        let start = match self.next {
            // This replica's history begins now, where the stream stands.
            None => {
                self.log.begin_after(state.last_sequence);
                state.last_sequence + 1
            }
            Some(next) if next > state.last_sequence + 1 => {
                tracing::warn!(
                    channel = queries.channel,
                    "the event stream was made anew: events were missed"
                );
                self.log.skip();
                state.last_sequence + 1
            }
            Some(next) if next < state.first_sequence => {
                tracing::warn!(
                    channel = queries.channel,
                    "away too long: events were missed"
                );
                self.log.skip();
                state.first_sequence
            }
            Some(next) => next,
        };
        self.next = Some(start);
        let consumer = stream
            .create_consumer(OrderedConfig {
                deliver_policy: DeliverPolicy::ByStartSequence {
                    start_sequence: start,
                },
                ..Default::default()
            })
            .await?;
        let mut messages = consumer.messages().await?;
        listening.send_replace(true);
        let mut check = tokio::time::interval(STALL_CHECK);
        check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut progress = Progress::default();
        loop {
            tokio::select! {
                message = messages.next() => {
                    let Some(message) = message else { return Ok(()) };
                    self.take(message?);
                    progress.moved();
                }
                _ = check.tick() => {
                    if progress.stalled(self.next, &mut stream).await? {
                        tracing::warn!(
                            channel = queries.channel,
                            next = self.next,
                            "the stream holds events this replica is not sent: reading anew"
                        );
                        return Ok(());
                    }
                }
            }
        }
    }

    /// Takes one message of the stream into the log, unless it was read already.
    fn take(&mut self, message: jetstream::Message) {
        let Ok(info) = message.info() else {
            return;
        };
        let sequence = info.stream_sequence;
        if self.next.is_some_and(|next| sequence < next) {
            return;
        }
        // The log's ids are the stream's sequences: a sequence this replica never read (it
        // aged out), a gap marker and an event that cannot be decoded all leave an id unused,
        // which subscribers see as a jump.
        self.next = Some(sequence + 1);
        if !is_gap_marker(&message) {
            self.deliver(&message.payload, sequence);
        }
    }

    fn deliver(&self, payload: &[u8], sequence: u64) {
        match T::decode(payload) {
            Ok(mut event) => {
                let stamp = &self.stamp;
                self.log.publish_at(sequence, |id| {
                    stamp(&mut event, id);
                    event
                });
            }
            Err(error) => tracing::error!(sequence, %error, "cannot decode a streamed event"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_splits_into_its_events() {
        let mut batch = Vec::new();
        for text in ["a", "", "ccc"] {
            prost::encoding::encode_varint(text.len() as u64, &mut batch);
            batch.extend_from_slice(text.as_bytes());
        }
        let mut bytes = batch.as_slice();
        let mut events = Vec::new();
        while !bytes.is_empty() {
            events.push(next_event(&mut bytes).unwrap());
        }
        assert_eq!(events, [b"a".as_slice(), b"", b"ccc"]);
    }

    #[test]
    fn a_batch_cut_short_is_refused() {
        let mut bytes = [5_u8, b'a', b'b'].as_slice();
        assert!(next_event(&mut bytes).is_err());
    }
}
