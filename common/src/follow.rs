//! Following another service's long-lived event stream: one subscription kept open, reopened
//! with backoff and jitter when it breaks, asking for what was missed since the last event.
//!
//! Event ids compare only within one epoch of the stream (one process's log, see
//! `crate::events`). The epoch arrives in the answer's [`EPOCH_HEADER`], before any event: a
//! subscription that lands on a new epoch (another replica, a restart) is a gap at once,
//! whatever the ids, and so is one that cannot resume (nothing was received in the epoch to
//! resume from). Within an epoch a jump in ids is a gap. A subscription that heard no event
//! yet resumes after the answer's [`HEAD_HEADER`](crate::events::HEAD_HEADER), so a quiet
//! stream of a shared log survives a restart of the replica it follows without a gap.

use std::{future::Future, time::Duration};

use futures_util::StreamExt;
use tonic::metadata::AsciiMetadataValue;

use crate::events::{AFTER_EPOCH_HEADER, EPOCH_HEADER, head_of};

/// Reconnection backoff.
const FIRST_RETRY: Duration = Duration::from_millis(100);
const LAST_RETRY: Duration = Duration::from_secs(5);

/// What a follower is handed, in stream order.
#[derive(Debug)]
pub enum Followed<E> {
    /// The next event.
    Event(E),
    /// Events may have been missed: the first subscription (whatever was loaded before it
    /// may be stale), a new epoch (another replica, or a restart), or event ids that jumped
    /// (the service no longer had the missed events). Caches should be rebuilt.
    Gap,
}

/// Where a subscription picks up: after the last event processed, of the epoch it was in.
#[derive(Debug, Clone, Default)]
pub struct After {
    /// The last event id processed in `epoch`, or the id the current subscription's events
    /// follow ([`HEAD_HEADER`](crate::events::HEAD_HEADER)) before its first event; `None`
    /// before the first subscription, and after one whose answer named no head.
    pub event_id: Option<u64>,
    epoch: Option<AsciiMetadataValue>,
}

impl After {
    /// `message` (a subscribe request carrying [`Self::event_id`]) as a request that names
    /// the epoch of that id, so that a service of another epoch replays nothing for it.
    pub fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        if let (Some(epoch), Some(_)) = (&self.epoch, self.event_id) {
            request
                .metadata_mut()
                .insert(AFTER_EPOCH_HEADER, epoch.clone());
        }
        request
    }
}

/// Follows `service`'s stream until the task is aborted. `subscribe` opens the stream after
/// the given point (build its request with [`After::request`]); `event_id` reads an event's
/// id, and `previous_id` the id the stream sent before it where the stream names it (one
/// cut down to a subscriber's interest, whose ids jump past the events of no interest),
/// else `None`: the one before is then the id less one; `handle` receives events and gaps.
pub async fn follow<E, Subscribe, Opened, Handle, Handled>(
    service: &'static str,
    subscribe: Subscribe,
    event_id: fn(&E) -> u64,
    previous_id: fn(&E) -> Option<u64>,
    mut handle: Handle,
) where
    Subscribe: Fn(After) -> Opened,
    Opened: Future<Output = Result<tonic::Response<tonic::Streaming<E>>, tonic::Status>>,
    Handle: FnMut(Followed<E>) -> Handled,
    Handled: Future<Output = ()>,
{
    let mut after = After::default();
    let mut retry = FIRST_RETRY;
    let mut first = true;
    loop {
        match subscribe(after.clone()).await {
            Ok(response) => {
                let epoch = response.metadata().get(EPOCH_HEADER).cloned();
                let head = head_of(response.metadata());
                tracing::info!(service, after = ?after.event_id, ?epoch, "subscribed to events");
                retry = FIRST_RETRY;
                // Services that send no epoch (older ones) leave `None == None`: their ids
                // are compared, as before epochs.
                let resumed = after.event_id.is_some() && epoch == after.epoch;
                if std::mem::take(&mut first) {
                    handle(Followed::Gap).await;
                } else if !resumed {
                    tracing::warn!(service, last = ?after.event_id, "a new stream epoch, or nothing to resume from: events may have been missed");
                    handle(Followed::Gap).await;
                }
                if !resumed {
                    after = After {
                        event_id: head,
                        epoch,
                    };
                }
                let mut events = response.into_inner();
                while let Some(item) = events.next().await {
                    match item {
                        Ok(event) => {
                            let id = event_id(&event);
                            let previous = previous_id(&event);
                            let follows =
                                |last: u64| previous.map_or(id == last + 1, |p| p == last);
                            if after.event_id.is_some_and(|last| !follows(last)) {
                                tracing::warn!(service, last = ?after.event_id, next = id, "event ids jumped: events were missed");
                                handle(Followed::Gap).await;
                            }
                            after.event_id = Some(id);
                            handle(Followed::Event(event)).await;
                        }
                        Err(status) => {
                            tracing::warn!(service, %status, "event stream broke");
                            break;
                        }
                    }
                }
            }
            Err(status) => tracing::warn!(service, %status, "cannot subscribe to events"),
        }
        tokio::time::sleep(with_jitter(retry)).await;
        retry = (retry * 2).min(LAST_RETRY);
    }
}

/// Somewhere between half and all of `delay`, so that subscribers do not reconnect in
/// lockstep after an outage.
fn with_jitter(delay: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.subsec_nanos());
    delay / 2 + delay / 2 * (nanos % 1000) / 1000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_half_and_all_of_the_delay() {
        for _ in 0..100 {
            let delay = with_jitter(Duration::from_secs(2));
            assert!(delay >= Duration::from_secs(1) && delay <= Duration::from_secs(2));
        }
    }
}
