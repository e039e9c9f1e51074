//! The event log behind each service's long-lived `Subscribe` stream.
//!
//! Events get consecutive ids in publish order. Recent ones are kept in a bounded ring so a
//! subscriber that reconnects with the last id it processed gets what it missed; older ones
//! are gone, and the jump in ids tells the subscriber so. A subscriber that cannot keep up
//! is cut off with `RESOURCE_EXHAUSTED` instead of being buffered without bound.
//!
//! Each log is an **epoch** of its own: a random id made with it, sent in the response
//! header [`EPOCH_HEADER`] of every subscription. Ids are only comparable within an epoch. A
//! subscriber that resumes names the epoch of its last id in the request header
//! [`AFTER_EPOCH_HEADER`]; a log of another epoch (another replica, or this one restarted)
//! replays nothing, and the subscriber, seeing a new epoch in the answer, treats it as a gap
//! at once, before any event and whatever the ids (see `follow`). The ids also start from
//! the clock, so that subscribers that send no epoch still see a jump.
//!
//! Every answer also names, in [`HEAD_HEADER`], the id of the newest event before the ones it
//! streams: a subscriber that has heard nothing yet can still resume from there later, so
//! that a quiet stream's subscriber does not see a gap where there was none (on a shared
//! log, when a replica restarts or another one answers).
//!
//! A shared log may also have a [`Backfill`], the bus's stream: an answer to a subscriber
//! resuming from an id older than the ring (it was away a while, or this replica started
//! after that id) begins with the events read back from there, instead of a gap.

use std::{
    collections::VecDeque,
    pin::Pin,
    sync::{Arc, Mutex, OnceLock},
};

use futures_util::{Stream, StreamExt, future::BoxFuture};
use tokio::sync::{broadcast, watch};
use tonic::{Status, metadata::MetadataMap};

/// The response header that names a stream's epoch: ids compare only within one.
pub const EPOCH_HEADER: &str = "parley-stream-epoch";

/// The request header that names the epoch of `after_event_id`, when resuming.
pub const AFTER_EPOCH_HEADER: &str = "parley-after-epoch";

/// The response header that names the id after which the answer's events begin.
pub const HEAD_HEADER: &str = "parley-stream-head";

/// The id an answer's [`HEAD_HEADER`] names: the one its events follow.
pub fn head_of(metadata: &MetadataMap) -> Option<u64> {
    metadata.get(HEAD_HEADER)?.to_str().ok()?.parse().ok()
}

/// A stream of events for one subscriber, as tonic wants it.
pub type EventStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// Where a shared log reads events older than its ring: the bus's stream, whose sequences
/// are the log's ids.
pub trait Backfill<T>: Send + Sync {
    /// The events with ids above `after` and below `before`, in order, their ids written in;
    /// `None` when they cannot all be read (aged out, too many, the bus away): the
    /// subscriber then sees a gap, as without a backfill.
    fn range(&self, after: u64, before: u64) -> BoxFuture<'static, Option<Vec<T>>>;
}

/// Ordered, replayable, bounded fan-out of one service's events to its subscribers.
pub struct EventLog<T> {
    inner: Mutex<Ring<T>>,
    live: broadcast::Sender<(u64, T)>,
    /// Set when the service shuts down: every stream ends (with `UNAVAILABLE`, so that
    /// subscribers reconnect, to another replica if there is one) instead of holding the
    /// graceful shutdown open forever.
    closed: watch::Sender<bool>,
    /// This log's epoch: random, so that no other log (replica, restart) has it.
    epoch: tonic::metadata::AsciiMetadataValue,
    /// Where events older than the ring are read back from, on a shared log.
    backfill: OnceLock<Arc<dyn Backfill<T>>>,
}

struct Ring<T> {
    /// Id of the newest event; 0 before the first.
    last_id: u64,
    recent: VecDeque<(u64, T)>,
    capacity: usize,
}

impl<T> Ring<T> {
    /// Whether `id` is one this log issued and can replay from: between the event before
    /// the oldest retained one and the newest.
    fn issued(&self, id: u64) -> bool {
        (self.oldest()..=self.last_id).contains(&id)
    }

    /// The oldest id a subscriber can resume after from the ring alone.
    fn oldest(&self) -> u64 {
        self.recent
            .front()
            .map_or(self.last_id, |(first, _)| first - 1)
    }
}

/// What a subscriber gets from the ring and from now on, caught under the ring's lock.
struct Caught<T> {
    /// Events to send first.
    backlog: Vec<T>,
    live: broadcast::Receiver<(u64, T)>,
    /// Live events up to this id were sent already (a subscriber slightly ahead).
    ahead: u64,
    /// The id the stream's events follow.
    head: u64,
}

/// Where a new log's ids begin: the clock's milliseconds times 2^20, so that logs made a
/// millisecond apart are a million ids apart (and the product stays within 2^62 until 2109).
fn first_id_base() -> u64 {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_millis());
    u64::try_from(millis % (1 << 42)).unwrap_or(0) << 20
}

/// A new epoch: 128 random bits (a v4 UUID's), as hex.
fn new_epoch() -> tonic::metadata::AsciiMetadataValue {
    let epoch = uuid::Uuid::new_v4().simple().to_string();
    tonic::metadata::AsciiMetadataValue::try_from(epoch)
        .unwrap_or_else(|_| tonic::metadata::AsciiMetadataValue::from_static("0"))
}

impl<T: Clone + Send + Sync + 'static> EventLog<T> {
    /// Keeps the last `capacity` events for replay and cuts off a subscriber that falls
    /// more than `capacity` behind: the one bound serves both, so a subscriber cut off for
    /// lagging can always resume from its last id.
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        let (live, _) = broadcast::channel(capacity);
        Self {
            inner: Mutex::new(Ring {
                last_id: first_id_base(),
                recent: VecDeque::with_capacity(capacity),
                capacity,
            }),
            live,
            closed: watch::Sender::new(false),
            epoch: new_epoch(),
            backfill: OnceLock::new(),
        }
    }

    /// Lets answers read events older than the ring from `backfill` (set once; later calls
    /// change nothing).
    pub fn set_backfill(&self, backfill: Arc<dyn Backfill<T>>) {
        let _ = self.backfill.set(backfill);
    }

    /// A log whose ids the bus gives ([`Self::publish_at`]), the same in every replica's log
    /// of one stream, as is `epoch`: a subscriber resumes on any replica without a gap.
    pub fn shared(capacity: usize, epoch: &str) -> Self {
        let mut log = Self::new(capacity);
        log.lock().last_id = 0;
        if let Ok(epoch) = tonic::metadata::AsciiMetadataValue::try_from(epoch) {
            log.epoch = epoch;
        }
        log
    }

    /// This log's epoch, as sent in [`EPOCH_HEADER`].
    pub fn epoch(&self) -> &str {
        // Made from hex digits only: always text.
        self.epoch.to_str().unwrap_or_default()
    }

    /// The answer to a `Subscribe` call whose request had `metadata`: the events after
    /// `after_id` when that id is of this log's epoch (or the request names none, as older
    /// subscribers do), read back from the [`Backfill`] where the ring no longer has them;
    /// else only live ones; this log's epoch in [`EPOCH_HEADER`].
    pub async fn answer(
        &self,
        metadata: &MetadataMap,
        after_id: Option<u64>,
    ) -> tonic::Response<EventStream<T>> {
        let same_epoch = metadata
            .get(AFTER_EPOCH_HEADER)
            .is_none_or(|epoch| *epoch == self.epoch);
        let (stream, head) = self
            .subscribe_backfilled(after_id.filter(|_| same_epoch))
            .await;
        let mut response = tonic::Response::new(stream);
        let metadata = response.metadata_mut();
        metadata.insert(EPOCH_HEADER, self.epoch.clone());
        metadata.insert(HEAD_HEADER, head.into());
        response
    }

    /// Ends every stream, present and future.
    pub fn close(&self) {
        self.closed.send_replace(true);
    }

    /// Publishes one event; `build` receives the event's id.
    pub fn publish(&self, build: impl FnOnce(u64) -> T) {
        let ring = self.lock();
        let id = ring.last_id + 1;
        self.append(ring, id, build);
    }

    /// Publishes one event as `id`, which a [`Self::shared`] log's bus gives: ids skipped on
    /// the way tell subscribers that events were missed, as [`Self::skip`] does. An id at or
    /// below the newest (its stream was made anew) cannot be kept: the event gets an id past
    /// a jump instead, and subscribers resynchronise.
    pub fn publish_at(&self, id: u64, build: impl FnOnce(u64) -> T) {
        let ring = self.lock();
        let id = if id > ring.last_id {
            id
        } else {
            ring.last_id + 2
        };
        self.append(ring, id, build);
    }

    fn append(
        &self,
        mut ring: std::sync::MutexGuard<'_, Ring<T>>,
        id: u64,
        build: impl FnOnce(u64) -> T,
    ) {
        ring.last_id = id;
        let event = build(id);
        if ring.capacity > 0 {
            if ring.recent.len() == ring.capacity {
                ring.recent.pop_front();
            }
            ring.recent.push_back((id, event.clone()));
        }
        // No receiver is fine: nobody is subscribed yet.
        let _ = self.live.send((id, event));
    }

    /// Uses up one id without an event: subscribers see the ids jump and know that events
    /// were missed (see `follow`).
    pub fn skip(&self) {
        self.lock().last_id += 1;
    }

    /// Makes a [`Self::shared`] log that has published nothing yet begin after `id` (its
    /// bus's position when it starts reading), so that the heads of its answers are of the
    /// stream, as other replicas' are.
    pub fn begin_after(&self, id: u64) {
        let mut ring = self.lock();
        if ring.recent.is_empty() && ring.last_id < id {
            ring.last_id = id;
        }
    }

    /// The id of the newest event published so far.
    pub fn last_id(&self) -> u64 {
        self.lock().last_id
    }

    /// Every event after `after_id` that is still retained, then the live ones.
    pub fn subscribe(&self, after_id: Option<u64>) -> EventStream<T> {
        self.subscribe_after(after_id).0
    }

    /// [`Self::subscribe_after`], but an id older than the ring is replayed from with the
    /// events read back from the [`Backfill`], when there is one and it has them all.
    async fn subscribe_backfilled(&self, after_id: Option<u64>) -> (EventStream<T>, u64) {
        let Some(backfill) = self.backfill.get().cloned() else {
            return self.subscribe_after(after_id);
        };
        let (after, before, mut caught) = {
            let ring = self.lock();
            let Some(after) = after_id.filter(|after| *after < ring.oldest()) else {
                let caught = self.catch(&ring, after_id);
                drop(ring);
                return self.stream(caught);
            };
            // The ring's events and the live ones from here on are held while the older
            // ones are read: together they leave no gap and no duplicate.
            let before = ring.recent.front().map_or(ring.last_id + 1, |(id, _)| *id);
            let mut caught = self.catch(&ring, None);
            caught.backlog = ring.recent.iter().map(|(_, event)| event.clone()).collect();
            (after, before, caught)
        };
        match backfill.range(after, before).await {
            Some(events) => {
                caught.head = after;
                caught.backlog.splice(0..0, events);
            }
            // A gap: only what comes after the ring's newest event at the time.
            None => caught.backlog.clear(),
        }
        self.stream(caught)
    }

    /// [`Self::subscribe`], and the id after which the stream's events begin: `after_id`
    /// when this log replays from it, else the newest id at the moment of subscribing.
    fn subscribe_after(&self, after_id: Option<u64>) -> (EventStream<T>, u64) {
        let caught = {
            let ring = self.lock();
            self.catch(&ring, after_id)
        };
        self.stream(caught)
    }

    /// What a subscriber after `after_id` gets from `ring` and from now on (with `None`, or an
    /// id the ring does not have, only the live events after the ring's newest).
    fn catch(&self, ring: &Ring<T>, after_id: Option<u64>) -> Caught<T> {
        // Replaying and subscribing under the one lock leaves no gap and no duplicate.
        // A subscriber of a shared log may come from a replica that is a little ahead:
        // it gets the events past its id as they arrive, and nothing twice.
        let ahead = after_id.filter(|after| *after > ring.last_id).unwrap_or(0);
        let (backlog, head): (Vec<T>, u64) = match after_id {
            Some(after) if ring.issued(after) => (
                ring.recent
                    .iter()
                    .filter(|(id, _)| *id > after)
                    .map(|(_, event)| event.clone())
                    .collect(),
                after,
            ),
            _ => (Vec::new(), ring.last_id.max(ahead)),
        };
        Caught {
            backlog,
            live: self.live.subscribe(),
            ahead,
            head,
        }
    }

    /// The stream of what was caught, and its head.
    fn stream(&self, caught: Caught<T>) -> (EventStream<T>, u64) {
        let Caught {
            backlog,
            live,
            ahead,
            head,
        } = caught;
        // The receiver is dropped after a lag error: the stream ends, and says why first.
        let live = futures_util::stream::unfold(Some(live), move |receiver| async move {
            let mut receiver = receiver?;
            let mut received = receiver.recv().await;
            while matches!(&received, Ok((id, _)) if *id <= ahead) {
                received = receiver.recv().await;
            }
            match received {
                Ok((_, event)) => Some((Ok(event), Some(receiver))),
                Err(broadcast::error::RecvError::Lagged(missed)) => Some((
                    Err(Status::resource_exhausted(format!(
                        "subscriber fell {missed} events behind; resubscribe with the last event id"
                    ))),
                    None,
                )),
                Err(broadcast::error::RecvError::Closed) => None,
            }
        });
        let mut closed = self.closed.subscribe();
        let shutdown = async move {
            // An error means the log itself is gone: that ends the stream too.
            let _ = closed.wait_for(|closed| *closed).await;
        };
        let events = futures_util::stream::iter(backlog.into_iter().map(Ok))
            .chain(live)
            .take_until(shutdown);
        let goodbye = futures_util::stream::once({
            let closed = self.closed.subscribe();
            async move { *closed.borrow() }
        })
        .filter_map(|closed| async move {
            closed.then(|| Err(Status::unavailable("the service is shutting down")))
        });
        (Box::pin(events.chain(goodbye)), head)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Ring<T>> {
        // A panic while holding the lock cannot leave the ring inconsistent (each step is a
        // single push or pop), so a poisoned lock is still usable.
        crate::lock::lock(&self.inner)
    }
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;

    use super::*;

    #[tokio::test]
    async fn a_reconnecting_subscriber_gets_what_it_missed_then_live_events() {
        let log = EventLog::new(10);
        let before = log.last_id();
        for n in 0..3 {
            log.publish(|id| (id, n));
        }
        let mut stream = log.subscribe(Some(before + 1));
        log.publish(|id| (id, 3));
        let ids: Vec<u64> = stream
            .by_ref()
            .take(3)
            .map(|event| event.expect("an event").0 - before)
            .collect()
            .await;
        assert_eq!(ids, vec![2, 3, 4]);
    }

    #[tokio::test]
    async fn a_subscriber_that_falls_behind_is_cut_off() {
        let log = EventLog::new(2);
        let mut stream = log.subscribe(None);
        for n in 0..5 {
            log.publish(|id| (id, n));
        }
        let first = stream.next().await.expect("an item");
        assert_eq!(
            first.expect_err("cut off").code(),
            tonic::Code::ResourceExhausted
        );
        assert!(
            stream.next().await.is_none(),
            "the stream ends after the error"
        );
    }

    #[tokio::test]
    async fn closing_ends_every_stream_with_unavailable() {
        let log = EventLog::<(u64, i32)>::new(10);
        let mut stream = log.subscribe(None);
        log.close();
        let last = stream.next().await.expect("a farewell");
        assert_eq!(
            last.expect_err("unavailable").code(),
            tonic::Code::Unavailable
        );
        assert!(stream.next().await.is_none());
        let mut late = log.subscribe(None);
        assert!(late.next().await.expect("a farewell").is_err());
    }

    #[tokio::test]
    async fn only_retained_events_are_replayed() {
        let log = EventLog::new(2);
        let before = log.last_id();
        for n in 0..5 {
            log.publish(|id| (id, n));
        }
        assert_eq!(log.last_id(), before + 5);
        let mut stream = log.subscribe(Some(before + 3));
        let first = stream.next().await.expect("an item").expect("an event");
        assert_eq!(first.0, before + 4);
        assert!(
            !log.lock().issued(before + 1),
            "events 1 and 2 fell out of the ring: no replay from there"
        );
    }

    #[tokio::test]
    async fn an_id_from_another_log_replays_nothing() {
        let log = EventLog::new(10);
        for n in 0..3 {
            log.publish(|id| (id, n));
        }
        let mut stream = log.subscribe(Some(1));
        log.publish(|id| (id, 3));
        let first = stream.next().await.expect("an item").expect("an event");
        assert_eq!(first.1, 3, "only the live event");
    }

    #[tokio::test]
    async fn an_id_of_another_epoch_replays_nothing_even_when_this_log_issued_it() {
        let log = EventLog::new(10);
        let before = log.last_id();
        for n in 0..3 {
            log.publish(|id| (id, n));
        }
        let mut other_epoch = MetadataMap::new();
        other_epoch.insert(AFTER_EPOCH_HEADER, new_epoch());
        let answer = log.answer(&other_epoch, Some(before + 1)).await;
        assert_eq!(
            answer
                .metadata()
                .get(EPOCH_HEADER)
                .map(|epoch| epoch.to_str().ok()),
            Some(Some(log.epoch()))
        );
        let mut stream = answer.into_inner();
        log.publish(|id| (id, 3));
        let first = stream.next().await.expect("an item").expect("an event");
        assert_eq!(first.1, 3, "only the live event");

        let mut same_epoch = MetadataMap::new();
        same_epoch.insert(AFTER_EPOCH_HEADER, log.epoch.clone());
        let mut stream = log.answer(&same_epoch, Some(before + 1)).await.into_inner();
        let first = stream.next().await.expect("an item").expect("an event");
        assert_eq!(first.1, 1, "replayed from the id after");
    }

    #[tokio::test]
    async fn a_skipped_id_shows_as_a_jump() {
        let log = EventLog::new(10);
        log.publish(|id| (id, 0));
        let first = log.last_id();
        log.skip();
        log.publish(|id| (id, 1));
        assert_eq!(log.last_id(), first + 2);
    }

    #[tokio::test]
    async fn shared_logs_of_one_stream_resume_each_other_s_subscribers() {
        let (a, b) = (
            EventLog::shared(10, "stream"),
            EventLog::shared(10, "stream"),
        );
        assert_eq!(a.epoch(), b.epoch());
        for log in [&a, &b] {
            log.publish_at(7, |id| (id, 0));
            log.publish_at(8, |id| (id, 1));
        }
        // A subscriber of `a` that saw id 7 resumes on `b`, which also holds 8.
        let mut on_b = b.subscribe(Some(7));
        assert_eq!(on_b.next().await.unwrap().unwrap(), (8, 1));
        // One that is ahead of `b` gets nothing twice.
        a.publish_at(9, |id| (id, 2));
        let mut ahead = b.subscribe(Some(9));
        b.publish_at(9, |id| (id, 2));
        b.publish_at(10, |id| (id, 3));
        assert_eq!(ahead.next().await.unwrap().unwrap(), (10, 3));
    }

    #[tokio::test]
    async fn an_answer_names_the_id_its_events_follow() {
        let log = EventLog::shared(10, "stream");
        log.begin_after(41);
        assert_eq!(
            head_of(log.answer(&MetadataMap::new(), None).await.metadata()),
            Some(41)
        );
        log.publish_at(42, |id| (id, 0));
        log.publish_at(43, |id| (id, 1));
        let mut same_epoch = MetadataMap::new();
        same_epoch.insert(AFTER_EPOCH_HEADER, log.epoch.clone());
        let resumed = log.answer(&same_epoch, Some(42)).await;
        assert_eq!(head_of(resumed.metadata()), Some(42), "replayed from 42");
        assert_eq!(resumed.into_inner().next().await.unwrap().unwrap(), (43, 1));
        assert_eq!(
            head_of(log.answer(&MetadataMap::new(), None).await.metadata()),
            Some(43)
        );
        // A restarted replica that has read nothing begins after the stream's position.
        let restarted = EventLog::<(u64, i32)>::shared(10, "stream");
        restarted.begin_after(43);
        let answer = restarted.answer(&same_epoch, Some(43)).await;
        assert_eq!(head_of(answer.metadata()), Some(43), "nothing missed");
    }

    #[tokio::test]
    async fn a_given_id_that_is_not_new_becomes_a_jump() {
        let log = EventLog::shared(10, "stream");
        log.publish_at(5, |id| (id, 0));
        log.publish_at(3, |id| (id, 1));
        assert_eq!(log.last_id(), 7, "a jump past 6");
    }
}
