//! What presence-svc tells edges: a friend's status changed, addressed to the friends who
//! should see it.
//!
//! Events are queued, never awaited (a state change must not wait on Postgres), and travel
//! through `parley_common::bus`, so that an edge following any replica hears every
//! replica's. The queue is drained in order, so one replica's events keep the order its
//! state changed in; when the queue overflows events are dropped and the jump in event ids
//! tells edges to resynchronise.

use std::sync::Arc;

use crate::{domain::UserId, grpc, state::Change};
use parley_common::{
    bus::{self, Bus, Publisher, Topic},
    events::{EventLog, EventStream},
};
use parley_proto::presence::v1 as pb;
use sqlx::PgPool;

/// Events kept for edges that reconnect, and as far as one may fall behind.
const EVENTS_KEPT: usize = 16_384;

/// How presence events reach every replica.
const TOPIC: Topic = Topic {
    table: "presence.outbox",
    channel: "parley_presence_events",
};

pub struct Events {
    /// Every replica's events, in commit order: what `Subscribe` streams.
    log: Arc<EventLog<pb::PresenceEvent>>,
    publisher: Publisher<pb::PresenceEvent>,
}

impl Events {
    /// Publishes over `event_bus` to every replica (this one included); the fan-out is to
    /// stop at shutdown.
    pub fn start(event_bus: &Bus, pool: PgPool) -> (Self, bus::FanOut) {
        let log = Arc::new(event_bus.log(EVENTS_KEPT, TOPIC));
        let (publisher, running) = bus::start(
            event_bus,
            pool,
            TOPIC,
            log.clone(),
            |event: &mut pb::PresenceEvent, id| event.event_id = id,
        );
        (Self { log, publisher }, running)
    }

    /// The events after `after_event_id` (those still kept, when of this log's epoch), then
    /// every new one; the answer names the epoch (see `parley_common::events`).
    pub async fn answer(
        &self,
        metadata: &tonic::metadata::MetadataMap,
        after_event_id: Option<u64>,
    ) -> tonic::Response<EventStream<pb::PresenceEvent>> {
        self.log.answer(metadata, after_event_id).await
    }

    /// Ends every subscription: open streams would hold a graceful shutdown forever.
    pub fn close(&self) {
        self.log.close();
    }

    /// Tells `recipients` of `change`; nobody to tell costs nothing.
    pub fn tell(&self, change: &Change, recipients: &[UserId]) {
        if recipients.is_empty() {
            return;
        }
        self.publisher
            .publish(grpc::presence_event(change, recipients));
    }
}
