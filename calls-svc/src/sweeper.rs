//! The deadlines, applied by every replica every second and at each call's own deadline:
//! calls whose time came end, edges whose lease lapsed lose their sockets, and CALL messages
//! that could not be written are written. Rows another replica holds are skipped (`FOR
//! UPDATE SKIP LOCKED`), so replicas share the work and a dying one loses nothing.

use std::{sync::Arc, time::Duration};

use tokio::time::Instant;

use crate::{error::Error, repo, service::Calls};

/// How long an ended call's CALL message is left to the request that ended it before the
/// sweeper writes it.
const LOG_RETRY_AFTER: chrono::Duration = chrono::Duration::seconds(2);

/// What one round did, for the log and the tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    pub ended: usize,
    pub lost_devices: usize,
    /// CALL messages written that the request which ended their call could not write.
    pub logged: usize,
}

pub struct Sweeper {
    calls: Arc<Calls>,
    /// When this replica started: an edge's lease is not judged before one lease TTL has
    /// passed here (the edge may have been renewing with a replica that just died).
    started: Instant,
}

impl Sweeper {
    pub fn new(calls: Arc<Calls>) -> Arc<Self> {
        Arc::new(Self {
            calls,
            started: Instant::now(),
        })
    }

    /// Sweeps every `interval`, and at the earliest deadline when that comes sooner, until
    /// aborted: a deadline is kept to the millisecond, not to the next tick (a caller lost
    /// for 10 s cancels its call at 10 s, not at up to 11).
    pub async fn run(self: Arc<Self>, interval: Duration) {
        loop {
            let next_round = Instant::now() + interval;
            match self.round().await {
                Ok(swept) if swept != Swept::default() => tracing::info!(?swept, "swept calls"),
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "sweeping calls failed"),
            }
            let wake = match self.next_due().await {
                Some(due) => next_round.min(due),
                None => next_round,
            };
            tokio::time::sleep_until(wake).await;
        }
    }

    /// When the earliest live deadline falls, on this process's clock. None when there is no
    /// live call, when the database cannot say, and when that deadline has passed already:
    /// the round just made could not end that call (another replica holds it), so the next
    /// round comes on the interval instead of at once, over and over.
    async fn next_due(&self) -> Option<Instant> {
        let mut connection = self.calls.pool().acquire().await.ok()?;
        let due = repo::next_due(&mut connection).await.ok()??;
        let wait = (due - Calls::now()).to_std().ok()?;
        Some(Instant::now() + wait)
    }

    /// One round.
    pub async fn round(&self) -> Result<Swept, Error> {
        let now = Calls::now();
        let mut swept = Swept::default();
        let up_for = i64::try_from(self.started.elapsed().as_millis()).unwrap_or(i64::MAX);
        {
            let mut transaction = self.calls.pool().begin().await?;
            let gone = repo::expire_edges(&mut transaction, now, up_for).await?;
            swept.lost_devices = gone.len();
            self.calls.devices_gone(&mut transaction, gone, now).await?;
            transaction.commit().await?;
        }
        loop {
            let ended = self.calls.sweep_due(Calls::now()).await?;
            swept.ended += ended;
            if ended < 100 {
                break;
            }
        }
        let unlogged = {
            let mut connection = self.calls.pool().acquire().await?;
            repo::unlogged(&mut connection, now - LOG_RETRY_AFTER, 100).await?
        };
        for stored in unlogged {
            if self.calls.log(&stored.call).await {
                swept.logged += 1;
            }
        }
        Ok(swept)
    }
}
