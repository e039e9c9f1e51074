//! `/friends`: friend requests, friendships, blocks and user search.

use parley_proto::friends::v1::{self as pb, send_friend_request_request::Target};
use serde::Deserialize;
use serde_json::{Value, json};
use socketioxide::extract::{Extension, SocketRef, State, TryData};
use uuid::Uuid;

use super::{Decoded, Raw, answer, decoded};
use crate::{auth::Identity, backends::Backends, error::ApiError, reply::Reply, wire};

/// Registers the `/friends` events on a new socket.
pub fn register(socket: &SocketRef) {
    socket.on("send-friend-request", send_friend_request);
    socket.on("accept-friend-request", accept_friend_request);
    socket.on("decline-friend-request", decline_friend_request);
    socket.on("cancel-friend-request", cancel_friend_request);
    socket.on("remove-friend", remove_friend);
    socket.on("block-user", block_user);
    socket.on("unblock-user", unblock_user);
    socket.on("list-friends", list_friends);
    socket.on("list-friend-requests", list_friend_requests);
    socket.on("list-blocked", list_blocked);
    socket.on("search-users", search_users);
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SendFriendRequest {
    user_id: Option<Uuid>,
    username: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ByRequestId {
    request_id: Uuid,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ByUserId {
    user_id: Uuid,
}

/// Events without fields; whatever the client sends is ignored.
#[derive(Deserialize)]
struct NoFields {}

#[derive(Deserialize)]
struct SearchUsers {
    query: String,
    limit: Option<u32>,
}

fn send_friend_request_request(
    payload: SendFriendRequest,
    me: &Identity,
) -> Result<pb::SendFriendRequestRequest, ApiError> {
    let target = match (payload.user_id, payload.username) {
        (Some(id), None) => Target::UserId(id.to_string()),
        (None, Some(name)) => Target::Username(name),
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                "payload",
                "give userId or username, not both",
            ));
        }
        (None, None) => {
            return Err(ApiError::invalid(
                "userId",
                "userId or username is required",
            ));
        }
    };
    Ok(pb::SendFriendRequestRequest {
        acting_user_id: me.user_id.to_string(),
        target: Some(target),
    })
}

async fn send_friend_request(
    reply: Reply,
    TryData(raw): TryData<Value>,
    Extension(me): Extension<Identity>,
    State(backends): State<Backends>,
) {
    answer(reply, raw, move |payload: SendFriendRequest| async move {
        let request = send_friend_request_request(payload, &me)?;
        let response = backends
            .friends
            .clone()
            .send_friend_request(backends.request(request))
            .await?
            .into_inner();
        let request = response.request.map(wire::FriendRequest::from);
        // `friend` is there only when this request accepted theirs.
        Ok(match response.friend {
            Some(friend) => json!({ "request": request, "friend": wire::Friend::from(friend) }),
            None => json!({ "request": request }),
        })
    })
    .await;
}

fn accept_friend_request_request(
    payload: ByRequestId,
    me: &Identity,
) -> pb::AcceptFriendRequestRequest {
    pb::AcceptFriendRequestRequest {
        acting_user_id: me.user_id.to_string(),
        request_id: payload.request_id.to_string(),
    }
}

async fn accept_friend_request(
    reply: Reply,
    TryData(raw): TryData<Value>,
    Extension(me): Extension<Identity>,
    State(backends): State<Backends>,
) {
    answer(reply, raw, move |payload: ByRequestId| async move {
        let request = accept_friend_request_request(payload, &me);
        let response = backends
            .friends
            .clone()
            .accept_friend_request(backends.request(request))
            .await?
            .into_inner();
        Ok(json!({ "friend": response.friend.map(wire::Friend::from) }))
    })
    .await;
}

fn decline_friend_request_request(
    payload: ByRequestId,
    me: &Identity,
) -> pb::DeclineFriendRequestRequest {
    pb::DeclineFriendRequestRequest {
        acting_user_id: me.user_id.to_string(),
        request_id: payload.request_id.to_string(),
    }
}

async fn decline_friend_request(
    reply: Reply,
    TryData(raw): TryData<Value>,
    Extension(me): Extension<Identity>,
    State(backends): State<Backends>,
) {
    answer(reply, raw, move |payload: ByRequestId| async move {
        let request = decline_friend_request_request(payload, &me);
        backends
            .friends
            .clone()
            .decline_friend_request(backends.request(request))
            .await?;
        Ok(json!({}))
    })
    .await;
}

fn cancel_friend_request_request(
    payload: ByRequestId,
    me: &Identity,
) -> pb::CancelFriendRequestRequest {
    pb::CancelFriendRequestRequest {
        acting_user_id: me.user_id.to_string(),
        request_id: payload.request_id.to_string(),
    }
}

async fn cancel_friend_request(
    reply: Reply,
    TryData(raw): TryData<Value>,
    Extension(me): Extension<Identity>,
    State(backends): State<Backends>,
) {
    answer(reply, raw, move |payload: ByRequestId| async move {
        let request = cancel_friend_request_request(payload, &me);
        backends
            .friends
            .clone()
            .cancel_friend_request(backends.request(request))
            .await?;
        Ok(json!({}))
    })
    .await;
}

fn remove_friend_request(payload: ByUserId, me: &Identity) -> pb::RemoveFriendRequest {
    pb::RemoveFriendRequest {
        acting_user_id: me.user_id.to_string(),
        user_id: payload.user_id.to_string(),
    }
}

async fn remove_friend(
    reply: Reply,
    TryData(raw): TryData<Value>,
    Extension(me): Extension<Identity>,
    State(backends): State<Backends>,
) {
    answer(reply, raw, move |payload: ByUserId| async move {
        let request = remove_friend_request(payload, &me);
        backends
            .friends
            .clone()
            .remove_friend(backends.request(request))
            .await?;
        Ok(json!({}))
    })
    .await;
}

fn block_user_request(payload: ByUserId, me: &Identity) -> pb::BlockUserRequest {
    pb::BlockUserRequest {
        acting_user_id: me.user_id.to_string(),
        user_id: payload.user_id.to_string(),
    }
}

async fn block_user(
    reply: Reply,
    TryData(raw): TryData<Value>,
    Extension(me): Extension<Identity>,
    State(backends): State<Backends>,
) {
    answer(reply, raw, move |payload: ByUserId| async move {
        let request = block_user_request(payload, &me);
        backends
            .friends
            .clone()
            .block_user(backends.request(request))
            .await?;
        Ok(json!({}))
    })
    .await;
}

fn unblock_user_request(payload: ByUserId, me: &Identity) -> pb::UnblockUserRequest {
    pb::UnblockUserRequest {
        acting_user_id: me.user_id.to_string(),
        user_id: payload.user_id.to_string(),
    }
}

async fn unblock_user(
    reply: Reply,
    TryData(raw): TryData<Value>,
    Extension(me): Extension<Identity>,
    State(backends): State<Backends>,
) {
    answer(reply, raw, move |payload: ByUserId| async move {
        let request = unblock_user_request(payload, &me);
        backends
            .friends
            .clone()
            .unblock_user(backends.request(request))
            .await?;
        Ok(json!({}))
    })
    .await;
}

fn list_friends_request(me: &Identity) -> pb::ListFriendsRequest {
    pb::ListFriendsRequest {
        acting_user_id: me.user_id.to_string(),
    }
}

async fn list_friends(
    reply: Reply,
    TryData(raw): TryData<Value>,
    Extension(me): Extension<Identity>,
    State(backends): State<Backends>,
) {
    answer(reply, raw, move |_: NoFields| async move {
        let request = list_friends_request(&me);
        let response = backends
            .friends
            .clone()
            .list_friends(backends.request(request))
            .await?
            .into_inner();
        let friends: Vec<wire::Friend> = response.friends.into_iter().map(Into::into).collect();
        Ok(json!({ "friends": friends }))
    })
    .await;
}

fn list_friend_requests_request(me: &Identity) -> pb::ListFriendRequestsRequest {
    pb::ListFriendRequestsRequest {
        acting_user_id: me.user_id.to_string(),
    }
}

async fn list_friend_requests(
    reply: Reply,
    TryData(raw): TryData<Value>,
    Extension(me): Extension<Identity>,
    State(backends): State<Backends>,
) {
    answer(reply, raw, move |_: NoFields| async move {
        let request = list_friend_requests_request(&me);
        let response = backends
            .friends
            .clone()
            .list_friend_requests(backends.request(request))
            .await?
            .into_inner();
        let incoming: Vec<wire::FriendRequest> =
            response.incoming.into_iter().map(Into::into).collect();
        let outgoing: Vec<wire::FriendRequest> =
            response.outgoing.into_iter().map(Into::into).collect();
        Ok(json!({ "incoming": incoming, "outgoing": outgoing }))
    })
    .await;
}

fn list_blocked_request(me: &Identity) -> pb::ListBlockedRequest {
    pb::ListBlockedRequest {
        acting_user_id: me.user_id.to_string(),
    }
}

async fn list_blocked(
    reply: Reply,
    TryData(raw): TryData<Value>,
    Extension(me): Extension<Identity>,
    State(backends): State<Backends>,
) {
    answer(reply, raw, move |_: NoFields| async move {
        let request = list_blocked_request(&me);
        let response = backends
            .friends
            .clone()
            .list_blocked(backends.request(request))
            .await?
            .into_inner();
        let users: Vec<wire::User> = response.users.into_iter().map(Into::into).collect();
        Ok(json!({ "users": users }))
    })
    .await;
}

fn search_users_request(payload: SearchUsers, me: &Identity) -> pb::SearchUsersRequest {
    pb::SearchUsersRequest {
        acting_user_id: me.user_id.to_string(),
        query: payload.query,
        limit: payload.limit,
    }
}

async fn search_users(
    reply: Reply,
    TryData(raw): TryData<Value>,
    Extension(me): Extension<Identity>,
    State(backends): State<Backends>,
) {
    answer(reply, raw, move |payload: SearchUsers| async move {
        let request = search_users_request(payload, &me);
        let response = backends
            .friends
            .clone()
            .search_users(backends.request(request))
            .await?
            .into_inner();
        let users: Vec<wire::User> = response.users.into_iter().map(Into::into).collect();
        Ok(json!({ "users": users }))
    })
    .await;
}

/// docs/API.md's client → server events of `/friends`.
pub const EVENTS: [&str; 11] = [
    "send-friend-request",
    "accept-friend-request",
    "decline-friend-request",
    "cancel-friend-request",
    "remove-friend",
    "block-user",
    "unblock-user",
    "list-friends",
    "list-friend-requests",
    "list-blocked",
    "search-users",
];

/// What the handler of `event` does with its payload before calling friends-svc, with the
/// same functions; `None` for an event `/friends` does not have. For the fuzz targets.
pub fn decode(event: &str, raw: Raw, me: &Identity) -> Option<Decoded> {
    Some(match event {
        "send-friend-request" => decoded(raw, |payload| send_friend_request_request(payload, me)),
        "accept-friend-request" => decoded(raw, |payload| {
            Ok(accept_friend_request_request(payload, me))
        }),
        "decline-friend-request" => decoded(raw, |payload| {
            Ok(decline_friend_request_request(payload, me))
        }),
        "cancel-friend-request" => decoded(raw, |payload| {
            Ok(cancel_friend_request_request(payload, me))
        }),
        "remove-friend" => decoded(raw, |payload| Ok(remove_friend_request(payload, me))),
        "block-user" => decoded(raw, |payload| Ok(block_user_request(payload, me))),
        "unblock-user" => decoded(raw, |payload| Ok(unblock_user_request(payload, me))),
        "list-friends" => decoded(raw, |_: NoFields| Ok(list_friends_request(me))),
        "list-friend-requests" => decoded(raw, |_: NoFields| Ok(list_friend_requests_request(me))),
        "list-blocked" => decoded(raw, |_: NoFields| Ok(list_blocked_request(me))),
        "search-users" => decoded(raw, |payload| Ok(search_users_request(payload, me))),
        _ => return None,
    })
}
