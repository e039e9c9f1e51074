//! The client of friends-svc, the owner of users and the friend graph, as presence-svc and
//! chat-svc both use it: built once, users asked in batches, graph changes followed.

use std::future::Future;

use parley_proto::friends::v1::{self as friends, friends_service_client::FriendsServiceClient};
use tonic::{Status, service::interceptor::InterceptedService};

use crate::{
    follow::{Followed, follow},
    ids::UserId,
    propagation::InjectTraceContext,
    replicas::{Choice, Replicas},
    service_token::ServiceToken,
};

pub type FriendsClient = FriendsServiceClient<InterceptedService<Replicas, InjectTraceContext>>;

/// The most ids friends-svc's `GetUsers` takes in one call.
const USERS_PER_CALL: usize = 1000;

/// A client of friends-svc at `urls` (one or several replicas, comma-separated) that carries
/// the caller's trace and the service token; it connects on first use.
pub fn client(urls: &str, token: Option<ServiceToken>) -> anyhow::Result<FriendsClient> {
    Ok(FriendsServiceClient::with_interceptor(
        Replicas::new(urls, Choice::Spread, token)?,
        InjectTraceContext,
    ))
}

/// The known users among `ids` (unknown ids are left out), in as few calls as the
/// per-call bound allows.
pub async fn users(client: &FriendsClient, ids: &[UserId]) -> Result<Vec<friends::User>, Status> {
    let mut found = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(USERS_PER_CALL) {
        let request = friends::GetUsersRequest {
            user_ids: chunk.iter().map(UserId::to_string).collect(),
        };
        found.extend(client.clone().get_users(request).await?.into_inner().users);
    }
    Ok(found)
}

/// Follows friends-svc's graph stream as `subscriber_id` until aborted, handing `handle`
/// every change and every gap (see [`follow`]).
pub async fn watch_graph<Handle, Handled>(
    client: &FriendsClient,
    subscriber_id: &str,
    handle: Handle,
) where
    Handle: FnMut(Followed<friends::GraphChange>) -> Handled,
    Handled: Future<Output = ()>,
{
    let subscribe = |after: crate::follow::After| {
        let mut client = client.clone();
        let request = after.request(friends::WatchGraphRequest {
            subscriber_id: subscriber_id.to_owned(),
            after_event_id: after.event_id,
        });
        async move { client.watch_graph(request).await }
    };
    follow(
        "friends graph",
        subscribe,
        |change: &friends::GraphChange| change.event_id,
        |_| None,
        handle,
    )
    .await;
}
