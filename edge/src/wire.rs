//! The JSON shapes clients receive, built from the services' protobuf messages: camelCase
//! keys, ids as strings, times as RFC 3339 UTC with milliseconds.

use chrono::SecondsFormat;
use parley_common::time::from_timestamp;
use parley_proto::{chat::v1 as chat, friends::v1 as friends, presence::v1 as presence};
use prost_types::Timestamp;
use serde::Serialize;

/// A time as clients see it, e.g. `2026-11-25T18:04:05.120Z`; `None` for a missing or
/// impossible value.
pub fn time(timestamp: Option<&Timestamp>) -> Option<String> {
    from_timestamp(timestamp?).map(|time| time.to_rfc3339_opts(SecondsFormat::Millis, true))
}

/// Every protobuf item of an answer in its client shape.
pub fn all<T: From<P>, P>(items: Vec<P>) -> Vec<T> {
    items.into_iter().map(T::from).collect()
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

impl From<chat::User> for User {
    fn from(user: chat::User) -> Self {
        Self {
            id: user.id,
            username: user.username,
            avatar: user.avatar,
        }
    }
}

/// A member of a room.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    pub user: Option<User>,
    pub role: &'static str,
    pub joined_at: Option<String>,
}

/// A room; `members` is left out when the answer does not carry them.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Room {
    pub id: String,
    pub name: Option<String>,
    pub is_group: bool,
    pub is_public: bool,
    pub created_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub members: Option<Vec<Member>>,
}

impl From<chat::Room> for Room {
    fn from(room: chat::Room) -> Self {
        let members = (!room.members.is_empty()).then(|| {
            room.members
                .into_iter()
                .map(|member| Member {
                    role: match chat::Role::try_from(member.role) {
                        Ok(chat::Role::Owner) => "OWNER",
                        Ok(chat::Role::Admin) => "ADMIN",
                        _ => "MEMBER",
                    },
                    joined_at: time(member.joined_at.as_ref()),
                    user: member.user.map(User::from),
                })
                .collect()
        });
        Self {
            created_at: time(room.created_at.as_ref()),
            id: room.id,
            name: room.name,
            is_group: room.is_group,
            is_public: room.is_public,
            members,
        }
    }
}

/// A room in `list-rooms`: the room's fields plus what the caller has not read.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomSummary {
    #[serde(flatten)]
    pub room: Option<Room>,
    pub unread_count: u32,
    pub last_message: Option<Message>,
}

impl From<chat::RoomSummary> for RoomSummary {
    fn from(summary: chat::RoomSummary) -> Self {
        Self {
            room: summary.room.map(Room::from),
            unread_count: summary.unread_count,
            last_message: summary.last_message.map(Message::from),
        }
    }
}

/// A message; a deleted one keeps its place (`deleted: true`) without content.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    pub id: String,
    pub room_id: String,
    pub seq: u64,
    pub content: String,
    pub message_type: &'static str,
    pub sender: Option<User>,
    pub timestamp: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub edited_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_to_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_msg_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receiver_id: Option<String>,
    pub deleted: bool,
    /// The reader blocked the sender (history, `sync`, `list-rooms`); absent otherwise.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub sender_blocked: bool,
}

impl From<chat::Message> for Message {
    fn from(message: chat::Message) -> Self {
        Self {
            message_type: match chat::MessageType::try_from(message.message_type) {
                Ok(chat::MessageType::Image) => "IMAGE",
                Ok(chat::MessageType::File) => "FILE",
                Ok(chat::MessageType::System) => "SYSTEM",
                Ok(chat::MessageType::Call) => "CALL",
                _ => "TEXT",
            },
            timestamp: time(message.created_at.as_ref()),
            edited_at: time(message.edited_at.as_ref()),
            sender: message.sender.map(User::from),
            id: message.id,
            room_id: message.room_id,
            seq: message.seq,
            content: message.content,
            reply_to_id: message.reply_to_id,
            client_msg_id: message.client_msg_id,
            receiver_id: message.receiver_id,
            deleted: message.deleted,
            sender_blocked: message.sender_blocked,
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
