//! The presence sessions this edge holds (one per `/status` socket), and the lease that
//! vouches for all of them with one call per interval.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use parley_proto::presence::v1::{
    CloseSessionRequest, EdgeSession, OpenSessionRequest, RenewEdgeLeaseRequest,
};
use socketioxide::extract::SocketRef;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::{auth::Identity, backends::Backends};

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
        parley_common::lock::lock(&self.live)
    }
}

/// Opens the presence session of a new `/status` socket.
pub async fn open(
    socket: &SocketRef,
    identity: &Identity,
    backends: &Backends,
    edge: &EdgeId,
    sessions: &Sessions,
) {
    let session = SessionId(Uuid::new_v4().to_string().into());
    sessions.add(&session, identity.user_id);
    socket.extensions.insert(session.clone());
    let request = OpenSessionRequest {
        user_id: identity.user_id.to_string(),
        session_id: session.0.to_string(),
        edge_id: edge.0.to_string(),
    };
    if let Err(status) = backends
        .presence
        .clone()
        .open_session(backends.request(request))
        .await
    {
        // The next lease renewal registers it once presence-svc answers again.
        tracing::warn!(%status, "cannot open a presence session now");
    }
}

/// Ends the presence session of a `/status` socket that went.
pub async fn close(socket: &SocketRef, backends: &Backends, sessions: &Sessions) {
    let Some(session) = socket.extensions.get::<SessionId>() else {
        return;
    };
    sessions.remove(&session);
    let request = CloseSessionRequest {
        user_id: socket
            .extensions
            .get::<Identity>()
            .map(|identity| identity.user_id.to_string())
            .unwrap_or_default(),
        session_id: session.0.to_string(),
    };
    if let Err(status) = backends
        .presence
        .clone()
        .close_session(backends.request(request))
        .await
    {
        // The next lease renewal no longer lists it, which ends it.
        tracing::warn!(%status, "cannot close a presence session now");
    }
}

/// Renews this edge's lease every `interval`, listing its live sessions: presence-svc keeps
/// them alive, registers those it lost (after a restart) and ends those no longer listed.
/// If this edge dies, the renewals stop and its sessions end when the lease lapses. The
/// interval shrinks to a third of the lease presence-svc announces, so that one lost
/// renewal never lets the lease lapse, and a failed renewal is retried within a second.
pub fn spawn_lease(
    sessions: Arc<Sessions>,
    backends: Backends,
    edge: EdgeId,
    interval: Duration,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut period = interval.max(MIN_RENEWAL_INTERVAL);
        loop {
            let mut wait = period;
            let request = RenewEdgeLeaseRequest {
                edge_id: edge.0.to_string(),
                sessions: sessions.snapshot(),
            };
            match backends
                .presence
                .clone()
                .renew_edge_lease(backends.request(request))
                .await
            {
                Ok(response) => {
                    let ttl = Duration::from_millis(u64::from(response.into_inner().lease_ttl_ms));
                    if !ttl.is_zero() {
                        period = period.min(ttl / 3).max(MIN_RENEWAL_INTERVAL);
                    }
                }
                Err(status) => {
                    // The replica that failed rests now, so the retry goes to the next one:
                    // waiting a whole period could let the lease lapse everywhere while the
                    // other replicas, which would take it, heard nothing.
                    tracing::warn!(%status, "cannot renew the presence lease; retrying soon");
                    wait = period.min(RETRY_AFTER_FAILURE);
                }
            }
            tokio::time::sleep(wait).await;
        }
    })
}

/// Renewals never come faster than this, whatever the configuration says.
const MIN_RENEWAL_INTERVAL: Duration = Duration::from_millis(100);

/// How soon a failed renewal is tried again (on the next replica, the failed one resting);
/// a renewal is idempotent, so trying again is safe, and one call a second while every
/// replica is down is cheap.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(1);
