//! Making clients that may have missed events reconnect, so that they catch up with `sync`.
//!
//! A Socket.IO DISCONNECT packet will not do: the official client takes it as
//! `io server disconnect` and stays disconnected until the app reconnects it by hand. A
//! closed transport, on the other hand, is `transport close`, after which it reconnects by
//! itself, whether or not it was reading meanwhile. So both close transports
//! (`connections`), of every client or of one socket's.

use socketioxide::{SocketIo, extract::SocketRef};

use crate::{connections::close_transport, namespaces::NAMESPACES};

/// Closes every client's transport; they all reconnect by themselves.
///
/// Each connection is closed as a lost one is, with its namespaces in place, so every
/// socket's disconnect handler runs (its presence session and call device end, its token
/// watch stops, the connection gauges fall). `SocketIo::close` would skip them: it takes
/// the namespaces away before it closes their sockets, and a presence session left in the
/// edge's lease would be renewed for a user long gone.
pub fn everyone(io: &SocketIo) {
    crate::metrics::everyone_resynced();
    for namespace in NAMESPACES {
        for socket in io
            .of(namespace)
            .map(|sockets| sockets.sockets())
            .unwrap_or_default()
        {
            close_transport(&socket);
        }
    }
}

/// Makes the client of `socket` reconnect (and catch up with `sync`): its transport is
/// closed.
pub fn one(socket: &SocketRef) {
    close_transport(socket);
}
