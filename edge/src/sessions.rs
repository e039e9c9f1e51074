//! The presence sessions this edge holds (one per `/status` socket), and the lease that
//! vouches for all of them with one call per interval.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use parley_proto::presence::v1::{EdgeSession, RenewEdgeLeaseRequest};
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::backends::Backends;

/// Who this edge is to the services; sessions are registered under it.
#[derive(Debug, Clone)]
pub struct EdgeId(pub Arc<str>);

impl EdgeId {
    pub fn new() -> Self {
        Self(format!("edge-{}", Uuid::new_v4().simple()).into())
    }
}

/// The presence session of one `/status` socket, kept in its extensions.
#[derive(Debug, Clone)]
pub struct SessionId(pub Arc<str>);

/// session id → user id of every `/status` socket on this edge.
#[derive(Debug, Default)]
pub struct Sessions {
    live: Mutex<HashMap<Arc<str>, Uuid>>,
}

impl Sessions {
    pub fn add(&self, session: &SessionId, user: Uuid) {
        self.lock().insert(session.0.clone(), user);
    }

    pub fn remove(&self, session: &SessionId) {
        self.lock().remove(&session.0);
    }

    fn snapshot(&self) -> Vec<EdgeSession> {
        self.lock()
            .iter()
            .map(|(session, user)| EdgeSession {
                session_id: session.to_string(),
                user_id: user.to_string(),
            })
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Arc<str>, Uuid>> {
        // Single inserts and removes only: a poisoned map is still consistent.
        self.live
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Renews this edge's lease every `interval`, listing its live sessions: presence-svc keeps
/// them alive, registers those it lost (after a restart) and ends those no longer listed.
/// If this edge dies, the renewals stop and its sessions end when the lease lapses.
pub fn spawn_lease(
    sessions: Arc<Sessions>,
    backends: Backends,
    edge: EdgeId,
    interval: Duration,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let request = RenewEdgeLeaseRequest {
                edge_id: edge.0.to_string(),
                sessions: sessions.snapshot(),
            };
            if let Err(status) = backends
                .presence
                .clone()
                .renew_edge_lease(backends.request(request))
                .await
            {
                tracing::warn!(%status, "cannot renew the presence lease");
            }
        }
    })
}
