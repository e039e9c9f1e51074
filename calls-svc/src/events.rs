//! What calls-svc tells edges: each call event with its recipients (a user's every device,
//! or one device), through `parley_common::bus` so that an edge following any replica hears
//! every replica's, in commit order.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use parley_common::{
    bus::{self, Bus, Publisher, Topic},
    events::{EventLog, EventStream},
    time::to_timestamp,
};
use parley_proto::calls::v1::{self as pb, call_event::Payload};
use sqlx::PgPool;

use crate::domain::{self, Call, Device, UserId};

/// Events kept for edges that reconnect, and as far as one may fall behind.
const EVENTS_KEPT: usize = 16_384;

const TOPIC: Topic = Topic {
    table: "calls.outbox",
    channel: "parley_calls_events",
};

pub struct Events {
    log: Arc<EventLog<pb::CallEvent>>,
    publisher: Publisher<pb::CallEvent>,
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
            |event: &mut pb::CallEvent, id| event.event_id = id,
        );
        (Self { log, publisher }, running)
    }

    /// The events after `after_event_id` (when of this log's epoch), then every new one.
    pub async fn answer(
        &self,
        metadata: &tonic::metadata::MetadataMap,
        after_event_id: Option<u64>,
    ) -> tonic::Response<EventStream<pb::CallEvent>> {
        self.log.answer(metadata, after_event_id).await
    }

    /// Ends every subscription: open streams would hold a graceful shutdown forever.
    pub fn close(&self) {
        self.log.close();
    }

    /// Stores `events` in `transaction`, announced when (and if) it commits.
    pub async fn store_in(
        &self,
        transaction: &mut sqlx::PgConnection,
        events: &[pb::CallEvent],
    ) -> Result<(), sqlx::Error> {
        self.publisher.store_in(transaction, events).await
    }
}

/// Every device of `user`.
pub fn user(user: UserId) -> pb::Recipient {
    pb::Recipient {
        user_id: user.to_string(),
        device_id: None,
    }
}

/// One device.
pub fn device(device: &Device) -> pb::Recipient {
    pb::Recipient {
        user_id: device.user.to_string(),
        device_id: Some(device.device.clone()),
    }
}

pub fn event(recipients: Vec<pb::Recipient>, payload: Payload) -> pb::CallEvent {
    pb::CallEvent {
        // Numbered by each replica's log as it arrives.
        event_id: 0,
        recipients,
        payload: Some(payload),
    }
}

pub fn device_pb(device: &Device) -> pb::Device {
    pb::Device {
        user_id: device.user.to_string(),
        device_id: device.device.clone(),
    }
}

fn stamp(time: Option<DateTime<Utc>>) -> Option<prost_types::Timestamp> {
    time.map(to_timestamp)
}

/// The call as the API shows it.
pub fn call_pb(call: &Call) -> pb::Call {
    pb::Call {
        id: call.id.to_string(),
        room_id: call.room_id.to_string(),
        media: call.media.into(),
        state: call.state.into(),
        caller: Some(device_pb(&call.caller)),
        callee_id: call.callee.to_string(),
        answered_by: call.answered_by.as_ref().map(|device| pb::Device {
            user_id: call.callee.to_string(),
            device_id: device.clone(),
        }),
        created_at: stamp(Some(call.created_at)),
        ring_deadline: stamp(Some(call.ring_deadline)),
        answered_at: stamp(call.answered_at),
        connected_at: stamp(call.connected_at),
        ended_at: stamp(call.ended_at),
        end_reason: call.end_reason.into(),
        duration_ms: domain::duration(call)
            .map(|duration| u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)),
        client_call_id: call.client_call_id.clone(),
    }
}

/// The call's log entry, for its CALL message.
pub fn call_log(call: &Call) -> pb::CallLog {
    pb::CallLog {
        call_id: call.id.to_string(),
        media: call.media.into(),
        outcome: domain::outcome(call).into(),
        end_reason: call.end_reason.into(),
        caller_id: call.caller.user.to_string(),
        callee_id: call.callee.to_string(),
        started_at: stamp(Some(call.created_at)),
        connected_at: stamp(call.connected_at),
        ended_at: stamp(call.ended_at),
        duration_ms: domain::duration(call).map_or(0, |duration| {
            u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
        }),
    }
}
