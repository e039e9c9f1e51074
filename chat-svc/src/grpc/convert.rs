//! Every conversion of chat-svc's rows and rules into protobuf messages, in one place, so
//! that answers and events show a room, a message or a user the same way.

use std::collections::HashMap;

use parley_common::time::to_timestamp;
use parley_proto::{chat::v1 as pb, friends::v1 as friends};

use crate::{
    domain::{MessageType, Role, UserId},
    messages::ReadState,
    repo::{Member, Message, Room},
};

/// A room as clients see it, its members named by `profiles`.
pub fn room(room: &Room, members: &[Member], profiles: &HashMap<UserId, pb::User>) -> pb::Room {
    pb::Room {
        id: room.id.to_string(),
        name: room.name.clone(),
        is_group: room.is_group,
        is_public: room.is_public,
        created_at: Some(to_timestamp(room.created_at)),
        members: members
            .iter()
            .map(|member| pb::Member {
                user: Some(user_or_unknown(profiles, member.user_id)),
                role: role(member.role).into(),
                joined_at: Some(to_timestamp(member.joined_at)),
            })
            .collect(),
    }
}

pub fn role(role: Role) -> pb::Role {
    match role {
        Role::Owner => pb::Role::Owner,
        Role::Admin => pb::Role::Admin,
        Role::Member => pb::Role::Member,
    }
}

/// A message as clients see it, its sender named by `profiles`; in a direct room it names
/// its receiver.
pub fn message(
    message: &Message,
    profiles: &HashMap<UserId, pb::User>,
    receiver: Option<UserId>,
) -> pb::Message {
    pb::Message {
        id: message.id.to_string(),
        room_id: message.room_id.to_string(),
        seq: u64::try_from(message.seq).unwrap_or_default(),
        content: message.content.clone().unwrap_or_default(),
        message_type: message_type(message.message_type).into(),
        sender: Some(user_or_unknown(profiles, message.sender_id)),
        created_at: Some(to_timestamp(message.created_at)),
        edited_at: message.edited_at.map(to_timestamp),
        reply_to_id: message.reply_to_id.map(|id| id.to_string()),
        client_msg_id: message.client_msg_id.clone(),
        receiver_id: receiver.map(|id| id.to_string()),
        deleted: message.deleted_at.is_some(),
        // Per reader: set by the reads that know who reads (`Messages::render_all`).
        sender_blocked: false,
        attachments: Vec::new(),
    }
}

pub fn message_type(message_type: MessageType) -> pb::MessageType {
    match message_type {
        MessageType::Text => pb::MessageType::Text,
        MessageType::Image => pb::MessageType::Image,
        MessageType::File => pb::MessageType::File,
        MessageType::Call => pb::MessageType::Call,
        MessageType::System => pb::MessageType::System,
    }
}

/// The type a client asked for; an unknown or unspecified one is text.
pub fn message_type_of(raw: i32) -> MessageType {
    match pb::MessageType::try_from(raw).unwrap_or(pb::MessageType::Text) {
        pb::MessageType::Text | pb::MessageType::Unspecified => MessageType::Text,
        pb::MessageType::Image => MessageType::Image,
        pb::MessageType::File => MessageType::File,
        pb::MessageType::Call => MessageType::Call,
        pb::MessageType::System => MessageType::System,
    }
}

pub fn read_state(read: ReadState) -> pb::MarkReadResponse {
    pb::MarkReadResponse {
        room_id: read.room.to_string(),
        message_id: read.message.map(|id| id.to_string()),
        unread_count: read.unread_count,
    }
}

/// A user as friends-svc knows them, as chat messages show them.
pub fn user(user: friends::User) -> pb::User {
    pb::User {
        id: user.id,
        username: user.username,
        avatar: user.avatar,
    }
}

/// A user's profile, or a placeholder naming only the id.
pub fn user_or_unknown(profiles: &HashMap<UserId, pb::User>, id: UserId) -> pb::User {
    profiles.get(&id).cloned().unwrap_or_else(|| pb::User {
        id: id.to_string(),
        username: String::new(),
        avatar: None,
    })
}
