//! calls-svc's events to `/calls` sockets (docs/API.md "`/calls`"). Each event names its
//! recipients: every socket of a user (its user room), or only one device's sockets (its
//! device room). A gap makes the `/calls` clients reconnect: their `calls-state` on
//! connect is the whole truth again.

use parley_proto::calls::v1::{CallEvent, SubscribeRequest, call_event::Payload};
use serde_json::json;
use socketioxide::SocketIo;

use super::{ServiceEvent, emit_to_rooms};
use crate::{
    calls_wire,
    rooms::{device_room, user_room},
};

const NAMESPACE: &str = "/calls";

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

    async fn relay(self, io: &SocketIo) {
        let rooms: Vec<String> = self
            .recipients
            .iter()
            .map(|recipient| match &recipient.device_id {
                Some(device) => device_room(&recipient.user_id, device),
                None => user_room(&recipient.user_id),
            })
            .collect();
        let (event, payload) = match self.payload {
            Some(Payload::Incoming(incoming)) => (
                "call-incoming",
                json!(calls_wire::CallIncoming::from(incoming)),
            ),
            Some(Payload::Answered(answered)) => (
                "call-answered",
                json!(calls_wire::CallAnswered::from(answered)),
            ),
            Some(Payload::Dismissed(dismissed)) => (
                "call-dismissed",
                json!({ "callId": dismissed.call_id, "reason": dismissed.reason }),
            ),
            Some(Payload::Ended(ended)) => (
                "call-ended",
                json!({ "call": calls_wire::call(ended.call) }),
            ),
            Some(Payload::Ice(ice)) => ("call-ice", json!(calls_wire::CallIce::from(ice))),
            Some(Payload::Negotiate(negotiate)) => (
                "call-negotiate",
                json!(calls_wire::CallNegotiate::from(negotiate)),
            ),
            Some(Payload::Updated(updated)) => (
                "call-updated",
                json!({ "call": calls_wire::call(updated.call) }),
            ),
            None => {
                tracing::warn!(event_id = self.event_id, "call event without payload");
                return;
            }
        };
        emit_to_rooms(io, NAMESPACE, rooms, event, &payload).await;
    }

    /// Closes the transport of every `/calls` client: each reconnects by itself (its other
    /// namespaces with it) and gets `calls-state` afresh.
    async fn mend_gap(io: &SocketIo) {
        let Some(namespace) = io.of(NAMESPACE) else {
            return;
        };
        for socket in namespace.sockets() {
            crate::resync::one(&socket);
        }
    }
}
