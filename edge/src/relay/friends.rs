//! friends-svc's events to `/friends` sockets.

use parley_proto::friends::v1::{FriendsEvent, SubscribeRequest, friends_event::Payload};
use serde_json::json;
use socketioxide::SocketIo;

use super::{ServiceEvent, emit_to_users, subscription};
use crate::wire;

impl ServiceEvent for FriendsEvent {
    const SERVICE: &'static str = "friends";
    const GAP_RESYNCS_EVERYONE: bool = false;

    subscription!(friends, SubscribeRequest);

    async fn relay(self, io: &SocketIo) {
        let recipients = self.recipient_user_ids;
        match self.payload {
            Some(Payload::FriendRequestReceived(received)) => {
                let request = received.request.map(wire::FriendRequest::from);
                let payload = json!({ "request": request });
                emit_to_users(
                    io,
                    "/friends",
                    &recipients,
                    "friend-request-received",
                    &payload,
                )
                .await;
            }
            Some(Payload::FriendRequestAccepted(accepted)) => {
                // Each side is told about the other person.
                let since = wire::time(accepted.since.as_ref());
                let requester = wire::user(accepted.requester);
                let accepter = wire::user(accepted.accepter);
                for (recipient, friend) in [(&requester, &accepter), (&accepter, &requester)] {
                    let payload = json!({
                        "requestId": accepted.request_id,
                        "friend": { "user": friend, "since": since },
                    });
                    let recipient = std::slice::from_ref(&recipient.id);
                    emit_to_users(
                        io,
                        "/friends",
                        recipient,
                        "friend-request-accepted",
                        &payload,
                    )
                    .await;
                }
            }
            Some(Payload::FriendRequestCancelled(cancelled)) => {
                let payload = json!({ "requestId": cancelled.request_id });
                emit_to_users(
                    io,
                    "/friends",
                    &recipients,
                    "friend-request-cancelled",
                    &payload,
                )
                .await;
            }
            Some(Payload::FriendRemoved(removed)) => {
                let payload = json!({ "userId": removed.user_id });
                emit_to_users(io, "/friends", &recipients, "friend-removed", &payload).await;
            }
            None => tracing::warn!(event_id = self.event_id, "friends event without payload"),
        }
    }
}
