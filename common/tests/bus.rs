//! The event bus between replicas, with a real Postgres and, on the NATS bus, a real NATS
//! server: what one replica stores reaches every replica once and in commit order, on the bus
//! `PARLEY_TEST_BUS` names; on NATS, a standby relay takes over from a leader that stops, its
//! replay stores nothing twice, and rows stored while no relay leads wait for the next one.

// A test fails loudly on what it did not expect.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::{sync::Arc, time::Duration};

use futures_util::StreamExt as _;
use parley_common::{
    bus::{self, Bus, Topic},
    config::{BusArgs, BusKind},
    db,
    events::{EventLog, EventStream},
    testing::TestDatabase,
};
use sqlx::{Connection as _, PgPool};

const TOPIC: Topic = Topic {
    table: "t.outbox",
    channel: "parley_bus_test",
};

/// Any protobuf message does; its `seconds` tell events apart.
type Event = prost_types::Timestamp;

fn event(number: i64) -> Event {
    Event {
        seconds: number,
        nanos: 0,
    }
}

struct Replica {
    log: Arc<EventLog<Event>>,
    publisher: bus::Publisher<Event>,
    fan_out: bus::FanOut,
}

impl Replica {
    async fn start(args: &BusArgs, pool: &PgPool) -> Self {
        let event_bus = Bus::connect(args).await.expect("the bus connects");
        // Room for the largest test's events, so that no subscriber falls behind.
        let log = Arc::new(event_bus.log(16_384, TOPIC));
        let (publisher, fan_out) =
            bus::start(&event_bus, pool.clone(), TOPIC, log.clone(), |_, _| {});
        fan_out.listening().await;
        Self {
            log,
            publisher,
            fan_out,
        }
    }

    /// Stores `numbers` as one batch in a transaction of their own.
    async fn store(&self, pool: &PgPool, numbers: &[i64]) {
        let events: Vec<Event> = numbers.iter().copied().map(event).collect();
        let mut transaction = pool.begin().await.unwrap();
        self.publisher
            .store_in(&mut transaction, &events)
            .await
            .unwrap();
        transaction.commit().await.unwrap();
    }
}

/// A database with an outbox table like the services' own.
async fn outbox(database: &TestDatabase) -> PgPool {
    let pool = db::pool(&database.args()).unwrap();
    sqlx::raw_sql(
        "CREATE SCHEMA t; CREATE TABLE t.outbox (id bigserial PRIMARY KEY, channel text NOT NULL, \
         after_gap boolean NOT NULL, events bytea NOT NULL, batch_id uuid UNIQUE, \
         created_at timestamptz NOT NULL DEFAULT now())",
    )
    .execute(&pool)
    .await
    .unwrap();
    pool
}

/// The next `count` events of `stream`, as their numbers; fails after a few seconds.
async fn next(stream: &mut EventStream<Event>, count: usize) -> Vec<i64> {
    let mut numbers = Vec::new();
    while numbers.len() < count {
        let next = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "{} of {count} arrived, the last {:?}",
                    numbers.len(),
                    numbers.last()
                )
            });
        numbers.push(next.expect("the log is open").expect("no gap").seconds);
    }
    numbers
}

/// Nothing more arrives within a moment.
async fn nothing_more(stream: &mut EventStream<Event>) {
    let more = tokio::time::timeout(Duration::from_millis(700), stream.next()).await;
    assert!(more.is_err(), "an event arrived that should not: {more:?}");
}

#[tokio::test]
async fn every_replica_hears_every_replica_s_events_once_and_in_one_order() {
    let database = TestDatabase::create().await;
    let pool = outbox(&database).await;
    let args = database.bus();
    let (a, b) = (
        Replica::start(&args, &pool).await,
        Replica::start(&args, &pool).await,
    );
    let (mut heard_by_a, mut heard_by_b) = (a.log.subscribe(None), b.log.subscribe(None));

    a.store(&pool, &[1, 2]).await;
    b.store(&pool, &[3]).await;
    a.publisher.publish(event(4));
    b.publisher.publish(event(5));
    a.store(&pool, &[6, 7, 8]).await;

    let (order_a, order_b) = (
        next(&mut heard_by_a, 8).await,
        next(&mut heard_by_b, 8).await,
    );
    assert_eq!(order_a, order_b, "both replicas hear one order");
    let mut sorted = order_a.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (1..=8).collect::<Vec<_>>(), "each event once");
    // What one replica stored in order stays in that order.
    let position = |n: i64| order_a.iter().position(|m| *m == n);
    assert!(position(1) < position(2) && position(2) < position(3));
    assert!(position(6) < position(7) && position(7) < position(8));
    nothing_more(&mut heard_by_a).await;
    nothing_more(&mut heard_by_b).await;
}

/// The NATS bus of this test's database, whatever `PARLEY_TEST_BUS` says.
fn nats_bus(database: &TestDatabase) -> BusArgs {
    BusArgs {
        kind: BusKind::Nats,
        ..database.bus()
    }
}

/// The sessions that hold an advisory lock (a relay's lead) in this test's database.
async fn lock_holders(pool: &PgPool) -> Vec<i32> {
    sqlx::query_scalar(
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted \
         AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

/// The session of the one relay that leads, once one other than `former` does (a lead that
/// ends closes its session in the background).
async fn the_leader(pool: &PgPool, former: Option<i32>) -> i32 {
    for _ in 0..100 {
        if let [leader] = lock_holders(pool).await[..]
            && Some(leader) != former
        {
            return leader;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no relay took the lead");
}

/// The messages the topic's stream holds.
async fn stored_in_the_stream(args: &BusArgs) -> u64 {
    let client = async_nats::connect(args.nats_url.as_str()).await.unwrap();
    let mut stream = async_nats::jetstream::new(client)
        .get_stream(format!("{}_{}", args.nats_prefix, TOPIC.channel))
        .await
        .unwrap();
    stream.info().await.unwrap().state.messages
}

#[tokio::test]
async fn a_standby_relay_takes_over_from_a_leader_that_stops_and_stores_nothing_twice() {
    let database = TestDatabase::create().await;
    let pool = outbox(&database).await;
    let args = nats_bus(&database);
    let leader = Replica::start(&args, &pool).await;
    let first = the_leader(&pool, None).await;
    let standby = Replica::start(&args, &pool).await;
    let mut heard = standby.log.subscribe(None);

    leader.store(&pool, &[1, 2]).await;
    standby.store(&pool, &[3]).await;
    assert_eq!(next(&mut heard, 3).await, [1, 2, 3]);

    leader.fan_out.stop().await;
    the_leader(&pool, Some(first)).await;
    standby.store(&pool, &[4]).await;
    standby.publisher.publish(event(5));
    // The new leader publishes the recent rows again: the stream keeps each event once.
    assert_eq!(next(&mut heard, 2).await, [4, 5]);
    nothing_more(&mut heard).await;
    assert_eq!(stored_in_the_stream(&args).await, 5);
}

#[tokio::test]
async fn every_replica_numbers_the_stream_s_events_alike_so_a_subscriber_resumes_on_any() {
    let database = TestDatabase::create().await;
    let pool = outbox(&database).await;
    let args = nats_bus(&database);
    let (a, b) = (
        Replica::start(&args, &pool).await,
        Replica::start(&args, &pool).await,
    );
    assert_eq!(a.log.epoch(), b.log.epoch());
    let mut heard_by_a = a.log.subscribe(None);
    a.store(&pool, &[1, 2, 3]).await;
    assert_eq!(next(&mut heard_by_a, 3).await, [1, 2, 3]);
    wait_until(|| b.log.last_id() == a.log.last_id()).await;

    // A subscriber of `a` that processed event 1 moves to `b`: it gets 2 and 3, then what
    // comes next, with no gap.
    let after_first = a.log.last_id() - 2;
    let mut on_b = b.log.subscribe(Some(after_first));
    b.store(&pool, &[4]).await;
    assert_eq!(next(&mut on_b, 3).await, [2, 3, 4]);
}

#[tokio::test]
async fn a_subscriber_resuming_from_before_a_replica_s_log_gets_what_it_missed_from_the_stream() {
    let database = TestDatabase::create().await;
    let pool = outbox(&database).await;
    let args = nats_bus(&database);
    let a = Replica::start(&args, &pool).await;
    let mut heard_by_a = a.log.subscribe(None);
    let numbers: Vec<i64> = (1..=30).collect();
    a.store(&pool, &numbers).await;
    assert_eq!(next(&mut heard_by_a, 30).await, numbers);
    // A replica started since: its log begins where the stream stands, with none of them.
    let b = Replica::start(&args, &pool).await;
    assert_eq!(b.log.last_id(), a.log.last_id());

    // A subscriber of `a` that processed five of them moves to `b`.
    let after_fifth = a.log.last_id() - 25;
    let answer = b
        .log
        .answer(&tonic::metadata::MetadataMap::new(), Some(after_fifth))
        .await;
    assert_eq!(
        parley_common::events::head_of(answer.metadata()),
        Some(after_fifth),
        "replayed from where it was"
    );
    let mut on_b = answer.into_inner();
    b.store(&pool, &[31]).await;
    assert_eq!(next(&mut on_b, 26).await, (6..=31).collect::<Vec<i64>>());
    nothing_more(&mut on_b).await;
}

async fn wait_until(done: impl Fn() -> bool) {
    for _ in 0..100 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("not within 5 s");
}

#[tokio::test]
async fn rows_stored_while_no_relay_leads_are_relayed_by_the_next_leader_however_many() {
    let database = TestDatabase::create().await;
    let pool = outbox(&database).await;
    let args = nats_bus(&database);
    let replica = Replica::start(&args, &pool).await;
    let relay = the_leader(&pool, None).await;
    let mut heard = replica.log.subscribe(None);
    replica.store(&pool, &[1]).await;
    assert_eq!(next(&mut heard, 1).await, [1]);

    // The relay's session ends, as when its connection breaks, until the test's own session
    // holds the lead, so that no relay leads for a while.
    let mut blocker = pool.acquire().await.unwrap().detach();
    let mut holder = relay;
    let mut taken = false;
    for _ in 0..100 {
        sqlx::query("SELECT pg_terminate_backend($1)")
            .bind(holder)
            .execute(&mut blocker)
            .await
            .unwrap();
        taken = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtext($1))")
            .bind(format!("parley-relay:{}", TOPIC.channel))
            .fetch_one(&mut blocker)
            .await
            .unwrap();
        if taken {
            break;
        }
        // The session is still ending, or the relay came back first: end whoever holds it.
        tokio::time::sleep(Duration::from_millis(20)).await;
        holder = lock_holders(&pool).await.first().copied().unwrap_or(holder);
    }
    assert!(taken, "the lead is free once its holder's session ends");
    replica.store(&pool, &[2]).await;
    // More events than async-nats lets wait unacknowledged: the replay must not stall on them.
    let many: Vec<i64> = (3..6_003).collect();
    replica.store(&pool, &many).await;
    nothing_more(&mut heard).await;

    blocker.close().await.unwrap();
    let expected: Vec<i64> = std::iter::once(2).chain(many).collect();
    assert_eq!(next(&mut heard, expected.len()).await, expected);
    nothing_more(&mut heard).await;
    assert_eq!(stored_in_the_stream(&args).await, 1 + expected.len() as u64);
}
