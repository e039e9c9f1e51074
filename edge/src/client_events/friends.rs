//! `/friends`: friend requests, friendships, blocks and user search.

use parley_proto::friends::v1::{self as pb, send_friend_request_request::Target};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Caller, Event, nothing, rpc, unary};
use crate::{error::ApiError, protocol_schema::absent_not_null, wire};

/// docs/API.md's client → server events of `/friends`.
pub(super) fn events() -> Vec<Event> {
    vec![
        unary(
            &["send-friend-request"],
            send_friend_request,
            rpc!(friends.send_friend_request),
            |answer| Requested {
                request: answer.request.map(wire::FriendRequest::from),
                friend: answer.friend.map(wire::Friend::from),
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
            |answer| Befriended {
                friend: answer.friend.map(wire::Friend::from),
            },
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
            |answer| FriendPage {
                friends: wire::all(answer.friends),
                next_cursor: answer.next_cursor,
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
            |answer| FriendRequestPage {
                incoming: wire::all(answer.incoming),
                outgoing: wire::all(answer.outgoing),
                next_cursor: answer.next_cursor,
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
            |answer| UserPage {
                users: wire::all(answer.users),
                next_cursor: answer.next_cursor,
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
            |answer| FoundUsers {
                users: wire::all(answer.users),
            },
        ),
    ]
}

/// `send-friend-request`'s payload: `userId` or `username`, not both.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct SendFriendRequest {
    user_id: Option<Uuid>,
    /// Exact, in any case or width.
    username: Option<String>,
}

/// The payload of the events about one friend request.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct ByRequestId {
    request_id: Uuid,
}

/// The payload of the events about one other user.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct ByUserId {
    user_id: Uuid,
}

/// A page of one of the friends lists; friends-svc checks the limit and the cursor.
#[derive(Deserialize, JsonSchema)]
struct ListPage {
    /// 1–500 items per page, 100 by default.
    limit: Option<u32>,
    /// The `nextCursor` of the previous page.
    cursor: Option<String>,
}

/// `search-users`' payload.
#[derive(Deserialize, JsonSchema)]
struct SearchUsers {
    /// 1–100 characters the usernames start with, regardless of case and width.
    query: String,
    /// 1–50, 20 by default.
    limit: Option<u32>,
}

/// `send-friend-request`'s ack.
#[derive(Serialize, JsonSchema)]
struct Requested {
    request: Option<wire::FriendRequest>,
    /// The new friend, when this request accepted theirs; absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(transform = absent_not_null)]
    friend: Option<wire::Friend>,
}

/// `accept-friend-request`'s ack.
#[derive(Serialize, JsonSchema)]
struct Befriended {
    friend: Option<wire::Friend>,
}

/// `list-friends`' ack: by name.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct FriendPage {
    friends: Vec<wire::Friend>,
    /// The `cursor` of the next page; `null` on the last.
    next_cursor: Option<String>,
}

/// `list-friend-requests`' ack: newest first, both lists paged at once.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct FriendRequestPage {
    incoming: Vec<wire::FriendRequest>,
    outgoing: Vec<wire::FriendRequest>,
    /// The `cursor` of the next page; `null` on the last.
    next_cursor: Option<String>,
}

/// `list-blocked`'s ack: the users the caller blocked, by name.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct UserPage {
    users: Vec<wire::User>,
    /// The `cursor` of the next page; `null` on the last.
    next_cursor: Option<String>,
}

/// `search-users`' ack: by folded name, without the caller.
#[derive(Serialize, JsonSchema)]
struct FoundUsers {
    users: Vec<wire::User>,
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
