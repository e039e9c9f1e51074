//! The gRPC face of `friends-svc`: converts requests, delegates to [`Friends`], converts
//! answers. Every conversion between domain values and protobuf lives here; the event
//! stream reuses the ones of users and requests.

use chrono::{DateTime, Utc};
use parley_common::{events::EventStream, time::to_timestamp};
use parley_proto::friends::v1::{self as pb, friends_service_server::FriendsService};
use tonic::{Request, Response, Status};

use crate::{
    domain::{Friend, FriendRequest, RequestId, User, UserId},
    error::Error,
    service::{Friends, Sent, Target},
};

/// The `parley.friends.v1.FriendsService` implementation.
#[derive(Clone)]
pub struct FriendsGrpc {
    friends: Friends,
}

impl FriendsGrpc {
    pub fn new(friends: Friends) -> Self {
        Self { friends }
    }

    /// The event logs behind the streams, to close them at shutdown.
    pub fn events(&self) -> std::sync::Arc<crate::events::Events> {
        self.friends.events.clone()
    }
}

/// What tonic wants back. A handler fails only through `?` on an [`Error`], so that every
/// code and message a caller sees comes from `ServiceError`'s one mapping.
type Answer<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl FriendsService for FriendsGrpc {
    async fn send_friend_request(
        &self,
        request: Request<pb::SendFriendRequestRequest>,
    ) -> Answer<pb::SendFriendRequestResponse> {
        let request = request.into_inner();
        let me = UserId::parse("acting_user_id", &request.acting_user_id)?;
        let target = target(request.target)?;
        let response = match self.friends.send_request(me, target).await? {
            Sent::Requested(request) => pb::SendFriendRequestResponse {
                request: Some((&request).into()),
                friend: None,
            },
            Sent::Accepted { request, since } => pb::SendFriendRequestResponse {
                friend: Some(as_friend(&request.from, since)),
                request: Some((&request).into()),
            },
        };
        Ok(Response::new(response))
    }

    async fn accept_friend_request(
        &self,
        request: Request<pb::AcceptFriendRequestRequest>,
    ) -> Answer<pb::AcceptFriendRequestResponse> {
        let request = request.into_inner();
        let me = UserId::parse("acting_user_id", &request.acting_user_id)?;
        let id = RequestId::parse("requestId", &request.request_id)?;
        let friend = self.friends.accept(me, id).await?;
        Ok(Response::new(pb::AcceptFriendRequestResponse {
            friend: Some((&friend).into()),
        }))
    }

    async fn decline_friend_request(
        &self,
        request: Request<pb::DeclineFriendRequestRequest>,
    ) -> Answer<pb::DeclineFriendRequestResponse> {
        let request = request.into_inner();
        let me = UserId::parse("acting_user_id", &request.acting_user_id)?;
        let id = RequestId::parse("requestId", &request.request_id)?;
        self.friends.decline(me, id).await?;
        Ok(Response::new(pb::DeclineFriendRequestResponse {}))
    }

    async fn cancel_friend_request(
        &self,
        request: Request<pb::CancelFriendRequestRequest>,
    ) -> Answer<pb::CancelFriendRequestResponse> {
        let request = request.into_inner();
        let me = UserId::parse("acting_user_id", &request.acting_user_id)?;
        let id = RequestId::parse("requestId", &request.request_id)?;
        self.friends.cancel(me, id).await?;
        Ok(Response::new(pb::CancelFriendRequestResponse {}))
    }

    async fn remove_friend(
        &self,
        request: Request<pb::RemoveFriendRequest>,
    ) -> Answer<pb::RemoveFriendResponse> {
        let request = request.into_inner();
        let me = UserId::parse("acting_user_id", &request.acting_user_id)?;
        let other = UserId::parse("userId", &request.user_id)?;
        self.friends.remove_friend(me, other).await?;
        Ok(Response::new(pb::RemoveFriendResponse {}))
    }

    async fn block_user(
        &self,
        request: Request<pb::BlockUserRequest>,
    ) -> Answer<pb::BlockUserResponse> {
        let request = request.into_inner();
        let me = UserId::parse("acting_user_id", &request.acting_user_id)?;
        let other = UserId::parse("userId", &request.user_id)?;
        self.friends.block(me, other).await?;
        Ok(Response::new(pb::BlockUserResponse {}))
    }

    async fn unblock_user(
        &self,
        request: Request<pb::UnblockUserRequest>,
    ) -> Answer<pb::UnblockUserResponse> {
        let request = request.into_inner();
        let me = UserId::parse("acting_user_id", &request.acting_user_id)?;
        let other = UserId::parse("userId", &request.user_id)?;
        self.friends.unblock(me, other).await?;
        Ok(Response::new(pb::UnblockUserResponse {}))
    }

    async fn list_friends(
        &self,
        request: Request<pb::ListFriendsRequest>,
    ) -> Answer<pb::ListFriendsResponse> {
        let request = request.into_inner();
        let me = UserId::parse("acting_user_id", &request.acting_user_id)?;
        let (friends, next_cursor) = self
            .friends
            .friends(me, request.limit, request.cursor.as_deref())
            .await?;
        Ok(Response::new(pb::ListFriendsResponse {
            friends: friends.iter().map(pb::Friend::from).collect(),
            next_cursor,
        }))
    }

    async fn list_friend_requests(
        &self,
        request: Request<pb::ListFriendRequestsRequest>,
    ) -> Answer<pb::ListFriendRequestsResponse> {
        let request = request.into_inner();
        let me = UserId::parse("acting_user_id", &request.acting_user_id)?;
        let page = self
            .friends
            .requests(me, request.limit, request.cursor.as_deref())
            .await?;
        Ok(Response::new(pb::ListFriendRequestsResponse {
            incoming: requests(&page.incoming),
            outgoing: requests(&page.outgoing),
            next_cursor: page.next_cursor,
        }))
    }

    async fn list_blocked(
        &self,
        request: Request<pb::ListBlockedRequest>,
    ) -> Answer<pb::ListBlockedResponse> {
        let request = request.into_inner();
        let me = UserId::parse("acting_user_id", &request.acting_user_id)?;
        let (blocked, next_cursor) = self
            .friends
            .blocked(me, request.limit, request.cursor.as_deref())
            .await?;
        Ok(Response::new(pb::ListBlockedResponse {
            users: users(&blocked),
            next_cursor,
        }))
    }

    async fn search_users(
        &self,
        request: Request<pb::SearchUsersRequest>,
    ) -> Answer<pb::SearchUsersResponse> {
        let request = request.into_inner();
        let me = UserId::parse("acting_user_id", &request.acting_user_id)?;
        let found = self
            .friends
            .search(me, &request.query, request.limit)
            .await?;
        Ok(Response::new(pb::SearchUsersResponse {
            users: users(&found),
        }))
    }

    async fn upsert_user(
        &self,
        request: Request<pb::UpsertUserRequest>,
    ) -> Answer<pb::UpsertUserResponse> {
        let request = request.into_inner();
        let id = UserId::parse("id", &request.id)?;
        let (user, created) = self
            .friends
            .upsert_user(
                id,
                &request.username,
                request.avatar.as_deref(),
                request.issued_at,
            )
            .await?;
        Ok(Response::new(pb::UpsertUserResponse {
            user: Some((&user).into()),
            created,
        }))
    }

    async fn get_users(
        &self,
        request: Request<pb::GetUsersRequest>,
    ) -> Answer<pb::GetUsersResponse> {
        let ids = request
            .into_inner()
            .user_ids
            .iter()
            .map(|id| UserId::parse("user_ids", id))
            .collect::<Result<Vec<_>, _>>()?;
        let found = self.friends.users(&ids).await?;
        Ok(Response::new(pb::GetUsersResponse {
            users: users(&found),
        }))
    }

    async fn are_friends(
        &self,
        request: Request<pb::AreFriendsRequest>,
    ) -> Answer<pb::AreFriendsResponse> {
        let request = request.into_inner();
        let a = UserId::parse("user_id", &request.user_id)?;
        let b = UserId::parse("other_user_id", &request.other_user_id)?;
        Ok(Response::new(pb::AreFriendsResponse {
            are_friends: self.friends.are_friends(a, b).await?,
        }))
    }

    async fn list_friend_ids(
        &self,
        request: Request<pb::ListFriendIdsRequest>,
    ) -> Answer<pb::ListFriendIdsResponse> {
        let request = request.into_inner();
        let user = UserId::parse("user_id", &request.user_id)?;
        let (ids, next) = self
            .friends
            .friend_ids(user, request.page_size, request.page_token.as_deref())
            .await?;
        Ok(Response::new(pb::ListFriendIdsResponse {
            friend_ids: ids.iter().map(ToString::to_string).collect(),
            next_page_token: next,
        }))
    }

    async fn is_blocked(
        &self,
        request: Request<pb::IsBlockedRequest>,
    ) -> Answer<pb::IsBlockedResponse> {
        let request = request.into_inner();
        let a = UserId::parse("user_id", &request.user_id)?;
        let b = UserId::parse("other_user_id", &request.other_user_id)?;
        Ok(Response::new(pb::IsBlockedResponse {
            blocked: self.friends.is_blocked(a, b).await?,
        }))
    }

    async fn list_block_ids(
        &self,
        request: Request<pb::ListBlockIdsRequest>,
    ) -> Answer<pb::ListBlockIdsResponse> {
        let user = UserId::parse("user_id", &request.into_inner().user_id)?;
        let (blocked, blockers) = self.friends.block_ids(user).await?;
        Ok(Response::new(pb::ListBlockIdsResponse {
            blocked_ids: blocked.iter().map(ToString::to_string).collect(),
            blocker_ids: blockers.iter().map(ToString::to_string).collect(),
        }))
    }

    async fn subscribe(
        &self,
        request: Request<pb::SubscribeRequest>,
    ) -> Answer<EventStream<pb::FriendsEvent>> {
        let (metadata, _, request) = request.into_parts();
        tracing::info!(edge = request.edge_id, after = ?request.after_event_id, "edge subscribed");
        Ok(self
            .friends
            .events
            .client
            .answer(&metadata, request.after_event_id)
            .await)
    }

    async fn watch_graph(
        &self,
        request: Request<pb::WatchGraphRequest>,
    ) -> Answer<EventStream<pb::GraphChange>> {
        let (metadata, _, request) = request.into_parts();
        tracing::info!(subscriber = request.subscriber_id, after = ?request.after_event_id, "graph watcher subscribed");
        Ok(self
            .friends
            .events
            .graph
            .answer(&metadata, request.after_event_id)
            .await)
    }
}

// --- protobuf into domain values ---

fn target(target: Option<pb::send_friend_request_request::Target>) -> Result<Target, Error> {
    use pb::send_friend_request_request::Target as Given;
    match target {
        Some(Given::UserId(id)) => Ok(Target::Id(UserId::parse("userId", &id)?)),
        Some(Given::Username(name)) => Ok(Target::Username(name)),
        // Not `Error::invalid`: the message names both fields and has no `field: ` prefix.
        None => Err(Error::InvalidArgument(
            "userId or username is required".to_owned(),
        )),
    }
}

// --- domain values into protobuf ---

impl From<&User> for pb::User {
    fn from(user: &User) -> Self {
        Self {
            id: user.id.to_string(),
            username: user.username.clone(),
            avatar: user.avatar.clone(),
        }
    }
}

impl From<&FriendRequest> for pb::FriendRequest {
    fn from(request: &FriendRequest) -> Self {
        Self {
            id: request.id.to_string(),
            from_user: Some((&request.from).into()),
            to_user: Some((&request.to).into()),
            created_at: Some(to_timestamp(request.created_at)),
        }
    }
}

impl From<&Friend> for pb::Friend {
    fn from(friend: &Friend) -> Self {
        as_friend(&friend.user, friend.since)
    }
}

/// `user` as a friend since `since`.
fn as_friend(user: &User, since: DateTime<Utc>) -> pb::Friend {
    pb::Friend {
        user: Some(user.into()),
        since: Some(to_timestamp(since)),
    }
}

fn users(users: &[User]) -> Vec<pb::User> {
    users.iter().map(pb::User::from).collect()
}

fn requests(requests: &[FriendRequest]) -> Vec<pb::FriendRequest> {
    requests.iter().map(pb::FriendRequest::from).collect()
}
