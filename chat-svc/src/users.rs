//! Who users are (names, avatars) and who blocked whom: asked of friends-svc, the owner.

use std::collections::HashMap;

use parley_common::propagation::InjectTraceContext;
use parley_proto::{
    chat::v1 as pb,
    friends::v1::{self as friends, friends_service_client::FriendsServiceClient},
};
use tonic::{service::interceptor::InterceptedService, transport::Channel};
use uuid::Uuid;

use crate::error::Error;

pub type FriendsClient = FriendsServiceClient<InterceptedService<Channel, InjectTraceContext>>;

/// The most ids friends-svc's `GetUsers` takes in one call.
const USERS_PER_CALL: usize = 1000;

/// The known users among `ids`, as chat messages show them.
pub async fn profiles(
    client: &FriendsClient,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, pb::User>, Error> {
    let mut found = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(USERS_PER_CALL) {
        let users = client
            .clone()
            .get_users(friends::GetUsersRequest {
                user_ids: chunk.iter().map(Uuid::to_string).collect(),
            })
            .await
            .map_err(|status| Error::Dependency("friends-svc", status))?
            .into_inner()
            .users;
        for user in users {
            if let Ok(id) = Uuid::parse_str(&user.id) {
                found.insert(
                    id,
                    pb::User {
                        id: user.id,
                        username: user.username,
                        avatar: user.avatar,
                    },
                );
            }
        }
    }
    Ok(found)
}

/// Fails with `NOT_FOUND` unless every one of `ids` is a known user.
pub async fn require_known(
    client: &FriendsClient,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, pb::User>, Error> {
    let found = profiles(client, ids).await?;
    if ids.iter().any(|id| !found.contains_key(id)) {
        return Err(Error::NotFound("no such user"));
    }
    Ok(found)
}
