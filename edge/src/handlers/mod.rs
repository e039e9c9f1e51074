//! The Socket.IO namespaces: the handshake's authentication, what every socket gets, and the
//! event handlers of each namespace.

pub(crate) mod chat;
pub(crate) mod friends;
pub(crate) mod status;

pub use chat::{chat_room, own_socket};

use std::{fmt::Debug, future::Future, sync::Arc};

use parley_common::ErrorCode;
use parley_proto::friends::v1::UpsertUserRequest;
use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;
use socketioxide::{
    ParserError, SocketIo,
    extract::{SocketRef, State, TryData},
    handler::ConnectHandler,
    socket::DisconnectReason,
};
use tracing::Instrument;

use crate::{
    auth::{Authenticator, Identity},
    backends::Backends,
    error::ApiError,
    known_users::KnownUsers,
    payload,
    reply::Reply,
    sessions::{EdgeId, Sessions},
};

/// The namespaces of docs/API.md; one client multiplexes them over one connection.
pub const NAMESPACES: [&str; 3] = ["/chat", "/status", "/friends"];

/// The socketioxide room that holds every socket of one user in a namespace: events for a
/// user are emitted to it, so all their devices receive them.
pub fn user_room(user_id: &str) -> String {
    format!("user:{user_id}")
}

/// Registers every namespace behind the JWT check.
pub fn register(io: &SocketIo) {
    for namespace in NAMESPACES {
        io.ns(namespace, on_connect.with(authenticate));
    }
}

/// Why a handshake was refused; its text is all the client learns (`connect_error`'s
/// message).
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.as_str())]
struct Refused(ErrorCode);

/// Connect middleware: admits a socket only with a valid token in its handshake's
/// `auth.token`, records the user with friends-svc (that is how users become known), and
/// keeps who it is in the socket's extensions.
async fn authenticate(
    socket: SocketRef,
    State(authenticator): State<Arc<Authenticator>>,
    State(backends): State<Backends>,
    State(known_users): State<Arc<KnownUsers>>,
    TryData(auth): TryData<Value>,
) -> Result<(), Refused> {
    let Some(mut identity) = auth
        .ok()
        .and_then(|auth| authenticator.identify(&auth).ok())
    else {
        crate::metrics::connection_refused(socket.ns());
        return Err(Refused(ErrorCode::Unauthenticated));
    };

    match record_user(&backends, &known_users, &identity).await {
        Ok(stored_username) => identity.username = stored_username,
        Err(code) => {
            crate::metrics::connection_refused(socket.ns());
            return Err(Refused(code));
        }
    }
    socket.extensions.insert(identity);
    Ok(())
}

/// Records the user with friends-svc, unless this edge did so recently with the same claims,
/// and returns the stored username: it carries a suffix when another user holds the token's
/// name.
async fn record_user(
    backends: &Backends,
    known_users: &KnownUsers,
    identity: &Identity,
) -> Result<String, ErrorCode> {
    if let Some(stored_username) = known_users.stored_username(identity) {
        return Ok(stored_username);
    }
    let upsert = UpsertUserRequest {
        id: identity.user_id.to_string(),
        username: identity.username.clone(),
        avatar: identity.avatar.clone(),
        issued_at: identity.issued_at,
    };
    let recorded = backends
        .friends
        .clone()
        .upsert_user(backends.request(upsert))
        .await
        .map_err(|status| {
            let error = ApiError::from(status);
            tracing::warn!(code = %error.code, "cannot record the connecting user");
            match error.code {
                // The token's name is unusable (nothing printable): the token is at fault.
                ErrorCode::InvalidArgument => ErrorCode::Unauthenticated,
                _ => ErrorCode::Unavailable,
            }
        })?;
    let stored_username = recorded
        .into_inner()
        .user
        .map_or_else(|| identity.username.clone(), |user| user.username);
    known_users.remember(identity, stored_username.clone());
    Ok(stored_username)
}

async fn on_connect(
    socket: SocketRef,
    State(backends): State<Backends>,
    State(edge): State<EdgeId>,
    State(sessions): State<Arc<Sessions>>,
) {
    crate::metrics::connections_changed(socket.ns(), 1.0);
    // The middleware admitted the socket with its identity, so this always holds.
    let Some(identity) = socket.extensions.get::<Identity>() else {
        return;
    };
    socket.join(user_room(&identity.user_id.to_string()));
    socket.on_fallback(unknown_event);
    socket.on_disconnect(on_disconnect);
    match socket.ns() {
        "/friends" => friends::register(&socket),
        "/chat" => chat::connected(&socket, &identity, &backends).await,
        "/status" => status::connected(&socket, &identity, &backends, &edge, &sessions).await,
        _ => {}
    }
}

async fn on_disconnect(
    socket: SocketRef,
    _: DisconnectReason,
    State(backends): State<Backends>,
    State(sessions): State<Arc<Sessions>>,
) {
    crate::metrics::connections_changed(socket.ns(), -1.0);
    if socket.ns() == "/status" {
        status::disconnected(&socket, &backends, &sessions).await;
    }
}

/// An event no handler of this namespace knows gets a clear error, not silence.
async fn unknown_event(reply: Reply) {
    let reply = reply.unknown_event();
    let error = ApiError::new(
        ErrorCode::InvalidArgument,
        format!(
            "unknown event \"{}\" on namespace {}",
            reply.event(),
            reply.socket().ns()
        ),
    );
    reply.fail(&error);
}

/// Answers one client event: parses its payload as `P`, runs `call` with it, and replies with
/// the outcome (ack envelope, or `error` event without an ack).
async fn answer<P, T, F, Fut>(reply: Reply, raw: Result<Value, ParserError>, call: F)
where
    P: DeserializeOwned,
    T: Serialize,
    F: FnOnce(P) -> Fut,
    Fut: Future<Output = Result<T, ApiError>>,
{
    let span = event_span(&reply, &raw);
    let outcome = run(raw, call).instrument(span.clone()).await;
    record_outcome(&span, &outcome);
    reply.send(outcome);
}

/// The span of one client event: the root of its trace, and the parent of the gRPC calls it
/// makes (their trace context is taken from it). No payload content, no token.
pub(crate) fn event_span(reply: &Reply, raw: &Result<Value, ParserError>) -> tracing::Span {
    let room_id = raw.as_ref().ok().and_then(|payload| {
        payload
            .get("roomId")
            .or_else(|| payload.get("chatRoomId"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    });
    let span = tracing::info_span!(
        "socket.event",
        otel.name = reply.event(),
        otel.kind = "server",
        event = reply.event(),
        namespace = reply.socket().ns(),
        room_id = room_id.as_deref(),
        outcome = tracing::field::Empty,
        trace_id = tracing::field::Empty,
    );
    parley_common::propagation::record_trace_id(&span);
    span
}

/// Notes on the event's span how it ended: `OK` or the client-facing error code.
pub(crate) fn record_outcome<T>(span: &tracing::Span, outcome: &Result<T, ApiError>) {
    let code = outcome
        .as_ref()
        .map_or_else(|error| error.code.as_str(), |_| "OK");
    span.record("outcome", code);
}

/// Parses an event's payload as `P` and runs `call` with it.
async fn run<P, T, F, Fut>(raw: Result<Value, ParserError>, call: F) -> Result<T, ApiError>
where
    P: DeserializeOwned,
    F: FnOnce(P) -> Fut,
    Fut: Future<Output = Result<T, ApiError>>,
{
    call(payload::parse::<P>(raw)?).await
}

/// A client event's payload as the edge receives it.
type Raw = Result<Value, ParserError>;

/// What the edge makes of a client event's payload before any backend sees it: the gRPC
/// request it would send, or the error the client gets. The fuzz targets check the steps
/// through it (`crate::fuzzing`).
pub type Decoded = Result<Box<dyn Debug>, ApiError>;

/// Parses `raw` as `P` and builds the request from it, as the event's handler does (`run`,
/// then the first line of its call).
fn decoded<P, R>(raw: Raw, build: impl FnOnce(P) -> Result<R, ApiError>) -> Decoded
where
    P: DeserializeOwned,
    R: Debug + 'static,
{
    let request = build(payload::parse::<P>(raw)?)?;
    Ok(Box::new(request))
}

#[cfg(test)]
mod tests {
    use parley_common::ErrorCode;
    use serde_json::json;
    use uuid::Uuid;

    use super::*;

    fn me() -> Identity {
        Identity {
            user_id: Uuid::from_u128(7),
            username: "me".into(),
            avatar: None,
            issued_at: None,
        }
    }

    fn chat(event: &str, payload: Value) -> Option<Decoded> {
        chat::decode(event, Ok(payload), &me(), "socket")
    }

    #[test]
    fn every_protocol_event_has_a_decoder() {
        for event in chat::EVENTS {
            assert!(chat(event, Value::Null).is_some(), "/chat {event}");
        }
        for event in status::EVENTS {
            let decoded = status::decode(event, Ok(Value::Null), &me(), "session", "edge");
            assert!(decoded.is_some(), "/status {event}");
        }
        for event in friends::EVENTS {
            let decoded = friends::decode(event, Ok(Value::Null), &me());
            assert!(decoded.is_some(), "/friends {event}");
        }
        assert!(chat("update-status", Value::Null).is_none());
    }

    #[test]
    fn a_message_goes_to_a_room_or_a_person_not_both() {
        let room = Uuid::from_u128(1);
        let both = json!({ "chatRoomId": room, "receiverId": room, "content": "hi" });
        let error = chat("send-message", both).and_then(Result::err);
        assert_eq!(
            error.map(|error| error.code),
            Some(ErrorCode::InvalidArgument)
        );
        let to_room = json!({ "chatRoomId": room, "content": "hi" });
        assert!(matches!(chat("send-message", to_room), Some(Ok(_))));
    }

    #[test]
    fn history_takes_at_most_one_cursor() {
        let room = Uuid::from_u128(1);
        let two = json!({ "roomId": room, "before": room, "offset": 3 });
        let error = chat("get-history", two).and_then(Result::err);
        assert_eq!(
            error.map(|error| error.message),
            Some("payload: give at most one of before, after and offset".to_owned())
        );
    }
}
