//! What presence-svc speaks about, validated once where a request enters: users, sessions,
//! edges and statuses. No I/O, no clock: the rules over time live in [`crate::state`].

use chrono::{DateTime, Utc};
pub use parley_common::ids::UserId;

use crate::error::Error;

/// Longest session or edge id: edges send a UUID or `edge-<hex>`; the bound keeps a broken
/// edge from filling memory with one id.
pub const MAX_ID_BYTES: usize = 128;

/// A session as the edge names it (one socket of one device). Any text of 1–128 bytes: the
/// edge chooses it, presence-svc only compares it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionId(String);

/// An edge as it names itself (`edge-<hex>`), whose lease keeps its sessions alive. Any text
/// of 1–128 bytes, like a session id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EdgeId(String);

impl SessionId {
    /// Reads the id from the text of request field `field`.
    pub fn parse(field: &str, text: &str) -> Result<Self, Error> {
        bounded(field, text).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl EdgeId {
    /// Reads the id from the text of request field `field`.
    pub fn parse(field: &str, text: &str) -> Result<Self, Error> {
        bounded(field, text).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn bounded(field: &str, text: &str) -> Result<String, Error> {
    if text.is_empty() || text.len() > MAX_ID_BYTES {
        return Err(Error::invalid(
            field,
            format!("must be 1–{MAX_ID_BYTES} bytes"),
        ));
    }
    Ok(text.to_owned())
}

/// A status as users choose it and as friends see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Online,
    Away,
    DoNotDisturb,
    Invisible,
    Offline,
}

impl Status {
    /// What friends see of a user who chose `self` and is connected.
    pub fn shown(self) -> Status {
        match self {
            Status::Invisible => Status::Offline,
            other => other,
        }
    }

    /// `self`, if a user may choose it: `Offline` is what only absence gives.
    pub fn choosable(self) -> Result<Status, Error> {
        if self == Status::Offline {
            return Err(Error::invalid(
                "status",
                "must be ONLINE, AWAY, DO_NOT_DISTURB or INVISIBLE",
            ));
        }
        Ok(self)
    }

    /// The name stored in the database and sent to clients.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Online => "ONLINE",
            Status::Away => "AWAY",
            Status::DoNotDisturb => "DO_NOT_DISTURB",
            Status::Invisible => "INVISIBLE",
            Status::Offline => "OFFLINE",
        }
    }

    pub fn parse(text: &str) -> Option<Status> {
        Some(match text {
            "ONLINE" => Status::Online,
            "AWAY" => Status::Away,
            "DO_NOT_DISTURB" => Status::DoNotDisturb,
            "INVISIBLE" => Status::Invisible,
            "OFFLINE" => Status::Offline,
            _ => return None,
        })
    }
}

/// A friend as `get-friends-status` shows them.
#[derive(Debug, Clone)]
pub struct FriendView {
    pub user_id: UserId,
    pub username: String,
    pub status: Status,
    pub last_seen: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Status; 5] = [
        Status::Online,
        Status::Away,
        Status::DoNotDisturb,
        Status::Invisible,
        Status::Offline,
    ];

    fn refusal(parsed: Result<SessionId, Error>) -> Option<String> {
        parsed.err().map(|error| error.to_string())
    }

    #[test]
    fn a_session_id_is_1_to_128_bytes_and_the_error_names_its_field() {
        assert_eq!(
            refusal(SessionId::parse("session_id", "")).as_deref(),
            Some("session_id: must be 1–128 bytes")
        );
        assert!(refusal(SessionId::parse("session_id", &"é".repeat(65))).is_some());
        assert_eq!(
            SessionId::parse("session_id", &"a".repeat(128))
                .ok()
                .map(|id| id.as_str().len()),
            Some(128)
        );
    }

    #[test]
    fn every_status_reads_back_from_its_name() {
        for status in ALL {
            assert_eq!(Status::parse(status.as_str()), Some(status));
        }
        assert_eq!(Status::parse("online"), None);
    }

    #[test]
    fn only_absence_makes_a_user_offline_and_invisible_is_shown_as_offline() {
        assert!(Status::Offline.choosable().is_err());
        assert!(
            ALL.iter()
                .filter(|status| **status != Status::Offline)
                .all(|status| status.choosable().is_ok())
        );
        assert_eq!(Status::Invisible.shown(), Status::Offline);
        assert_eq!(Status::Away.shown(), Status::Away);
    }
}
