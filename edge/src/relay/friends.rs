//! friends-svc's events to `/friends` sockets.

use parley_proto::friends::v1::{FriendsEvent, SubscribeRequest, friends_event::Payload};
use schemars::JsonSchema;
use serde::Serialize;
use socketioxide::SocketIo;
use uuid::Uuid;

use super::{ServiceEvent, emit_to_users, subscription};
use crate::{
    server_events::friends::{
        FRIEND_REMOVED, FRIEND_REQUEST_ACCEPTED, FRIEND_REQUEST_CANCELLED, FRIEND_REQUEST_RECEIVED,
    },
    wire,
};

/// `friend-request-received`: to every socket of the target.
#[derive(Serialize, JsonSchema)]
pub struct FriendRequestReceived {
    request: Option<wire::FriendRequest>,
}

/// `friend-request-accepted`: to both, each told about the other person.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FriendRequestAccepted {
    #[schemars(with = "Uuid")]
    request_id: String,
    friend: wire::Friend,
}

/// `friend-request-cancelled`: to the target of a request its sender cancelled (or that a
/// block ended).
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FriendRequestCancelled {
    #[schemars(with = "Uuid")]
    request_id: String,
}

/// `friend-removed`: to the other person of a friendship that ended.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FriendRemoved {
    #[schemars(with = "Uuid")]
    user_id: String,
}

impl ServiceEvent for FriendsEvent {
    const SERVICE: &'static str = "friends";
    const GAP_RESYNCS_EVERYONE: bool = false;

    subscription!(friends, SubscribeRequest);

    async fn relay(self, io: &SocketIo, _: &crate::backends::Backends) {
        let recipients = self.recipient_user_ids;
        match self.payload {
            Some(Payload::FriendRequestReceived(received)) => {
                let payload = FriendRequestReceived {
                    request: received.request.map(wire::FriendRequest::from),
                };
                emit_to_users(io, &recipients, FRIEND_REQUEST_RECEIVED, &payload).await;
            }
            Some(Payload::FriendRequestAccepted(accepted)) => {
                // Each side is told about the other person.
                let since = wire::time(accepted.since.as_ref());
                let requester = wire::user(accepted.requester);
                let accepter = wire::user(accepted.accepter);
                for (recipient, friend) in [(&requester, &accepter), (&accepter, &requester)] {
                    let payload = FriendRequestAccepted {
                        request_id: accepted.request_id.clone(),
                        friend: wire::Friend {
                            user: friend.clone(),
                            since: since.clone(),
                        },
                    };
                    let recipient = std::slice::from_ref(&recipient.id);
                    emit_to_users(io, recipient, FRIEND_REQUEST_ACCEPTED, &payload).await;
                }
            }
            Some(Payload::FriendRequestCancelled(cancelled)) => {
                let payload = FriendRequestCancelled {
                    request_id: cancelled.request_id,
                };
                emit_to_users(io, &recipients, FRIEND_REQUEST_CANCELLED, &payload).await;
            }
            Some(Payload::FriendRemoved(removed)) => {
                let payload = FriendRemoved {
                    user_id: removed.user_id,
                };
                emit_to_users(io, &recipients, FRIEND_REMOVED, &payload).await;
            }
            None => tracing::warn!(event_id = self.event_id, "friends event without payload"),
        }
    }
}
