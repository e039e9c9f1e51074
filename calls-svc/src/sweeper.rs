//! The deadlines, applied by every replica every second: calls whose time came end, edges
//! whose lease lapsed lose their sockets, and CALL messages that could not be written are
//! written. Rows another replica holds are skipped (`FOR UPDATE SKIP LOCKED`), so replicas
//! share the work and a dying one loses nothing.

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

    /// Sweeps every `interval` until aborted.
    pub async fn run(self: Arc<Self>, interval: Duration) {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match self.round().await {
                Ok(swept) if swept != Swept::default() => tracing::info!(?swept, "swept calls"),
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "sweeping calls failed"),
            }
        }
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
