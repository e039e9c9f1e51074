//! presence-svc's events to `/status` sockets.

use parley_proto::presence::v1::{PresenceEvent, SubscribeRequest, presence_event::Payload};
use socketioxide::SocketIo;

use super::{ServiceEvent, emit_to_users, subscription};
use crate::{server_events::status::FRIEND_STATUS_CHANGED, wire};

impl ServiceEvent for PresenceEvent {
    const SERVICE: &'static str = "presence";
    const GAP_RESYNCS_EVERYONE: bool = false;

    subscription!(presence, SubscribeRequest);

    async fn relay(self, io: &SocketIo, _: &crate::backends::Backends) {
        match self.payload {
            Some(Payload::FriendStatusChanged(changed)) => {
                let payload = wire::FriendStatusChanged::from(changed);
                let recipients = &self.recipient_user_ids;
                emit_to_users(io, recipients, FRIEND_STATUS_CHANGED, &payload).await;
            }
            None => tracing::warn!(event_id = self.event_id, "presence event without payload"),
        }
    }
}
