//! Making clients that may have missed events reconnect, so that they catch up with `sync`.
//!
//! A Socket.IO DISCONNECT packet will not do: the official client takes it as
//! `io server disconnect` and stays disconnected until the app reconnects it by hand. A
//! closed transport, on the other hand, is `transport close` or `ping timeout`, after which
//! it reconnects by itself. socketioxide closes transports only all at once, or when the
//! Engine.IO heartbeat fails, so:
//! - everyone: every transport is closed and the namespaces are registered again at once;
//! - one socket: its queue is kept full (with `probe` events, which clients ignore), so the
//!   next heartbeat ping cannot be queued and Engine.IO closes the transport, within one
//!   ping interval (25 s).

use std::time::Duration;

use socketioxide::{SocketIo, extract::SocketRef};

/// How long closing every transport may take before the namespaces come back anyway.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// How often a socket made to reconnect has its queue topped up.
const TOP_UP_EVERY: Duration = Duration::from_millis(200);

/// The event that fills a queue; clients have no handler for it and ignore it.
pub const PROBE_EVENT: &str = "probe";

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

/// Makes the client of `socket` reconnect by keeping its queue full until the heartbeat
/// closes the transport. Returns at once; the work runs until the socket is gone.
pub fn one(socket: SocketRef) {
    tokio::spawn(async move {
        // The task ends when the socket does, so it never keeps a socket alive.
        while socket.connected() {
            while socket.emit(PROBE_EVENT, &()).is_ok() {}
            tokio::time::sleep(TOP_UP_EVERY).await;
        }
    });
}
