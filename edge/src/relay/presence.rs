//! presence-svc's events to `/status` sockets.

use parley_proto::presence::v1::{PresenceEvent, SubscribeRequest, presence_event::Payload};
use socketioxide::SocketIo;

use super::{ServiceEvent, emit_to_users};
use crate::{backends::Backends, wire};

impl ServiceEvent for PresenceEvent {
    const SERVICE: &'static str = "presence";
    const GAP_RESYNCS_EVERYONE: bool = false;

    fn event_id(&self) -> u64 {
        self.event_id
    }

    async fn subscribe(
        mut backends: Backends,
        edge_id: String,
        after_event_id: Option<u64>,
    ) -> Result<tonic::Response<tonic::Streaming<Self>>, tonic::Status> {
        let request = SubscribeRequest {
            edge_id,
            after_event_id,
        };
        backends.presence.subscribe(request).await
    }

    async fn relay(self, io: &SocketIo) {
        match self.payload {
            Some(Payload::FriendStatusChanged(changed)) => {
                let payload = wire::FriendStatusChanged::from(changed);
                let recipients = &self.recipient_user_ids;
                emit_to_users(io, "/status", recipients, "friend-status-changed", &payload).await;
            }
            None => tracing::warn!(event_id = self.event_id, "presence event without payload"),
        }
    }
}
