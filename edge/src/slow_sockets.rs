//! Sockets that cannot keep up with their events.
//!
//! socketioxide queues a bounded number of packets per socket (`max_buffer_size`); an emit to
//! a socket whose queue is full is dropped, and a broadcast says how many sockets missed it,
//! not which. A socket that missed an event must not go on as if it had not: the edge finds
//! the full sockets among the recipients (a tiny `probe` event fails exactly on those) and
//! makes each client reconnect (see `resync`), so that it catches up with `sync`. A client
//! that never reads holds at most its queue until the Engine.IO heartbeat closes it.

use serde::Serialize;
use socketioxide::{
    BroadcastError, SendError, SocketError, adapter::LocalAdapter, extract::SocketRef,
    operators::BroadcastOperators,
};

use crate::{
    resync,
    server_events::{ServerEvent, every::PROBE},
};

/// Marks a socket that missed an event and is being made to reconnect.
#[derive(Clone, Copy)]
struct Lagging;

/// Emits `event` to everyone `to` names, serialized once; a socket that misses it because
/// its queue is full is made to resynchronise.
pub async fn emit<T: Serialize + ?Sized>(
    to: BroadcastOperators<LocalAdapter>,
    event: ServerEvent<T>,
    payload: &T,
) {
    let event = event.name();
    let recipients = to.clone();
    match to.emit(event, payload).await {
        Ok(()) => {}
        Err(BroadcastError::Socket(errors)) => {
            crate::metrics::emit_dropped(event);
            let full = errors
                .iter()
                .filter(|error| matches!(error, SocketError::InternalChannelFull))
                .count();
            if full > 0 {
                tracing::warn!(
                    event,
                    full,
                    "sockets too slow for their events; resyncing them"
                );
                resync_full(recipients.sockets(), full);
            }
        }
        Err(error) => {
            crate::metrics::emit_dropped(event);
            tracing::warn!(%error, event, "an event was not emitted");
        }
    }
}

/// Finds the `full` sockets among `recipients` that are not being resynced already, and
/// makes their clients reconnect.
fn resync_full(recipients: Vec<SocketRef>, full: usize) {
    let mut found = recipients
        .iter()
        .filter(|socket| socket.extensions.get::<Lagging>().is_some())
        .count();
    for socket in recipients {
        if found >= full {
            break;
        }
        if socket.extensions.get::<Lagging>().is_some() {
            continue;
        }
        if let Err(SendError::Socket(SocketError::InternalChannelFull)) = PROBE.emit(&socket, &()) {
            found += 1;
            socket.extensions.insert(Lagging);
            crate::metrics::socket_lagging(socket.ns());
            resync::one(&socket);
        }
    }
}
