//! `/friends`: friend requests, friendships, blocks and user search.

use parley_proto::friends::v1::{self as pb, send_friend_request_request::Target};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::{Caller, Event, nothing, rpc, unary};
use crate::{error::ApiError, wire};

/// docs/API.md's client → server events of `/friends`.
pub(super) fn events() -> Vec<Event> {
    vec![
        unary(
            &["send-friend-request"],
            send_friend_request,
            rpc!(friends.send_friend_request),
            |answer| {
                let request = answer.request.map(wire::FriendRequest::from);
                // `friend` is there only when this request accepted theirs.
                match answer.friend {
                    Some(friend) => {
                        json!({ "request": request, "friend": wire::Friend::from(friend) })
                    }
                    None => json!({ "request": request }),
                }
            },
        ),
        unary(
            &["accept-friend-request"],
            |request: ByRequestId, caller| {
                Ok(pb::AcceptFriendRequestRequest {
                    acting_user_id: caller.user_id(),
                    request_id: request.request_id.to_string(),
                })
            },
            rpc!(friends.accept_friend_request),
            |answer| json!({ "friend": answer.friend.map(wire::Friend::from) }),
        ),
        unary(
            &["decline-friend-request"],
            |request: ByRequestId, caller| {
                Ok(pb::DeclineFriendRequestRequest {
                    acting_user_id: caller.user_id(),
                    request_id: request.request_id.to_string(),
                })
            },
            rpc!(friends.decline_friend_request),
            nothing,
        ),
        unary(
            &["cancel-friend-request"],
            |request: ByRequestId, caller| {
                Ok(pb::CancelFriendRequestRequest {
                    acting_user_id: caller.user_id(),
                    request_id: request.request_id.to_string(),
                })
            },
            rpc!(friends.cancel_friend_request),
            nothing,
        ),
        unary(
            &["remove-friend"],
            |user: ByUserId, caller| {
                Ok(pb::RemoveFriendRequest {
                    acting_user_id: caller.user_id(),
                    user_id: user.user_id.to_string(),
                })
            },
            rpc!(friends.remove_friend),
            nothing,
        ),
        unary(
            &["block-user"],
            |user: ByUserId, caller| {
                Ok(pb::BlockUserRequest {
                    acting_user_id: caller.user_id(),
                    user_id: user.user_id.to_string(),
                })
            },
            rpc!(friends.block_user),
            nothing,
        ),
        unary(
            &["unblock-user"],
            |user: ByUserId, caller| {
                Ok(pb::UnblockUserRequest {
                    acting_user_id: caller.user_id(),
                    user_id: user.user_id.to_string(),
                })
            },
            rpc!(friends.unblock_user),
            nothing,
        ),
        unary(
            &["list-friends"],
            |page: ListPage, caller| {
                Ok(pb::ListFriendsRequest {
                    acting_user_id: caller.user_id(),
                    limit: page.limit,
                    cursor: page.cursor,
                })
            },
            rpc!(friends.list_friends),
            |answer| {
                json!({
                    "friends": wire::all::<wire::Friend, _>(answer.friends),
                    "nextCursor": answer.next_cursor,
                })
            },
        ),
        unary(
            &["list-friend-requests"],
            |page: ListPage, caller| {
                Ok(pb::ListFriendRequestsRequest {
                    acting_user_id: caller.user_id(),
                    limit: page.limit,
                    cursor: page.cursor,
                })
            },
            rpc!(friends.list_friend_requests),
            |answer| {
                json!({
                    "incoming": wire::all::<wire::FriendRequest, _>(answer.incoming),
                    "outgoing": wire::all::<wire::FriendRequest, _>(answer.outgoing),
                    "nextCursor": answer.next_cursor,
                })
            },
        ),
        unary(
            &["list-blocked"],
            |page: ListPage, caller| {
                Ok(pb::ListBlockedRequest {
                    acting_user_id: caller.user_id(),
                    limit: page.limit,
                    cursor: page.cursor,
                })
            },
            rpc!(friends.list_blocked),
            |answer| {
                json!({
                    "users": wire::all::<wire::User, _>(answer.users),
                    "nextCursor": answer.next_cursor,
                })
            },
        ),
        unary(
            &["search-users"],
            |search: SearchUsers, caller| {
                Ok(pb::SearchUsersRequest {
                    acting_user_id: caller.user_id(),
                    query: search.query,
                    limit: search.limit,
                })
            },
            rpc!(friends.search_users),
            |answer| json!({ "users": wire::all::<wire::User, _>(answer.users) }),
        ),
    ]
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

/// A page of one of the friends lists; friends-svc checks the limit and the cursor.
#[derive(Deserialize)]
struct ListPage {
    limit: Option<u32>,
    cursor: Option<String>,
}

#[derive(Deserialize)]
struct SearchUsers {
    query: String,
    limit: Option<u32>,
}

fn send_friend_request(
    payload: SendFriendRequest,
    caller: &Caller<'_>,
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
        acting_user_id: caller.user_id(),
        target: Some(target),
    })
}
