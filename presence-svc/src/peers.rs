//! The other presence-svc replicas, as one replica asks them what the users of their shards
//! look like (`GetStatuses`, for a `GetFriendsStatus` whose friends live on several shards).
//! One lazy connection per replica, made on first use and kept.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use parley_common::{
    propagation::InjectTraceContext,
    replicas::{Choice, Replicas},
    service_token::ServiceToken,
    time::from_timestamp,
};
use parley_proto::presence::v1::{self as pb, presence_service_client::PresenceServiceClient};
use tonic::service::interceptor::InterceptedService;
use uuid::Uuid;

use crate::{domain::UserId, error::Error, grpc::status_from_pb, service::Shown};

type Client = PresenceServiceClient<InterceptedService<Replicas, InjectTraceContext>>;

/// How long a replica has to answer; past it the caller's call is `UNAVAILABLE`.
const ASK_TIMEOUT: Duration = Duration::from_secs(2);

/// Clients of the other replicas, by URL.
pub struct Peers {
    token: Option<ServiceToken>,
    clients: Mutex<HashMap<Arc<str>, Client>>,
}

impl Peers {
    /// Peers reached with `token`, the one this replica's callers present too.
    pub fn new(token: Option<ServiceToken>) -> Self {
        Self {
            token,
            clients: Mutex::new(HashMap::new()),
        }
    }

    fn client(&self, url: &Arc<str>) -> Result<Client, Error> {
        let mut clients = parley_common::lock::lock(&self.clients);
        if let Some(client) = clients.get(url) {
            return Ok(client.clone());
        }
        let replicas = Replicas::new(url, Choice::Spread, self.token.clone())
            .map_err(|_| Error::Unavailable("a presence replica has an invalid URL"))?;
        let client = PresenceServiceClient::with_interceptor(replicas, InjectTraceContext);
        clients.insert(url.clone(), client.clone());
        Ok(client)
    }

    /// What the replica at `url` shows of those of `users` whose shard it holds.
    pub async fn statuses(
        &self,
        url: &Arc<str>,
        users: &[UserId],
    ) -> Result<HashMap<UserId, Shown>, Error> {
        let client = self.client(url)?;
        let mut shown = HashMap::with_capacity(users.len());
        for chunk in users.chunks(USERS_PER_ASK) {
            shown.extend(ask(client.clone(), chunk).await?);
        }
        Ok(shown)
    }
}

/// The most users asked about in one call (the replicas take up to 10 000).
const USERS_PER_ASK: usize = 5_000;

async fn ask(mut client: Client, users: &[UserId]) -> Result<Vec<(UserId, Shown)>, Error> {
    let mut request = tonic::Request::new(pb::GetStatusesRequest {
        user_ids: users.iter().map(UserId::to_string).collect(),
    });
    request.set_timeout(ASK_TIMEOUT);
    let answer = client
        .get_statuses(request)
        .await
        .map_err(|status| Error::Dependency("presence-svc", status))?;
    Ok(answer
        .into_inner()
        .statuses
        .into_iter()
        .filter_map(|shown| {
            let user = UserId(Uuid::parse_str(&shown.user_id).ok()?);
            let status = pb::Status::try_from(shown.status)
                .ok()
                .and_then(status_from_pb)?;
            Some((
                user,
                (status, shown.last_seen.as_ref().and_then(from_timestamp)),
            ))
        })
        .collect())
}
