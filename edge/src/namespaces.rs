//! The Socket.IO namespaces: the handshake's authentication, and what a socket gets when it
//! connects and when it goes. Its events are answered by `client_events`.

use std::sync::Arc;

use parley_proto::friends::v1::UpsertUserRequest;
use serde_json::Value;
use socketioxide::{
    SocketIo,
    extract::{SocketRef, State, TryData},
    handler::ConnectHandler,
    socket::DisconnectReason,
};

use crate::{
    auth::{Authenticator, Identity},
    backends::Backends,
    call_devices::{self, CallSockets},
    client_events,
    connections::{Connection, close_transport},
    error::{ApiError, ErrorCode},
    known_users::KnownUsers,
    rooms,
    sessions::{self, EdgeId, Sessions},
    token_lifetime,
};

/// The namespaces of docs/API.md; one client multiplexes them over one connection.
pub const NAMESPACES: [&str; 4] = ["/chat", "/status", "/friends", "/calls"];

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
/// `auth.token` and within its connection's allowance of namespace connects, records the
/// user with friends-svc (that is how users become known), keeps who it is in the socket's
/// extensions, and puts it in its rooms. The connect is acknowledged after this returns, so
/// an event committed after the acknowledgement finds the socket in its rooms, and one
/// committed before it is in the client's `sync`.
async fn authenticate(
    socket: SocketRef,
    State(authenticator): State<Arc<Authenticator>>,
    State(backends): State<Backends>,
    State(known_users): State<Arc<KnownUsers>>,
    TryData(auth): TryData<Value>,
) -> Result<(), Refused> {
    if let Some(connection) = Connection::of(&socket)
        && connection.admit_namespace_connect().is_err()
    {
        crate::metrics::connection_refused(socket.ns());
        return Err(Refused(ErrorCode::RateLimited));
    }
    let auth = auth.ok();
    let Some(mut identity) = auth
        .as_ref()
        .and_then(|auth| authenticator.identify(auth).ok())
    else {
        crate::metrics::connection_refused(socket.ns());
        return Err(Refused(ErrorCode::Unauthenticated));
    };
    // Only `/calls` routes by device; the other namespaces ignore `deviceId`.
    let device = match socket.ns() {
        "/calls" => match call_devices::device_of(auth.as_ref(), socket.id.as_str()) {
            Ok(device) => Some(device),
            Err(_) => {
                crate::metrics::connection_refused(socket.ns());
                return Err(Refused(ErrorCode::InvalidArgument));
            }
        },
        _ => None,
    };

    match record_user(&backends, &known_users, &identity).await {
        Ok(stored_username) => identity.username = stored_username,
        Err(code) => {
            crate::metrics::connection_refused(socket.ns());
            return Err(Refused(code));
        }
    }
    socket.join(rooms::user_room(&identity.user_id.to_string()));
    if let Some(device) = device {
        socket.join(rooms::device_room(&identity.user_id.to_string(), &device.0));
        socket.extensions.insert(device);
    }
    if socket.ns() == "/chat"
        && rooms::join_chat_rooms(&socket, &identity, &backends)
            .await
            .is_err()
    {
        // A socket that is in none of its rooms would be connected and deaf: its client
        // reconnects (and lists again) once the transport is closed. A refused connect
        // would not do, as the official client does not retry one by itself.
        close_transport(&socket);
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
    State(authenticator): State<Arc<Authenticator>>,
    State(backends): State<Backends>,
    State(edge): State<EdgeId>,
    State(sessions): State<Arc<Sessions>>,
    State(call_sockets): State<Arc<CallSockets>>,
) {
    crate::metrics::connections_changed(socket.ns(), 1.0);
    // The middleware admitted the socket with its identity, so this always holds.
    let Some(identity) = socket.extensions.get::<Identity>() else {
        return;
    };
    socket.on_fallback(client_events::answer);
    socket.on_disconnect(on_disconnect);
    token_lifetime::watch(&socket, &identity, authenticator.leeway());
    if socket.ns() == "/status" {
        sessions::open(&socket, &identity, &backends, &edge, &sessions).await;
    }
    if socket.ns() == "/calls" {
        call_devices::open(&socket, &identity, &backends, &edge, &call_sockets).await;
    }
}

async fn on_disconnect(
    socket: SocketRef,
    _: DisconnectReason,
    State(backends): State<Backends>,
    State(sessions): State<Arc<Sessions>>,
    State(edge): State<EdgeId>,
    State(call_sockets): State<Arc<CallSockets>>,
) {
    crate::metrics::connections_changed(socket.ns(), -1.0);
    token_lifetime::unwatch(&socket);
    if socket.ns() == "/status" {
        sessions::close(&socket, &backends, &sessions).await;
    }
    if socket.ns() == "/calls" {
        call_devices::close(&socket, &backends, &edge, &call_sockets).await;
    }
}
