//! Who users are (names, avatars) and who blocked whom: asked of friends-svc, the owner.

use std::collections::HashMap;

use parley_common::friends as friends_client;
pub use parley_common::friends::FriendsClient;
use parley_proto::chat::v1 as pb;
use uuid::Uuid;

use crate::{domain::UserId, error::Error, grpc::convert};

/// The known users among `ids`, as chat messages show them.
pub async fn profiles(
    client: &FriendsClient,
    ids: &[UserId],
) -> Result<HashMap<UserId, pb::User>, Error> {
    let users = friends_client::users(client, ids)
        .await
        .map_err(|status| Error::Dependency("friends-svc", status))?;
    let mut found = HashMap::with_capacity(users.len());
    for user in users {
        if let Ok(id) = Uuid::parse_str(&user.id) {
            found.insert(UserId(id), convert::user(user));
        }
    }
    Ok(found)
}

/// Fails with `NOT_FOUND` unless every one of `ids` is a known user.
pub async fn require_known(
    client: &FriendsClient,
    ids: &[UserId],
) -> Result<HashMap<UserId, pb::User>, Error> {
    let found = profiles(client, ids).await?;
    if ids.iter().any(|id| !found.contains_key(id)) {
        return Err(Error::NotFound("no such user"));
    }
    Ok(found)
}
