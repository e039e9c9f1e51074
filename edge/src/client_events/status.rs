//! `/status`: statuses, friends' statuses and heartbeats of the socket's presence session.

use parley_proto::presence::v1 as pb;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Event, NoFields, rpc, unary};
use crate::{
    server_events::status::{FRIENDS_STATUS, HEARTBEAT_ACK},
    wire::{self, HeartbeatAck, Status},
};

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
            |answer| StatusAnswer {
                status: Status::from_proto(answer.status),
            },
        ),
        unary(
            &["get-friends-status"],
            |_: NoFields, caller| {
                Ok(pb::GetFriendsStatusRequest {
                    acting_user_id: caller.user_id(),
                })
            },
            rpc!(presence.get_friends_status),
            |answer| wire::all::<wire::FriendStatus, _>(answer.friends),
        )
        .echoed_as(FRIENDS_STATUS),
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
            |answer| HeartbeatAck {
                server_time: wire::time(answer.server_time.as_ref()),
            },
        )
        .echoed_as(HEARTBEAT_ACK),
    ]
}

/// `update-status`'s payload.
#[derive(Deserialize, JsonSchema)]
struct UpdateStatus {
    status: ChosenStatus,
}

/// The statuses a user may choose; OFFLINE is what absence shows, and friends see
/// `INVISIBLE` as OFFLINE.
#[derive(Deserialize, Clone, Copy, JsonSchema)]
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

/// `update-status`'s ack: the status as chosen.
#[derive(Serialize, JsonSchema)]
struct StatusAnswer {
    status: Status,
}
