//! calls-svc's events to `/calls` sockets (docs/API.md "`/calls`"). Each event names its
//! recipients: every socket of a user (its user room), or only one device's sockets (its
//! device room). A gap makes the `/calls` clients reconnect: their `calls-state` on
//! connect is the whole truth again.

use parley_proto::calls::v1::{CallEvent, SubscribeRequest, call_event::Payload};
use socketioxide::SocketIo;

use super::{ServiceEvent, emit_to_rooms};
use crate::{
    calls_wire::{CallAnswered, CallDismissed, CallIce, CallIncoming, CallNegotiate, CallUpdate},
    rooms::{device_room, user_room},
    server_events::calls::{
        self, CALL_ANSWERED, CALL_DISMISSED, CALL_ENDED, CALL_ICE, CALL_INCOMING, CALL_NEGOTIATE,
        CALL_UPDATED,
    },
};

impl ServiceEvent for CallEvent {
    const SERVICE: &'static str = "calls";
    // Only `/calls` clients need to catch up (see `mend_gap`), not everyone.
    const GAP_RESYNCS_EVERYONE: bool = false;

    fn event_id(&self) -> u64 {
        self.event_id
    }

    async fn subscribe(
        backends: crate::backends::Backends,
        edge_id: String,
        after: parley_common::follow::After,
    ) -> Result<tonic::Response<tonic::Streaming<Self>>, tonic::Status> {
        let request = SubscribeRequest {
            edge_id,
            after_event_id: after.event_id,
        };
        backends.calls()?.subscribe(after.request(request)).await
    }

    async fn relay(self, io: &SocketIo, _: &crate::backends::Backends) {
        let rooms: Vec<String> = self
            .recipients
            .iter()
            .map(|recipient| match &recipient.device_id {
                Some(device) => device_room(&recipient.user_id, device),
                None => user_room(&recipient.user_id),
            })
            .collect();
        // Each arm emits its own type: the declarations take no other.
        match self.payload {
            Some(Payload::Incoming(incoming)) => {
                let payload = CallIncoming::from(incoming);
                emit_to_rooms(io, rooms, CALL_INCOMING, &payload).await;
            }
            Some(Payload::Answered(answered)) => {
                let payload = CallAnswered::from(answered);
                emit_to_rooms(io, rooms, CALL_ANSWERED, &payload).await;
            }
            Some(Payload::Dismissed(dismissed)) => {
                let payload = CallDismissed::from(dismissed);
                emit_to_rooms(io, rooms, CALL_DISMISSED, &payload).await;
            }
            Some(Payload::Ended(ended)) => {
                let payload = CallUpdate::from(ended.call);
                emit_to_rooms(io, rooms, CALL_ENDED, &payload).await;
            }
            Some(Payload::Ice(ice)) => {
                let payload = CallIce::from(ice);
                emit_to_rooms(io, rooms, CALL_ICE, &payload).await;
            }
            Some(Payload::Negotiate(negotiate)) => {
                let payload = CallNegotiate::from(negotiate);
                emit_to_rooms(io, rooms, CALL_NEGOTIATE, &payload).await;
            }
            Some(Payload::Updated(updated)) => {
                let payload = CallUpdate::from(updated.call);
                emit_to_rooms(io, rooms, CALL_UPDATED, &payload).await;
            }
            None => tracing::warn!(event_id = self.event_id, "call event without payload"),
        }
    }

    /// Closes the transport of every `/calls` client: each reconnects by itself (its other
    /// namespaces with it) and gets `calls-state` afresh.
    async fn mend_gap(io: &SocketIo) {
        let Some(namespace) = io.of(calls::NAMESPACE) else {
            return;
        };
        for socket in namespace.sockets() {
            crate::resync::one(&socket);
        }
    }
}
