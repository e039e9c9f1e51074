//! The gRPC face of `presence-svc`: converts requests, delegates to [`Presence`], converts
//! answers. The one module that knows the protobuf types: the events [`crate::events`]
//! sends are built here too.

use std::{sync::Arc, time::Duration};

use chrono::Utc;
use parley_common::{events::EventStream, time::to_timestamp};
use parley_proto::presence::v1::{self as pb, presence_service_server::PresenceService};
use tonic::{Request, Response, Status};

use crate::{
    domain::{EdgeId, FriendView, SessionId, Status as PresenceStatus, UserId},
    error::Error,
    service::Presence,
    state::Change,
};

/// The `parley.presence.v1.PresenceService` implementation.
#[derive(Clone)]
pub struct PresenceGrpc {
    presence: Arc<Presence>,
    lease_ttl: Duration,
}

impl PresenceGrpc {
    pub fn new(presence: Arc<Presence>, lease_ttl: Duration) -> Self {
        Self {
            presence,
            lease_ttl,
        }
    }
}

type Answer<T> = Result<Response<T>, Status>;

/// The most users one `GetStatuses` asks about (a caller's friends on one replica).
const MAX_STATUSES_ASKED: usize = 10_000;

#[tonic::async_trait]
impl PresenceService for PresenceGrpc {
    async fn open_session(
        &self,
        request: Request<pb::OpenSessionRequest>,
    ) -> Answer<pb::OpenSessionResponse> {
        let request = request.into_inner();
        let user = UserId::parse("user_id", &request.user_id)?;
        let session = SessionId::parse("session_id", &request.session_id)?;
        let edge = EdgeId::parse("edge_id", &request.edge_id)?;
        let chosen = self.presence.open_session(user, &session, &edge).await?;
        Ok(Response::new(pb::OpenSessionResponse {
            status: status_to_pb(chosen).into(),
        }))
    }

    async fn close_session(
        &self,
        request: Request<pb::CloseSessionRequest>,
    ) -> Answer<pb::CloseSessionResponse> {
        let request = request.into_inner();
        let user = UserId::parse("user_id", &request.user_id)?;
        let session = SessionId::parse("session_id", &request.session_id)?;
        self.presence.close_session(user, &session)?;
        Ok(Response::new(pb::CloseSessionResponse {}))
    }

    async fn heartbeat(
        &self,
        request: Request<pb::HeartbeatRequest>,
    ) -> Answer<pb::HeartbeatResponse> {
        let request = request.into_inner();
        let user = UserId::parse("acting_user_id", &request.acting_user_id)?;
        let session = SessionId::parse("session_id", &request.session_id)?;
        let edge = EdgeId::parse("edge_id", &request.edge_id)?;
        self.presence.heartbeat(user, &session, &edge).await?;
        Ok(Response::new(pb::HeartbeatResponse {
            server_time: Some(to_timestamp(Utc::now())),
        }))
    }

    async fn update_status(
        &self,
        request: Request<pb::UpdateStatusRequest>,
    ) -> Answer<pb::UpdateStatusResponse> {
        let request = request.into_inner();
        let user = UserId::parse("acting_user_id", &request.acting_user_id)?;
        let status = pb::Status::try_from(request.status)
            .ok()
            .and_then(status_from_pb)
            .ok_or_else(|| Error::invalid("status", "unknown status"))?;
        let stored = self.presence.update_status(user, status).await?;
        Ok(Response::new(pb::UpdateStatusResponse {
            status: status_to_pb(stored).into(),
        }))
    }

    async fn get_friends_status(
        &self,
        request: Request<pb::GetFriendsStatusRequest>,
    ) -> Answer<pb::GetFriendsStatusResponse> {
        let user = UserId::parse("acting_user_id", &request.into_inner().acting_user_id)?;
        let friends = self.presence.friends_status(user).await?;
        Ok(Response::new(pb::GetFriendsStatusResponse {
            friends: friends.into_iter().map(friend_status).collect(),
        }))
    }

    async fn renew_edge_lease(
        &self,
        request: Request<pb::RenewEdgeLeaseRequest>,
    ) -> Answer<pb::RenewEdgeLeaseResponse> {
        let request = request.into_inner();
        let edge = EdgeId::parse("edge_id", &request.edge_id)?;
        let sessions = request
            .sessions
            .iter()
            .map(|session| {
                Ok((
                    SessionId::parse("session_id", &session.session_id)?,
                    UserId::parse("user_id", &session.user_id)?,
                ))
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let shards = self.presence.renew_lease(&edge, sessions).await?;
        Ok(Response::new(pb::RenewEdgeLeaseResponse {
            lease_ttl_ms: u32::try_from(self.lease_ttl.as_millis()).unwrap_or(u32::MAX),
            shards,
        }))
    }

    async fn get_statuses(
        &self,
        request: Request<pb::GetStatusesRequest>,
    ) -> Answer<pb::GetStatusesResponse> {
        let request = request.into_inner();
        if request.user_ids.len() > MAX_STATUSES_ASKED {
            return Err(Error::invalid("user_ids", "at most 10000 ids").into());
        }
        let users = request
            .user_ids
            .iter()
            .map(|id| UserId::parse("user_ids", id))
            .collect::<Result<Vec<_>, Error>>()?;
        let shown = self.presence.shown_here(&users).await?;
        Ok(Response::new(pb::GetStatusesResponse {
            statuses: shown
                .into_iter()
                .map(|(user, (status, last_seen))| pb::UserStatus {
                    user_id: user.to_string(),
                    status: status_to_pb(status).into(),
                    last_seen: last_seen.map(to_timestamp),
                })
                .collect(),
        }))
    }

    async fn subscribe(
        &self,
        request: Request<pb::SubscribeRequest>,
    ) -> Answer<EventStream<pb::PresenceEvent>> {
        let (metadata, _, request) = request.into_parts();
        tracing::info!(edge = request.edge_id, after = ?request.after_event_id, "edge subscribed");
        Ok(self
            .presence
            .events
            .answer(&metadata, request.after_event_id)
            .await)
    }
}

// Conversions between protobuf and the service's own types, both ways and all here.

fn status_to_pb(status: PresenceStatus) -> pb::Status {
    match status {
        PresenceStatus::Online => pb::Status::Online,
        PresenceStatus::Away => pb::Status::Away,
        PresenceStatus::DoNotDisturb => pb::Status::DoNotDisturb,
        PresenceStatus::Invisible => pb::Status::Invisible,
        PresenceStatus::Offline => pb::Status::Offline,
    }
}

/// `None` for `UNSPECIFIED`, which names no status.
pub(crate) fn status_from_pb(status: pb::Status) -> Option<PresenceStatus> {
    Some(match status {
        pb::Status::Online => PresenceStatus::Online,
        pb::Status::Away => PresenceStatus::Away,
        pb::Status::DoNotDisturb => PresenceStatus::DoNotDisturb,
        pb::Status::Invisible => PresenceStatus::Invisible,
        pb::Status::Offline => PresenceStatus::Offline,
        pb::Status::Unspecified => return None,
    })
}

fn friend_status(friend: FriendView) -> pb::FriendStatus {
    pb::FriendStatus {
        user_id: friend.user_id.to_string(),
        username: friend.username,
        status: status_to_pb(friend.status).into(),
        last_seen: friend.last_seen.map(to_timestamp),
        is_online: friend.status != PresenceStatus::Offline,
    }
}

/// The event that tells `recipients` of `change`, for [`crate::events`].
pub(crate) fn presence_event(change: &Change, recipients: &[UserId]) -> pb::PresenceEvent {
    pb::PresenceEvent {
        // Numbered by each replica's log as it arrives.
        event_id: 0,
        recipient_user_ids: recipients.iter().map(UserId::to_string).collect(),
        payload: Some(pb::presence_event::Payload::FriendStatusChanged(
            pb::FriendStatusChanged {
                user_id: change.user.to_string(),
                status: status_to_pb(change.status).into(),
                last_seen: Some(to_timestamp(change.last_seen)),
            },
        )),
    }
}
