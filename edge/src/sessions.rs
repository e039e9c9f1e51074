//! The presence sessions this edge holds (one per `/status` socket), and the lease that
//! vouches for all of them with one call per interval.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use parley_common::{propagation::InjectTraceContext, replicas::Replicas};
use parley_proto::presence::v1::{
    CloseSessionRequest, EdgeSession, OpenSessionRequest, RenewEdgeLeaseRequest,
    presence_service_client::PresenceServiceClient,
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

    /// Whether `session` is still live here.
    fn holds(&self, session: &Arc<str>) -> bool {
        self.lock().contains_key(session)
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
    sessions: &Arc<Sessions>,
) {
    let session = SessionId(Uuid::new_v4().to_string().into());
    sessions.add(&session, identity.user_id);
    socket.extensions.insert(session.clone());
    let request = OpenSessionRequest {
        user_id: identity.user_id.to_string(),
        session_id: session.0.to_string(),
        edge_id: edge.0.to_string(),
    };
    let Err(status) = open_with(backends, identity.user_id, request.clone()).await else {
        return;
    };
    tracing::warn!(%status, "cannot open a presence session now; retrying");
    // The replica asked may not hold the user (the edge just started, or the shard moved):
    // the failure woke the renewals, whose answers name the holder, so that a retry soon
    // finds it. Friends see the user online within a second instead of at the next
    // renewal; if every retry fails, that renewal registers the session.
    let (backends, user, session, sessions) = (
        backends.clone(),
        identity.user_id,
        session.0.clone(),
        sessions.clone(),
    );
    tokio::spawn(async move {
        for wait in OPEN_RETRIES {
            tokio::time::sleep(wait).await;
            if !sessions.holds(&session) {
                return;
            }
            if open_with(&backends, user, request.clone()).await.is_ok() {
                return;
            }
        }
    });
}

/// One `OpenSession` call, to the replica said to hold `user`.
async fn open_with(
    backends: &Backends,
    user: Uuid,
    request: OpenSessionRequest,
) -> Result<(), tonic::Status> {
    backends
        .presence
        .clone()
        .open_session(backends.request_for(user, request))
        .await
        .map(drop)
}

/// How long after a failed `OpenSession` it is tried again, each time.
const OPEN_RETRIES: [Duration; 3] = [
    Duration::from_millis(250),
    Duration::from_millis(750),
    Duration::from_secs(2),
];

/// Ends the presence session of a `/status` socket that went.
pub async fn close(socket: &SocketRef, backends: &Backends, sessions: &Sessions) {
    let Some(session) = socket.extensions.get::<SessionId>() else {
        return;
    };
    sessions.remove(&session);
    let user = socket
        .extensions
        .get::<Identity>()
        .map(|identity| identity.user_id)
        .unwrap_or_default();
    let request = CloseSessionRequest {
        user_id: user.to_string(),
        session_id: session.0.to_string(),
    };
    if let Err(status) = backends
        .presence
        .clone()
        .close_session(backends.request_for(user, request))
        .await
    {
        // The next lease renewal no longer lists it, which ends it.
        tracing::warn!(%status, "cannot close a presence session now");
    }
}

/// Renews this edge's lease every `interval` with every presence-svc replica, listing its
/// live sessions: each replica keeps those of the user shards it holds alive, registers
/// those it lost (after a restart, or a shard it just took over) and ends those no longer
/// listed. Each answer names the replica's shards, which steer the calls about their users
/// (`Choice::ByShard`); a call that suggests they moved starts a round at once. If this edge
/// dies, the renewals stop and its sessions end when the lease lapses. The interval shrinks
/// to a third of the lease presence-svc announces, so that one lost renewal never lets the
/// lease lapse, and a failed renewal is retried within a second.
pub fn spawn_lease(
    sessions: Arc<Sessions>,
    backends: Backends,
    edge: EdgeId,
    interval: Duration,
) -> JoinHandle<()> {
    let replicas = backends.presence_replicas.clone();
    tokio::spawn(async move {
        let renewals = (0..replicas.len()).map(|index| {
            let client =
                PresenceServiceClient::with_interceptor(replicas.only(index), InjectTraceContext);
            renew_with(index, client, &sessions, &backends, &edge, interval)
        });
        futures_util::future::join_all(renewals).await;
    })
}

/// Renews the lease with the replica at `index`, for ever.
async fn renew_with(
    index: usize,
    mut client: PresenceClient,
    sessions: &Sessions,
    backends: &Backends,
    edge: &EdgeId,
    interval: Duration,
) {
    let replicas = &backends.presence_replicas;
    let mut period = interval.max(MIN_RENEWAL_INTERVAL);
    loop {
        let mut wait = period;
        let request = RenewEdgeLeaseRequest {
            edge_id: edge.0.to_string(),
            sessions: sessions.snapshot(),
        };
        match client.renew_edge_lease(backends.request(request)).await {
            Ok(response) => {
                let response = response.into_inner();
                replicas.set_shards(index, &response.shards);
                let ttl = Duration::from_millis(u64::from(response.lease_ttl_ms));
                if !ttl.is_zero() {
                    period = period.min(ttl / 3).max(MIN_RENEWAL_INTERVAL);
                }
            }
            Err(status) => {
                // Waiting a whole period could let the lease lapse on a replica that was
                // only briefly away.
                tracing::warn!(%status, replica = index, "cannot renew the presence lease; retrying soon");
                wait = period.min(RETRY_AFTER_FAILURE);
            }
        }
        // A failover makes many calls fail at once, each waking the renewals: each lists
        // every session, so a replica hears of moved shards at most once a second.
        let quiet = wait.min(STALE_RENEWAL_GAP);
        tokio::time::sleep(quiet).await;
        tokio::select! {
            () = tokio::time::sleep(wait.saturating_sub(quiet)) => {}
            () = replicas.shards_stale() => {}
        }
    }
}

/// The shortest time between two renewals with one replica that a call suggesting moved
/// shards may bring forward.
const STALE_RENEWAL_GAP: Duration = Duration::from_secs(1);

type PresenceClient = PresenceServiceClient<
    tonic::service::interceptor::InterceptedService<Replicas, InjectTraceContext>,
>;

/// Renewals never come faster than this, whatever the configuration says.
const MIN_RENEWAL_INTERVAL: Duration = Duration::from_millis(100);

/// How soon a failed renewal is tried again; a renewal is idempotent, so trying again is
/// safe, and one call a second while a replica is down is cheap.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(1);
