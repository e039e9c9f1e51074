//! `/status`: statuses, friends' statuses and heartbeats of the socket's presence session.

use parley_proto::presence::v1 as pb;
use serde::Deserialize;
use serde_json::json;

use super::{Event, NoFields, rpc, unary};
use crate::wire;

/// docs/API.md's client → server events of `/status`.
pub(super) fn events() -> Vec<Event> {
    vec![
        unary(
            &["update-status"],
            |update: UpdateStatus, caller| {
                Ok(pb::UpdateStatusRequest {
                    acting_user_id: caller.user_id(),
                    status: pb::Status::from(update.status).into(),
                })
            },
            rpc!(presence.update_status),
            |answer| json!({ "status": wire::status(answer.status) }),
        ),
        unary(
            &["get-friends-status"],
            |_: NoFields, caller| {
                Ok(pb::GetFriendsStatusRequest {
                    acting_user_id: caller.user_id(),
                })
            },
            rpc!(presence.get_friends_status),
            |answer| json!(wire::all::<wire::FriendStatus, _>(answer.friends)),
        )
        .echoed_as("friends-status"),
        unary(
            &["heartbeat"],
            |_: NoFields, caller| {
                Ok(pb::HeartbeatRequest {
                    acting_user_id: caller.user_id(),
                    session_id: caller.session_id.to_owned(),
                    edge_id: caller.edge_id.to_owned(),
                })
            },
            rpc!(presence.heartbeat),
            |answer| json!({ "serverTime": wire::time(answer.server_time.as_ref()) }),
        )
        .echoed_as("heartbeat-ack"),
    ]
}

#[derive(Deserialize)]
struct UpdateStatus {
    status: ChosenStatus,
}

/// The statuses a user may choose; OFFLINE is what absence shows.
#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum ChosenStatus {
    Online,
    Away,
    DoNotDisturb,
    Invisible,
}

impl From<ChosenStatus> for pb::Status {
    fn from(status: ChosenStatus) -> Self {
        match status {
            ChosenStatus::Online => pb::Status::Online,
            ChosenStatus::Away => pb::Status::Away,
            ChosenStatus::DoNotDisturb => pb::Status::DoNotDisturb,
            ChosenStatus::Invisible => pb::Status::Invisible,
        }
    }
}
