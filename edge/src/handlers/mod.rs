//! The Socket.IO namespaces: the handshake's authentication, and what every socket gets.

use std::sync::Arc;

use parley_common::ErrorCode;
use serde_json::Value;
use socketioxide::{
    SocketIo,
    extract::{SocketRef, State, TryData},
    handler::ConnectHandler,
    socket::DisconnectReason,
};

use crate::{
    auth::{Authenticator, Unauthenticated},
    error::ApiError,
    reply::Reply,
};

/// The namespaces of PROTOCOL.md; one client multiplexes them over one connection.
pub const NAMESPACES: [&str; 3] = ["/chat", "/status", "/friends"];

/// Registers every namespace behind the JWT check.
pub fn register(io: &SocketIo) {
    for namespace in NAMESPACES {
        io.ns(namespace, on_connect.with(authenticate));
    }
}

/// Connect middleware: admits a socket only with a valid token in its handshake's
/// `auth.token`, and keeps who it is in the socket's extensions. A refusal reaches the client
/// as `connect_error` whose message is exactly `UNAUTHENTICATED`.
async fn authenticate(
    socket: SocketRef,
    State(authenticator): State<Arc<Authenticator>>,
    TryData(auth): TryData<Value>,
) -> Result<(), Unauthenticated> {
    let token = auth
        .ok()
        .as_ref()
        .and_then(|auth| auth.get("token"))
        .and_then(Value::as_str)
        .map(|token| token.strip_prefix("Bearer ").unwrap_or(token).to_owned());
    let verified = token
        .ok_or(Unauthenticated)
        .and_then(|token| authenticator.verify(&token));
    match verified {
        Ok(identity) => {
            socket.extensions.insert(identity);
            Ok(())
        }
        Err(refused) => {
            crate::metrics::connection_refused(socket.ns());
            Err(refused)
        }
    }
}

async fn on_connect(socket: SocketRef) {
    crate::metrics::connections_changed(socket.ns(), 1.0);
    socket.on_fallback(unknown_event);
    socket.on_disconnect(async |socket: SocketRef, _: DisconnectReason| {
        crate::metrics::connections_changed(socket.ns(), -1.0);
    });
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
