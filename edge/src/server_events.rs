//! Every event the server emits, declared once per namespace with the type of its payload
//! (docs/API.md). The relay, the answers and the connect handlers emit through these
//! declarations, which take only a payload of the declared type, and `edge schema` lists
//! the same declarations as each namespace's `serverEvents`: what is emitted and what the
//! schema says cannot drift apart.

use std::marker::PhantomData;

use schemars::{JsonSchema, SchemaGenerator};
use serde::Serialize;
use serde_json::Value;
use socketioxide::{SendError, extract::SocketRef};

use crate::client_events::SchemaFn;

/// An event named `name` of `namespace` (`None`: of every namespace) whose payload is a `T`.
pub struct ServerEvent<T: ?Sized> {
    namespace: Option<&'static str>,
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
    const fn new(namespace: Option<&'static str>, name: &'static str) -> Self {
        Self {
            namespace,
            name,
            payload: PhantomData,
        }
    }

    pub fn name(self) -> &'static str {
        self.name
    }

    /// The namespace whose sockets get it; `None` for an event of every namespace, which
    /// goes to one socket at a time (`emit`), never to rooms.
    pub fn namespace(self) -> Option<&'static str> {
        self.namespace
    }

    /// The same event, taking its payload as JSON: for an answer echoed as this event, whose
    /// `data` is JSON by then (the event table checks that its type is `T`).
    pub(crate) fn carrying_json(self) -> ServerEvent<Value> {
        ServerEvent::new(self.namespace, self.name)
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
    pub payload: SchemaFn,
}

impl Declared {
    fn of<T: JsonSchema>(event: ServerEvent<T>) -> Self {
        Self {
            name: event.name,
            payload: SchemaGenerator::subschema_for::<T>,
        }
    }
}

/// Declares the events of a namespace (`Some(NAMESPACE)`, or `None` for every namespace)
/// as `CONST: "name" => Payload;`, and `declared()`, their list.
macro_rules! declare {
    ($namespace:expr; $($(#[doc = $doc:literal])* $event:ident: $name:literal => $payload:ty;)*) => {
        $(
            $(#[doc = $doc])*
            pub const $event: ServerEvent<$payload> = ServerEvent::new($namespace, $name);
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
        None;
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

    pub const NAMESPACE: &str = "/chat";

    declare! {
        Some(NAMESPACE);
        /// A room the user was made a member of when it was created.
        ROOM_CREATED: "room-created" => RoomAnswer;
        USER_JOINED: "user-joined" => UserJoined;
        USER_LEFT: "user-left" => UserLeft;
        /// A message of a room, to its members (but those who blocked its sender).
        NEW_MESSAGE: "new-message" => Message;
        /// A direct message, to the receiver and the sender's other sockets.
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

    pub const NAMESPACE: &str = "/status";

    declare! {
        Some(NAMESPACE);
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

    pub const NAMESPACE: &str = "/friends";

    declare! {
        Some(NAMESPACE);
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

    pub const NAMESPACE: &str = "/calls";

    declare! {
        Some(NAMESPACE);
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
        chat::NAMESPACE => chat::declared(),
        status::NAMESPACE => status::declared(),
        friends::NAMESPACE => friends::declared(),
        calls::NAMESPACE => calls::declared(),
        _ => Vec::new(),
    };
    own.into_iter().chain(every::declared()).collect()
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashMap};

    use super::*;
    use crate::{client_events, namespaces::NAMESPACES};

    /// The event names docs/API.md writes in each namespace's section: the first word of
    /// each code span that is a hyphenated lower-case name (`user-typing { … }`).
    fn documented_names() -> HashMap<String, BTreeSet<String>> {
        client_events::tests::documented(|line| {
            let spans = line.split('`').skip(1).step_by(2);
            let words = spans.filter_map(|span| span.split_whitespace().next());
            let events = words.filter(|word| {
                word.contains('-')
                    && word.split('-').all(|part| {
                        !part.is_empty() && part.bytes().all(|byte| byte.is_ascii_lowercase())
                    })
            });
            events.collect()
        })
    }

    #[test]
    fn each_namespace_declares_the_events_docs_api_md_says_it_emits() {
        let documented = documented_names();
        let every: BTreeSet<&str> = every::declared().iter().map(|event| event.name).collect();
        // docs/API.md names client events of other namespaces too (`send-message` in
        // `/calls`).
        let client: BTreeSet<&str> = NAMESPACES
            .into_iter()
            .flat_map(client_events::names)
            .collect();
        for namespace in NAMESPACES {
            let own: BTreeSet<String> = of(namespace)
                .into_iter()
                .map(|event| event.name)
                .filter(|name| !every.contains(name))
                .map(str::to_owned)
                .collect();
            // A name of the section that is no client event is an event the server emits;
            // `call-ice` and `call-negotiate` are both.
            let emitted: BTreeSet<String> = documented
                .get(namespace)
                .into_iter()
                .flatten()
                .filter(|name| !client.contains(name.as_str()) || own.contains(*name))
                .cloned()
                .collect();
            assert_eq!(
                own, emitted,
                "{namespace}: the declared server events and docs/API.md differ"
            );
        }
    }

    #[test]
    fn no_name_is_declared_twice_on_a_namespace() {
        for namespace in NAMESPACES {
            let names: Vec<&str> = of(namespace).iter().map(|event| event.name).collect();
            let unique: BTreeSet<&&str> = names.iter().collect();
            assert_eq!(unique.len(), names.len(), "{namespace}");
        }
    }
}
