//! How often each user may send each class of client event (docs/API.md "Limits"): one
//! GCRA limiter per class, keyed by user, across all of the user's sockets on this edge.
//! Past it the event is answered `RATE_LIMITED` with `retryAfterMs`, without reaching a
//! service. The services keep their own limits on what costs them most (chat-svc's
//! messages per minute, for one), because internal callers reach them directly.

use std::sync::Arc;

use parley_common::rate_limit::RateLimit;
use uuid::Uuid;

use crate::{
    error::{ApiError, ErrorCode},
    token_lifetime::REFRESH_EVENT,
};

/// The classes of client events, each with its own limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventClass {
    Messages,
    Typing,
    Reads,
    History,
    Rooms,
    Uploads,
    FriendRequests,
    FriendLists,
    Status,
    Auth,
    CallInvites,
    CallIce,
    IceServers,
    CallSignaling,
}

impl EventClass {
    const ALL: [EventClass; 14] = [
        Self::Messages,
        Self::Typing,
        Self::Reads,
        Self::History,
        Self::Rooms,
        Self::Uploads,
        Self::FriendRequests,
        Self::FriendLists,
        Self::Status,
        Self::Auth,
        Self::CallInvites,
        Self::CallIce,
        Self::IceServers,
        Self::CallSignaling,
    ];

    /// The class of a client event; `None` for a name no namespace has.
    pub fn of(event: &str) -> Option<Self> {
        Some(match event {
            "send-message" | "edit-message" | "delete-message" => Self::Messages,
            "typing" | "typing-start" | "typing-stop" => Self::Typing,
            "mark-read" => Self::Reads,
            "get-history"
            | "sync"
            | "list-rooms"
            | "get-room"
            | "get-media-config"
            | "get-attachment-urls"
            | "list-attachments" => Self::History,
            "create-room" | "add-members" | "remove-member" | "join-room" | "join-user"
            | "leave-room" | "leave-user" => Self::Rooms,
            "create-upload" | "complete-upload" | "cancel-upload" => Self::Uploads,
            "send-friend-request"
            | "accept-friend-request"
            | "decline-friend-request"
            | "cancel-friend-request"
            | "remove-friend"
            | "block-user"
            | "unblock-user" => Self::FriendRequests,
            "list-friends" | "list-friend-requests" | "list-blocked" | "search-users" => {
                Self::FriendLists
            }
            "update-status" | "get-friends-status" | "heartbeat" => Self::Status,
            REFRESH_EVENT => Self::Auth,
            "call-invite" => Self::CallInvites,
            "call-ice" => Self::CallIce,
            "get-ice-servers" => Self::IceServers,
            "call-accept" | "call-decline" | "call-negotiate" | "call-connected"
            | "call-hangup" | "call-resume" | "list-calls" => Self::CallSignaling,
            _ => return None,
        })
    }

    /// Its name in metrics and docs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Messages => "messages",
            Self::Typing => "typing",
            Self::Reads => "reads",
            Self::History => "history",
            Self::Rooms => "rooms",
            Self::Uploads => "uploads",
            Self::FriendRequests => "friend-requests",
            Self::FriendLists => "friend-lists",
            Self::Status => "status",
            Self::Auth => "auth",
            Self::CallInvites => "call-invites",
            Self::CallIce => "call-ice",
            Self::IceServers => "ice-servers",
            Self::CallSignaling => "call-signaling",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Events per user per minute of each class, in bursts of as many; 0 turns a class's limit
/// off.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct EventLimitArgs {
    /// `send-message`, `edit-message`, `delete-message`.
    #[arg(
        long = "limit-messages",
        env = "PARLEY_LIMIT_MESSAGES",
        default_value_t = DEFAULTS.messages)]
    pub messages: u32,
    /// `typing`, `typing-start`, `typing-stop`.
    #[arg(
        long = "limit-typing",
        env = "PARLEY_LIMIT_TYPING",
        default_value_t = DEFAULTS.typing)]
    pub typing: u32,
    /// `mark-read`.
    #[arg(
        long = "limit-reads",
        env = "PARLEY_LIMIT_READS",
        default_value_t = DEFAULTS.reads)]
    pub reads: u32,
    /// `get-history`, `sync`, `list-rooms`, `get-room`, `get-media-config`,
    /// `get-attachment-urls`, `list-attachments`.
    #[arg(
        long = "limit-history",
        env = "PARLEY_LIMIT_HISTORY",
        default_value_t = DEFAULTS.history)]
    pub history: u32,
    /// `create-room`, `add-members`, `remove-member`, `join-room`, `leave-room`.
    #[arg(long = "limit-rooms", env = "PARLEY_LIMIT_ROOMS", default_value_t = DEFAULTS.rooms)]
    pub rooms: u32,
    /// `create-upload`, `complete-upload`, `cancel-upload`.
    #[arg(
        long = "limit-uploads",
        env = "PARLEY_LIMIT_UPLOADS",
        default_value_t = DEFAULTS.uploads)]
    pub uploads: u32,
    /// Sending, answering and cancelling friend requests; removing friends; blocks.
    #[arg(
        long = "limit-friend-requests",
        env = "PARLEY_LIMIT_FRIEND_REQUESTS",
        default_value_t = DEFAULTS.friend_requests)]
    pub friend_requests: u32,
    /// `list-friends`, `list-friend-requests`, `list-blocked`, `search-users`.
    #[arg(
        long = "limit-friend-lists",
        env = "PARLEY_LIMIT_FRIEND_LISTS",
        default_value_t = DEFAULTS.friend_lists)]
    pub friend_lists: u32,
    /// `update-status`, `get-friends-status`, `heartbeat`.
    #[arg(
        long = "limit-status",
        env = "PARLEY_LIMIT_STATUS",
        default_value_t = DEFAULTS.status)]
    pub status: u32,
    /// `auth-refresh`.
    #[arg(long = "limit-auth", env = "PARLEY_LIMIT_AUTH", default_value_t = DEFAULTS.auth)]
    pub auth: u32,
    /// `call-invite`.
    #[arg(
        long = "limit-call-invites",
        env = "PARLEY_LIMIT_CALL_INVITES",
        default_value_t = DEFAULTS.call_invites)]
    pub call_invites: u32,
    /// `call-ice` (each carries up to 20 candidates).
    #[arg(
        long = "limit-call-ice",
        env = "PARLEY_LIMIT_CALL_ICE",
        default_value_t = DEFAULTS.call_ice)]
    pub call_ice: u32,
    /// `get-ice-servers` (each mints TURN credentials).
    #[arg(
        long = "limit-ice-servers",
        env = "PARLEY_LIMIT_ICE_SERVERS",
        default_value_t = DEFAULTS.ice_servers)]
    pub ice_servers: u32,
    /// `call-accept`, `call-decline`, `call-negotiate`, `call-connected`, `call-hangup`,
    /// `call-resume`, `list-calls`.
    #[arg(
        long = "limit-call-signaling",
        env = "PARLEY_LIMIT_CALL_SIGNALING",
        default_value_t = DEFAULTS.call_signaling)]
    pub call_signaling: u32,
}

impl EventLimitArgs {
    /// Every class off (benchmarks and tests that load one user hard).
    pub fn off() -> Self {
        Self {
            messages: 0,
            typing: 0,
            reads: 0,
            history: 0,
            rooms: 0,
            uploads: 0,
            friend_requests: 0,
            friend_lists: 0,
            status: 0,
            auth: 0,
            call_invites: 0,
            call_ice: 0,
            ice_servers: 0,
            call_signaling: 0,
        }
    }

    fn per_minute(&self, class: EventClass) -> u32 {
        match class {
            EventClass::Messages => self.messages,
            EventClass::Typing => self.typing,
            EventClass::Reads => self.reads,
            EventClass::History => self.history,
            EventClass::Rooms => self.rooms,
            EventClass::Uploads => self.uploads,
            EventClass::FriendRequests => self.friend_requests,
            EventClass::FriendLists => self.friend_lists,
            EventClass::Status => self.status,
            EventClass::Auth => self.auth,
            EventClass::CallInvites => self.call_invites,
            EventClass::CallIce => self.call_ice,
            EventClass::IceServers => self.ice_servers,
            EventClass::CallSignaling => self.call_signaling,
        }
    }
}

/// The default of each class: far above what a person sends, so that an honest client is
/// never refused (the official-client flows run with them). Uploads: a file takes two events
/// (create, complete), so 60 lets a person share 30 files a minute; media-svc's own limits
/// on uploads and storage apply besides. Calls: 6 invites a minute is a person redialling
/// hard (calls-svc also caps unanswered calls per pair); ICE trickles in bursts, 180 a
/// minute covers a call's gathering and an ICE restart or two.
pub const DEFAULTS: EventLimitArgs = EventLimitArgs {
    messages: 120,
    typing: 120,
    reads: 120,
    history: 120,
    rooms: 30,
    uploads: 60,
    friend_requests: 30,
    friend_lists: 60,
    status: 60,
    auth: 10,
    call_invites: 6,
    call_ice: 180,
    ice_servers: 20,
    call_signaling: 60,
};

impl Default for EventLimitArgs {
    fn default() -> Self {
        DEFAULTS
    }
}

/// The limiters of every class, in [`EventClass::ALL`] order.
#[derive(Clone)]
pub struct EventLimits(Arc<[RateLimit<Uuid>; EventClass::ALL.len()]>);

impl EventLimits {
    /// Limiters as `args` sets them; each forgets idle users until it is dropped.
    pub fn new(args: &EventLimitArgs) -> Self {
        Self(Arc::new(
            EventClass::ALL.map(|class| RateLimit::per_minute(args.per_minute(class))),
        ))
    }

    /// Takes one event of `class` from `user`'s allowance, or says when to retry.
    pub fn check(&self, class: EventClass, user: Uuid) -> Result<(), ApiError> {
        let Some(limit) = self.0.get(class.index()) else {
            return Ok(());
        };
        limit.check(&user).map_err(|wait_ms| {
            crate::metrics::event_limited(class.as_str());
            let mut error = ApiError::new(
                ErrorCode::RateLimited,
                format!("too many {} events; slow down", class.as_str()),
            );
            error.retry_after_ms = Some(wait_ms);
            error
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{client_events::names, namespaces::NAMESPACES};

    #[test]
    fn every_client_event_has_a_class() {
        for namespace in NAMESPACES {
            for event in names(namespace) {
                assert!(EventClass::of(event).is_some(), "{namespace} {event}");
            }
        }
        assert_eq!(EventClass::of(REFRESH_EVENT), Some(EventClass::Auth));
    }

    #[test]
    fn the_classes_are_listed_in_index_order() {
        for (index, class) in EventClass::ALL.iter().enumerate() {
            assert_eq!(class.index(), index);
        }
    }

    #[tokio::test]
    async fn past_its_burst_a_user_waits_and_another_user_does_not() {
        let args = EventLimitArgs {
            rooms: 2,
            ..EventLimitArgs::off()
        };
        let limits = EventLimits::new(&args);
        let (alice, bob) = (Uuid::from_u128(1), Uuid::from_u128(2));
        assert!(limits.check(EventClass::Rooms, alice).is_ok());
        assert!(limits.check(EventClass::Rooms, alice).is_ok());
        let refused = limits.check(EventClass::Rooms, alice).err();
        assert_eq!(
            refused.as_ref().map(|e| e.code),
            Some(ErrorCode::RateLimited)
        );
        assert!(
            refused
                .and_then(|e| e.retry_after_ms)
                .is_some_and(|ms| ms > 0)
        );
        assert!(limits.check(EventClass::Rooms, bob).is_ok());
        assert!(limits.check(EventClass::Messages, alice).is_ok(), "off");
    }
}
