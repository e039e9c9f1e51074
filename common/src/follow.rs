//! Following another service's long-lived event stream: one subscription kept open, reopened
//! with backoff and jitter when it breaks, asking for what was missed since the last event.

use std::{future::Future, time::Duration};

use futures_util::StreamExt;

/// Reconnection backoff.
const FIRST_RETRY: Duration = Duration::from_millis(100);
const LAST_RETRY: Duration = Duration::from_secs(5);

/// What a follower is handed, in stream order.
#[derive(Debug)]
pub enum Followed<E> {
    /// The next event.
    Event(E),
    /// Events may have been missed: the first subscription (whatever was loaded before it
    /// may be stale), or event ids that jumped (the service no longer had the missed events,
    /// or it restarted and its ids began again). Caches should be rebuilt.
    Gap,
}

/// Follows `service`'s stream until the task is aborted. `subscribe` opens the stream after
/// the given event id; `event_id` reads an event's id; `handle` receives events and gaps.
pub async fn follow<E, Subscribe, Opened, Handle, Handled>(
    service: &'static str,
    subscribe: Subscribe,
    event_id: fn(&E) -> u64,
    mut handle: Handle,
) where
    Subscribe: Fn(Option<u64>) -> Opened,
    Opened: Future<Output = Result<tonic::Response<tonic::Streaming<E>>, tonic::Status>>,
    Handle: FnMut(Followed<E>) -> Handled,
    Handled: Future<Output = ()>,
{
    let mut last_event_id: Option<u64> = None;
    let mut retry = FIRST_RETRY;
    let mut first = true;
    loop {
        match subscribe(last_event_id).await {
            Ok(response) => {
                tracing::info!(service, after = ?last_event_id, "subscribed to events");
                retry = FIRST_RETRY;
                if std::mem::take(&mut first) {
                    handle(Followed::Gap).await;
                }
                let mut events = response.into_inner();
                while let Some(item) = events.next().await {
                    match item {
                        Ok(event) => {
                            let id = event_id(&event);
                            if last_event_id.is_some_and(|last| id != last + 1) {
                                tracing::warn!(service, last = ?last_event_id, next = id, "event ids jumped: events were missed");
                                handle(Followed::Gap).await;
                            }
                            last_event_id = Some(id);
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
