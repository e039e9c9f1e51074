//! What chat-svc tells edges. Each event names a room (whose sockets edges keep in a
//! socketioxide room) and/or users; membership changes come first, so that the sockets of a
//! new member are in the room before the room's next event.
//!
//! Messages and room changes store their events in their own transaction (a [`Batch`]), so
//! that every replica hears them in commit order: a room's messages in seq order, a new
//! member's join before the room's next message. Typing, reads, edits and deletes are queued
//! on [`Events`] and stored right after.

use std::{cell::RefCell, sync::Arc};

use parley_common::{
    bus::{self, Bus, Publisher, Topic},
    events::EventLog,
    media_url::MediaUrls,
};
use parley_proto::chat::v1::{self as pb, chat_event::Payload};
use sqlx::PgPool;

use crate::{
    attachment_urls,
    domain::{AttachmentId, MessageId, RoomId, UserId},
};

/// Events kept for subscribers that reconnect, and as far as one may fall behind.
const EVENTS_KEPT: usize = 8192;

/// How chat events reach every replica.
const TOPIC: Topic = Topic {
    table: "chat.outbox",
    channel: "parley_chat_events",
};

pub struct Events {
    /// Every replica's events, in commit order: what `Subscribe` streams.
    pub log: Arc<EventLog<pb::ChatEvent>>,
    publisher: Publisher<pb::ChatEvent>,
}

impl Events {
    /// Publishes over `event_bus` to every replica (this one included) and fills `log`
    /// with what every replica publishes. Attachments travel without URLs; each replica
    /// signs them with `urls` as an event enters its log, once for every subscriber.
    pub fn start(event_bus: &Bus, pool: PgPool, urls: Option<MediaUrls>) -> (Self, bus::FanOut) {
        let log = Arc::new(event_bus.log(EVENTS_KEPT, TOPIC));
        let (publisher, running) = bus::start(
            event_bus,
            pool,
            TOPIC,
            log.clone(),
            move |event: &mut pb::ChatEvent, id| {
                event.event_id = id;
                if let Some(urls) = &urls {
                    attachment_urls::sign_event(event, urls, attachment_urls::now());
                }
            },
        );
        (Self { log, publisher }, running)
    }

    /// Stores the events of `batch` in `transaction`, to be announced when it commits.
    pub async fn store_in(
        &self,
        transaction: &mut sqlx::PgConnection,
        batch: Batch,
    ) -> Result<(), sqlx::Error> {
        self.publisher
            .store_in(transaction, &batch.0.into_inner())
            .await
    }
}

impl Announce for Events {
    fn push(&self, event: pb::ChatEvent) {
        self.publisher.publish(event);
    }
}

/// The events of one change, collected to be stored in its transaction.
#[derive(Default)]
pub struct Batch(RefCell<Vec<pb::ChatEvent>>);

impl Announce for Batch {
    fn push(&self, event: pb::ChatEvent) {
        self.0.borrow_mut().push(event);
    }
}

/// Every event chat-svc announces, built once whichever way it travels.
pub trait Announce {
    fn push(&self, event: pb::ChatEvent);

    fn publish(&self, room_id: Option<RoomId>, user_ids: &[UserId], payload: Payload) {
        self.publish_to(room_id, user_ids, &[], None, payload);
    }

    fn publish_to(
        &self,
        room_id: Option<RoomId>,
        user_ids: &[UserId],
        exclude: &[UserId],
        origin_socket_id: Option<String>,
        payload: Payload,
    ) {
        let user_ids = user_ids.iter().map(UserId::to_string).collect();
        let exclude_user_ids = exclude.iter().map(UserId::to_string).collect();
        self.push(pb::ChatEvent {
            // Numbered by each replica's log as it arrives.
            event_id: 0,
            room_id: room_id.map(|id| id.to_string()),
            user_ids,
            exclude_user_ids,
            origin_socket_id,
            // Set per subscriber, by `SubscribeByInterest`.
            previous_event_id: None,
            payload: Some(payload),
        });
    }

    /// `new-message` to the room but the members who blocked its sender (`blockers`).
    fn new_message(&self, room: RoomId, message: pb::Message, blockers: &[UserId]) {
        self.publish_to(
            Some(room),
            &[],
            blockers,
            None,
            Payload::NewMessage(pb::NewMessage {
                message: Some(message),
            }),
        );
    }

    /// `new-private-message` to both users but the socket that sent it.
    fn private_message(&self, message: pb::Message, users: &[UserId], origin: Option<String>) {
        self.publish_to(
            None,
            users,
            &[],
            origin,
            Payload::NewPrivateMessage(pb::NewPrivateMessage {
                message: Some(message),
            }),
        );
    }

    /// `message-updated` to the room but the members who blocked its author (`blockers`).
    fn message_updated(&self, room: RoomId, message: pb::Message, blockers: &[UserId]) {
        self.publish_to(
            Some(room),
            &[],
            blockers,
            None,
            Payload::MessageUpdated(pb::MessageUpdated {
                message: Some(message),
            }),
        );
    }

    /// `message-deleted` to the room; `attachments` (the files it held) are for media-svc,
    /// which follows this stream to remove them, and never reach clients.
    fn message_deleted(&self, room: RoomId, message: MessageId, attachments: &[AttachmentId]) {
        self.publish(
            Some(room),
            &[],
            Payload::MessageDeleted(pb::MessageDeleted {
                room_id: room.to_string(),
                message_id: message.to_string(),
                attachment_ids: attachments.iter().map(AttachmentId::to_string).collect(),
            }),
        );
    }

    fn messages_read(
        &self,
        room: RoomId,
        user: UserId,
        message: MessageId,
        at: chrono::DateTime<chrono::Utc>,
    ) {
        self.publish(
            Some(room),
            &[],
            Payload::MessagesRead(pb::MessagesRead {
                room_id: room.to_string(),
                user_id: user.to_string(),
                message_id: message.to_string(),
                read_at: Some(parley_common::time::to_timestamp(at)),
            }),
        );
    }

    /// `user-typing` to the room's other members; `exclude` names the typer and the
    /// members who blocked them.
    fn typing(
        &self,
        room: RoomId,
        user: UserId,
        username: &str,
        is_typing: bool,
        exclude: &[UserId],
    ) {
        self.publish_to(
            Some(room),
            &[],
            exclude,
            None,
            Payload::UserTyping(pb::UserTyping {
                room_id: room.to_string(),
                user_id: user.to_string(),
                username: username.to_owned(),
                is_typing,
            }),
        );
    }

    fn membership(&self, room: RoomId, added: &[UserId], removed: &[UserId]) {
        self.publish(
            None,
            &[],
            Payload::MembershipChanged(pb::MembershipChanged {
                room_id: room.to_string(),
                added_user_ids: added.iter().map(UserId::to_string).collect(),
                removed_user_ids: removed.iter().map(UserId::to_string).collect(),
            }),
        );
    }

    /// `room-created` to every member.
    fn room_created(&self, room: pb::Room, members: &[UserId]) {
        self.publish(
            None,
            members,
            Payload::RoomCreated(pb::RoomCreated { room: Some(room) }),
        );
    }

    /// `user-joined` to the room (the new member's sockets included).
    fn user_joined(&self, room: RoomId, user: pb::User) {
        self.publish(
            Some(room),
            &[],
            Payload::UserJoined(pb::UserJoined {
                room_id: room.to_string(),
                user: Some(user),
            }),
        );
    }

    /// `user-left` to the room and to the user who left.
    fn user_left(&self, room: RoomId, user: UserId) {
        self.publish(
            Some(room),
            &[user],
            Payload::UserLeft(pb::UserLeft {
                room_id: room.to_string(),
                user_id: user.to_string(),
            }),
        );
    }
}
