//! Every event the server emits, declared once per namespace with the type of its payload
//! (docs/API.md). The relay, the answers and the connect handlers emit through these
//! declarations, which take only a payload of the declared type, and `edge schema` lists
//! the same declarations as each namespace's `serverEvents`: what is emitted and what the
//! schema says cannot drift apart.

use std::marker::PhantomData;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::Serialize;
use serde_json::Value;
use socketioxide::{SendError, extract::SocketRef};

/// An event named `name` whose payload is a `T`.
pub struct ServerEvent<T: ?Sized> {
    name: &'static str,
    payload: PhantomData<fn(&T)>,
}

// Not derived: a derive would ask `T: Copy`, and the payload is never held.
impl<T: ?Sized> Clone for ServerEvent<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: ?Sized> Copy for ServerEvent<T> {}

impl<T: ?Sized> ServerEvent<T> {
    const fn new(name: &'static str) -> Self {
        Self {
            name,
            payload: PhantomData,
        }
    }

    pub fn name(self) -> &'static str {
        self.name
    }
}

impl<T: ?Sized> ServerEvent<T> {
    /// The same event, taking its payload as JSON: for an answer echoed as this event, whose
    /// `data` is JSON by then (the event table checks that its type is `T`).
    pub(crate) fn carrying_json(self) -> ServerEvent<Value> {
        ServerEvent::new(self.name)
    }
}

impl<T: Serialize + ?Sized> ServerEvent<T> {
    /// Emits the event to one socket.
    pub fn emit(self, socket: &SocketRef, payload: &T) -> Result<(), SendError> {
        socket.emit(self.name, payload)
    }

    /// Emits the event to one socket; a socket that went meanwhile is not an error worth
    /// more than a trace.
    pub fn send(self, socket: &SocketRef, payload: &T) {
        if let Err(error) = self.emit(socket, payload) {
            tracing::debug!(%error, event = self.name, "cannot emit to a socket");
        }
    }
}

/// A declared event as the schema lists it: its name and its payload's schema.
pub struct Declared {
    pub name: &'static str,
    pub payload: fn(&mut SchemaGenerator) -> Schema,
}

impl Declared {
    fn of<T: JsonSchema>(event: ServerEvent<T>) -> Self {
        Self {
            name: event.name,
            payload: SchemaGenerator::subschema_for::<T>,
        }
    }
}

/// Declares events as `CONST: "name" => Payload;` and `declared()`, their list.
macro_rules! declare {
    ($($(#[doc = $doc:literal])* $event:ident: $name:literal => $payload:ty;)*) => {
        $(
            $(#[doc = $doc])*
            pub const $event: ServerEvent<$payload> = ServerEvent::new($name);
        )*

        /// The events above, in their order.
        pub fn declared() -> Vec<Declared> {
            vec![$(Declared::of($event)),*]
        }
    };
}

/// The events of every namespace.
pub mod every {
    use super::{Declared, ServerEvent};
    use crate::reply::EventError;

    declare! {
        /// A failure of an event sent without an ack callback, or (`event: "auth"`) the
        /// token's expiry, 200 ms before the transport closes.
        ERROR: "error" => EventError;
        /// The tiny event that finds the sockets whose queue is full (it fails on exactly
        /// those); clients have no handler for it and ignore it (no payload).
        PROBE: "probe" => ();
    }
}

/// `/chat`'s events.
pub mod chat {
    use super::{Declared, ServerEvent};
    use crate::{
        client_events::MessageError,
        relay::chat::{MessageDeleted, MessagesRead, UserJoined, UserLeft, UserTyping},
        wire::{Message, MessageAnswer, RoomAnswer},
    };

    declare! {
        /// A room the user was made a member of when it was created.
        ROOM_CREATED: "room-created" => RoomAnswer;
        USER_JOINED: "user-joined" => UserJoined;
        USER_LEFT: "user-left" => UserLeft;
        /// A message of a room, to its members (not to the sending socket).
        NEW_MESSAGE: "new-message" => Message;
        /// A message of a direct room sent by `receiverId`, to the receiver and the sender's
        /// other sockets.
        NEW_PRIVATE_MESSAGE: "new-private-message" => Message;
        MESSAGE_UPDATED: "message-updated" => MessageAnswer;
        MESSAGE_DELETED: "message-deleted" => MessageDeleted;
        MESSAGES_READ: "messages-read" => MessagesRead;
        USER_TYPING: "user-typing" => UserTyping;
        /// A failed `send-message` sent without an ack callback (beside `error`).
        MESSAGE_ERROR: "message-error" => MessageError;
    }
}

/// `/status`'s events.
pub mod status {
    use super::{Declared, ServerEvent};
    use crate::wire::{FriendStatus, FriendStatusChanged, HeartbeatAck};

    declare! {
        /// To every `/status` socket of each friend, once per change of what they see.
        FRIEND_STATUS_CHANGED: "friend-status-changed" => FriendStatusChanged;
        /// `get-friends-status`'s answer, to the socket that asked.
        FRIENDS_STATUS: "friends-status" => Vec<FriendStatus>;
        /// `heartbeat`'s answer, to the socket that sent it.
        HEARTBEAT_ACK: "heartbeat-ack" => HeartbeatAck;
    }
}

/// `/friends`' events.
pub mod friends {
    use super::{Declared, ServerEvent};
    use crate::relay::friends::{
        FriendRemoved, FriendRequestAccepted, FriendRequestCancelled, FriendRequestReceived,
    };

    declare! {
        FRIEND_REQUEST_RECEIVED: "friend-request-received" => FriendRequestReceived;
        /// To both; `friend` is the other person for each.
        FRIEND_REQUEST_ACCEPTED: "friend-request-accepted" => FriendRequestAccepted;
        FRIEND_REQUEST_CANCELLED: "friend-request-cancelled" => FriendRequestCancelled;
        FRIEND_REMOVED: "friend-removed" => FriendRemoved;
    }
}

/// `/calls`' events.
pub mod calls {
    use super::{Declared, ServerEvent};
    use crate::calls_wire::{
        CallAnswered, CallDismissed, CallIce, CallIncoming, CallList, CallNegotiate, CallUpdate,
    };

    declare! {
        /// On connect: the user's live calls.
        CALLS_STATE: "calls-state" => CallList;
        /// A call rings this device.
        CALL_INCOMING: "call-incoming" => CallIncoming;
        /// To the calling device.
        CALL_ANSWERED: "call-answered" => CallAnswered;
        CALL_DISMISSED: "call-dismissed" => CallDismissed;
        CALL_ICE: "call-ice" => CallIce;
        CALL_NEGOTIATE: "call-negotiate" => CallNegotiate;
        /// The call became `ACTIVE`; also to the caller's other devices when the call is
        /// placed or answered.
        CALL_UPDATED: "call-updated" => CallUpdate;
        /// To every device of both, whatever ended it.
        CALL_ENDED: "call-ended" => CallUpdate;
    }
}

/// Every event the server emits on `namespace`: its own, then those of every namespace.
pub fn of(namespace: &str) -> Vec<Declared> {
    let own = match namespace {
        "/chat" => chat::declared(),
        "/status" => status::declared(),
        "/friends" => friends::declared(),
        "/calls" => calls::declared(),
        _ => Vec::new(),
    };
    own.into_iter().chain(every::declared()).collect()
}
