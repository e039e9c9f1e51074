//! Making clients that may have missed events reconnect, so that they catch up with `sync`.
//!
//! A Socket.IO DISCONNECT packet will not do: the official client takes it as
//! `io server disconnect` and stays disconnected until the app reconnects it by hand. A
//! closed transport, on the other hand, is `transport close`, after which it reconnects by
//! itself, whether or not it was reading meanwhile:
//! - everyone: every transport is closed and the namespaces are registered again at once;
//! - one socket: the transport of its connection is closed (`connections`).

use std::time::Duration;

use socketioxide::{SocketIo, extract::SocketRef};

use crate::connections::close_transport;

/// How long closing every transport may take before the namespaces come back anyway.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Closes every client's transport (they all reconnect by themselves) and serves the
/// namespaces again for their reconnections.
pub async fn everyone(io: &SocketIo) {
    crate::metrics::everyone_resynced();
    if tokio::time::timeout(CLOSE_TIMEOUT, io.close())
        .await
        .is_err()
    {
        tracing::warn!("some transports did not close in time");
    }
    crate::namespaces::register(io);
}

/// Makes the client of `socket` reconnect (and catch up with `sync`): its transport is
/// closed.
pub fn one(socket: &SocketRef) {
    close_transport(socket);
}
