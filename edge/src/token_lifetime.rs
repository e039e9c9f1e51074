//! A token is good for its lifetime, not the socket's (docs/API.md "Token lifetime"): a
//! socket whose token expired (past the leeway) gets `error { event: "auth", code:
//! "UNAUTHENTICATED" }` and its transport is closed, so that the official client reconnects
//! with the token its `auth` callback returns; `auth-refresh { token }` on any namespace
//! moves the expiry on for every socket of that user on the connection.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use socketioxide::extract::SocketRef;
use tokio::task::AbortHandle;

use crate::{
    auth::{Authenticator, Identity},
    client_events::{Raw, Signature},
    connections::{Connection, close_transport},
    error::{ApiError, ErrorCode},
    payload,
    reply::EventError,
    server_events::every::ERROR,
};

/// The client event that hands over a fresh token.
pub const REFRESH_EVENT: &str = "auth-refresh";

/// How long the `error` event has to reach the client before its transport closes.
const FAREWELL: Duration = Duration::from_millis(200);
/// The longest the watch sleeps at once: a token may claim an `exp` centuries away.
const LONGEST_WAIT: Duration = Duration::from_secs(24 * 60 * 60);

/// The expiry of a socket's token (Unix seconds), shared with the other sockets of its user
/// on the same connection.
#[derive(Clone)]
pub struct TokenExpiry(Arc<AtomicU64>);

/// The task that watches a socket's expiry; aborted when the socket goes, so that it never
/// keeps the socket alive.
#[derive(Clone)]
struct Watch(AbortHandle);

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

/// Starts watching the token of a socket that just connected.
pub fn watch(socket: &SocketRef, identity: &Identity, leeway: Duration) {
    let expiry = match Connection::of(socket) {
        Some(connection) => connection.token_expiry(identity.user_id, identity.expires_at),
        None => Arc::new(AtomicU64::new(identity.expires_at)),
    };
    socket.extensions.insert(TokenExpiry(expiry.clone()));
    let watched = socket.clone();
    let task = tokio::spawn(async move {
        loop {
            let deadline = expiry
                .load(Ordering::SeqCst)
                .saturating_add(leeway.as_secs());
            let now = now_secs();
            if now > deadline {
                break;
            }
            // A second past the deadline: the check above is strict.
            let wait = Duration::from_secs(deadline - now + 1).min(LONGEST_WAIT);
            tokio::time::sleep(wait).await;
        }
        expired(&watched).await;
    });
    socket.extensions.insert(Watch(task.abort_handle()));
}

/// Stops watching a socket that went.
pub fn unwatch(socket: &SocketRef) {
    if let Some(Watch(task)) = socket.extensions.get::<Watch>() {
        task.abort();
    }
}

/// Tells the client why, then closes its transport.
async fn expired(socket: &SocketRef) {
    crate::metrics::token_expired(socket.ns());
    let expired = ApiError::new(
        ErrorCode::Unauthenticated,
        "the token expired: reconnect with a fresh one",
    );
    if let Err(error) = ERROR.emit(socket, &EventError::of("auth", &expired)) {
        tracing::debug!(%error, "cannot tell a socket its token expired");
    }
    tokio::time::sleep(FAREWELL).await;
    close_transport(socket);
}

/// `auth-refresh`'s payload.
#[derive(Deserialize, JsonSchema)]
struct Refresh {
    /// A fresh token of the same user (a `Bearer ` prefix is tolerated).
    token: String,
}

/// `auth-refresh`'s ack.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Refreshed {
    /// The new expiry, for every socket of the user on the connection.
    expires_at: Option<String>,
}

/// `auth-refresh` as the schema lists it among each namespace's client events.
pub fn signature() -> Signature {
    Signature::of::<Refresh, Refreshed>(&[REFRESH_EVENT])
}

/// Answers `auth-refresh { token }`: the token must be valid and name the same user; the
/// ack's `data` is `{ expiresAt }`.
pub fn refresh(
    raw: Raw,
    socket: &SocketRef,
    me: &Identity,
    authenticator: &Authenticator,
) -> Result<Refreshed, ApiError> {
    let Refresh { token } = payload::parse(&raw)?;
    let token = token.strip_prefix("Bearer ").unwrap_or(&token);
    let fresh = authenticator
        .verify(token)
        .map_err(|_| ApiError::new(ErrorCode::Unauthenticated, "the token is not valid"))?;
    if fresh.user_id != me.user_id {
        return Err(ApiError::new(
            ErrorCode::PermissionDenied,
            "the token names another user",
        ));
    }
    let Some(TokenExpiry(expiry)) = socket.extensions.get::<TokenExpiry>() else {
        return Err(ApiError::new(
            ErrorCode::Internal,
            "the socket has no token",
        ));
    };
    // The watch task reads the new expiry when it wakes at the old one.
    expiry.fetch_max(fresh.expires_at, Ordering::SeqCst);
    let expires_at = expiry.load(Ordering::SeqCst);
    let expires_at = i64::try_from(expires_at)
        .ok()
        .and_then(|secs| chrono::DateTime::from_timestamp(secs, 0))
        .map(|at| at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    Ok(Refreshed { expires_at })
}
