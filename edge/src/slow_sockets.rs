//! Sockets that cannot keep up with their events.
//!
//! socketioxide queues a bounded number of packets per socket (`max_buffer_size`); an emit to
//! a socket whose queue is full is dropped, and a broadcast says how many sockets missed it,
//! not which. A socket that missed an event must not go on as if it had not: the edge finds
//! the full sockets among the recipients (a tiny `probe` event fails exactly on those) and
//! disconnects each as soon as its queue has room for the disconnect packet, so that the
//! client reconnects and catches up with `sync`. A client that never reads never has room:
//! the Engine.IO heartbeat closes it, and until then it holds at most its queue.

use std::time::Duration;

use serde::Serialize;
use socketioxide::{
    BroadcastError, SendError, SocketError, adapter::LocalAdapter, extract::SocketRef,
    operators::BroadcastOperators,
};

/// How often a lagging socket is asked to disconnect until its queue takes the packet.
const RETRY_DISCONNECT: Duration = Duration::from_millis(250);

/// The event that finds full sockets; clients have no handler for it and ignore it.
pub const PROBE_EVENT: &str = "probe";

/// Marks a socket that missed an event and is being disconnected.
#[derive(Clone, Copy)]
struct Lagging;

/// Emits `event` to everyone `to` names, serialized once; a socket that misses it because
/// its queue is full is made to resynchronise.
pub async fn emit<T: Serialize + ?Sized>(
    to: BroadcastOperators<LocalAdapter>,
    event: &str,
    payload: &T,
) {
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

/// Finds the `full` sockets among `recipients` that are not being disconnected already,
/// and disconnects them as soon as they can take it.
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
        if let Err(SendError::Socket(SocketError::InternalChannelFull)) =
            socket.emit(PROBE_EVENT, &())
        {
            found += 1;
            socket.extensions.insert(Lagging);
            crate::metrics::socket_lagging(socket.ns());
            tokio::spawn(disconnect_when_possible(socket));
        }
    }
}

/// Disconnects `socket` once its queue has room for the packet, or gives up when it closes.
async fn disconnect_when_possible(socket: SocketRef) {
    loop {
        if !socket.connected() {
            return;
        }
        match socket.clone().disconnect() {
            Err(SocketError::InternalChannelFull) => {
                tokio::time::sleep(RETRY_DISCONNECT).await;
            }
            Ok(()) | Err(SocketError::Closed) => return,
        }
    }
}
