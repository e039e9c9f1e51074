//! The JSON shapes clients receive, built from the services' protobuf messages: camelCase
//! keys, ids as strings, times as RFC 3339 UTC with milliseconds.

use chrono::SecondsFormat;
use parley_common::time::from_timestamp;
use parley_proto::{friends::v1 as friends, presence::v1 as presence};
use prost_types::Timestamp;
use serde::Serialize;

/// A time as clients see it, e.g. `2026-11-25T18:04:05.120Z`; `None` for a missing or
/// impossible value.
pub fn time(timestamp: Option<&Timestamp>) -> Option<String> {
    from_timestamp(timestamp?).map(|time| time.to_rfc3339_opts(SecondsFormat::Millis, true))
}

#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub id: String,
    pub username: String,
    pub avatar: Option<String>,
}

impl From<friends::User> for User {
    fn from(user: friends::User) -> Self {
        Self {
            id: user.id,
            username: user.username,
            avatar: user.avatar,
        }
    }
}

/// A user that a service answer must carry; an empty one if it (wrongly) does not.
pub fn user(user: Option<friends::User>) -> User {
    user.map(User::from).unwrap_or_else(|| User {
        id: String::new(),
        username: String::new(),
        avatar: None,
    })
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FriendRequest {
    pub id: String,
    pub from: User,
    pub to: User,
    pub created_at: Option<String>,
}

impl From<friends::FriendRequest> for FriendRequest {
    fn from(request: friends::FriendRequest) -> Self {
        Self {
            created_at: time(request.created_at.as_ref()),
            id: request.id,
            from: user(request.from_user),
            to: user(request.to_user),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Friend {
    pub user: User,
    pub since: Option<String>,
}

impl From<friends::Friend> for Friend {
    fn from(friend: friends::Friend) -> Self {
        Self {
            since: time(friend.since.as_ref()),
            user: user(friend.user),
        }
    }
}

/// A status as clients write it.
pub fn status(status: i32) -> &'static str {
    match presence::Status::try_from(status) {
        Ok(presence::Status::Online) => "ONLINE",
        Ok(presence::Status::Away) => "AWAY",
        Ok(presence::Status::DoNotDisturb) => "DO_NOT_DISTURB",
        Ok(presence::Status::Invisible) => "INVISIBLE",
        _ => "OFFLINE",
    }
}

/// `friend-status-changed`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FriendStatusChanged {
    pub user_id: String,
    pub status: &'static str,
    pub last_seen: Option<String>,
}

impl From<presence::FriendStatusChanged> for FriendStatusChanged {
    fn from(changed: presence::FriendStatusChanged) -> Self {
        Self {
            status: status(changed.status),
            last_seen: time(changed.last_seen.as_ref()),
            user_id: changed.user_id,
        }
    }
}

/// One entry of `friends-status`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FriendStatus {
    pub user_id: String,
    pub username: String,
    pub status: &'static str,
    pub last_seen: Option<String>,
    pub is_online: bool,
}

impl From<presence::FriendStatus> for FriendStatus {
    fn from(friend: presence::FriendStatus) -> Self {
        Self {
            status: status(friend.status),
            last_seen: time(friend.last_seen.as_ref()),
            user_id: friend.user_id,
            username: friend.username,
            is_online: friend.is_online,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_have_milliseconds_and_a_z() {
        let timestamp = Timestamp {
            seconds: 1_764_093_845,
            nanos: 120_000_000,
        };
        assert_eq!(
            time(Some(&timestamp)).as_deref(),
            Some("2025-11-25T18:04:05.120Z")
        );
        assert_eq!(time(None), None);
    }

    #[test]
    fn a_user_without_avatar_shows_null() {
        let user = User::from(friends::User {
            id: "id".into(),
            username: "alice".into(),
            avatar: None,
        });
        assert_eq!(
            serde_json::to_value(user).expect("serializes"),
            serde_json::json!({"id": "id", "username": "alice", "avatar": null})
        );
    }
}
