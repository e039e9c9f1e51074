//! The gRPC face of `calls-svc`: validates and converts requests, delegates to [`Calls`],
//! converts answers.

use std::{sync::Arc, time::Duration};

use parley_common::{error::ServiceError, events::EventStream, time::to_timestamp};
use parley_proto::calls::v1::{self as pb, EndReason, Media, calls_service_server::CallsService};
use tonic::{Request, Response, Status};

use crate::{
    domain::{CallId, Device, RoomId, UserId},
    events::{call_pb, device_pb},
    service::{Calls, Invite, Target},
    turn::Minted,
};

/// A description's SDP is at most this long.
const MAX_SDP_BYTES: usize = 32 * 1024;
/// One candidate, all its fields together.
const MAX_CANDIDATE_BYTES: usize = 1024;
const MAX_CANDIDATES_PER_CALL: usize = 20;

#[derive(Clone)]
pub struct CallsGrpc {
    calls: Arc<Calls>,
}

impl CallsGrpc {
    pub fn new(calls: Arc<Calls>) -> Self {
        Self { calls }
    }
}

type Answer<T> = Result<Response<T>, Status>;

fn invalid(field: &str, problem: &str) -> Status {
    ServiceError::invalid(field, problem).into()
}

/// A device id: 1–64 characters of `[A-Za-z0-9._~-]`.
fn device(field: &str, device: Option<pb::Device>) -> Result<Device, Status> {
    let device = device.ok_or_else(|| invalid(field, "is required"))?;
    let user = UserId::parse(&format!("{field}.user_id"), &device.user_id)?;
    let valid = (1..=64).contains(&device.device_id.len())
        && device
            .device_id
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"._~-".contains(&byte));
    if !valid {
        return Err(invalid(
            &format!("{field}.device_id"),
            "must be 1-64 characters of A-Z a-z 0-9 . _ ~ -",
        ));
    }
    Ok(Device {
        user,
        device: device.device_id,
    })
}

fn call_id(text: &str) -> Result<CallId, Status> {
    Ok(CallId::parse("call_id", text)?)
}

/// An edge or socket id: 1–128 bytes.
fn opaque(field: &str, text: String) -> Result<String, Status> {
    if (1..=128).contains(&text.len()) {
        Ok(text)
    } else {
        Err(invalid(field, "must be 1-128 bytes"))
    }
}

fn description(
    field: &str,
    description: Option<pb::SessionDescription>,
    types: &[&str],
) -> Result<pb::SessionDescription, Status> {
    let description = description.ok_or_else(|| invalid(field, "is required"))?;
    if !types.contains(&description.r#type.as_str()) {
        return Err(invalid(
            &format!("{field}.type"),
            &format!("must be {}", types.join(" or ")),
        ));
    }
    if description.sdp.is_empty() || description.sdp.len() > MAX_SDP_BYTES {
        return Err(invalid(&format!("{field}.sdp"), "must be 1 byte to 32 KiB"));
    }
    Ok(description)
}

fn candidate_bytes(candidate: &pb::IceCandidate) -> usize {
    candidate.candidate.len()
        + candidate.sdp_mid.as_ref().map_or(0, String::len)
        + candidate.username_fragment.as_ref().map_or(0, String::len)
}

fn call_answer(call: &crate::domain::Call) -> Option<pb::Call> {
    Some(call_pb(call))
}

fn expires(minted: &Minted) -> Option<prost_types::Timestamp> {
    minted.expires_at.map(to_timestamp)
}

#[tonic::async_trait]
impl CallsService for CallsGrpc {
    async fn get_ice_servers(
        &self,
        request: Request<pb::GetIceServersRequest>,
    ) -> Answer<pb::GetIceServersResponse> {
        let user = UserId::parse("acting_user_id", &request.into_inner().acting_user_id)?;
        let minted = self.calls.ice_servers(user);
        Ok(Response::new(pb::GetIceServersResponse {
            expires_at: expires(&minted),
            ice_servers: minted.servers,
        }))
    }

    async fn invite(&self, request: Request<pb::InviteRequest>) -> Answer<pb::InviteResponse> {
        let request = request.into_inner();
        let actor = device("actor", request.actor)?;
        let target = match request.target {
            Some(pb::invite_request::Target::RoomId(room)) => {
                Target::Room(RoomId::parse("room_id", &room)?)
            }
            Some(pb::invite_request::Target::ReceiverId(user)) => {
                Target::Receiver(UserId::parse("receiver_id", &user)?)
            }
            None => return Err(invalid("receiver_id", "a receiver or a room is required")),
        };
        let media = Media::try_from(request.media).unwrap_or(Media::Unspecified);
        if media == Media::Unspecified {
            return Err(invalid("media", "must be AUDIO or VIDEO"));
        }
        let offer = description("offer", request.offer, &["offer"])?;
        if let Some(key) = &request.client_call_id
            && !(1..=128).contains(&key.chars().count())
        {
            return Err(invalid("client_call_id", "must be 1-128 characters"));
        }
        let invited = self
            .calls
            .invite(Invite {
                actor,
                target,
                media,
                offer,
                client_call_id: request.client_call_id,
            })
            .await?;
        let (merged, offer, candidates) = match invited.merged {
            Some((offer, candidates)) => (true, offer, candidates),
            None => (false, None, Vec::new()),
        };
        Ok(Response::new(pb::InviteResponse {
            call: call_answer(&invited.call),
            ice_servers_expire_at: expires(&invited.ice),
            ice_servers: invited.ice.servers,
            merged,
            offer,
            candidates,
        }))
    }

    async fn accept(&self, request: Request<pb::AcceptRequest>) -> Answer<pb::AcceptResponse> {
        let request = request.into_inner();
        let actor = device("actor", request.actor)?;
        let id = call_id(&request.call_id)?;
        let answer = description("answer", request.answer, &["answer"])?;
        let (call, candidates, ice) = self.calls.accept(&actor, id, answer).await?;
        Ok(Response::new(pb::AcceptResponse {
            call: call_answer(&call),
            candidates,
            ice_servers_expire_at: expires(&ice),
            ice_servers: ice.servers,
        }))
    }

    async fn decline(&self, request: Request<pb::DeclineRequest>) -> Answer<pb::DeclineResponse> {
        let request = request.into_inner();
        let actor = device("actor", request.actor)?;
        let call = self
            .calls
            .decline(&actor, call_id(&request.call_id)?)
            .await?;
        Ok(Response::new(pb::DeclineResponse {
            call: call_answer(&call),
        }))
    }

    async fn ice(&self, request: Request<pb::IceRequest>) -> Answer<pb::IceResponse> {
        let request = request.into_inner();
        let actor = device("actor", request.actor)?;
        let id = call_id(&request.call_id)?;
        if request.candidates.is_empty() && !request.end {
            return Err(invalid("candidates", "give candidates, or end"));
        }
        if request.candidates.len() > MAX_CANDIDATES_PER_CALL {
            return Err(invalid("candidates", "at most 20 per call"));
        }
        if request
            .candidates
            .iter()
            .any(|candidate| candidate_bytes(candidate) > MAX_CANDIDATE_BYTES)
        {
            return Err(invalid("candidates", "each at most 1 KiB"));
        }
        self.calls
            .ice(&actor, id, request.candidates, request.end)
            .await?;
        Ok(Response::new(pb::IceResponse {}))
    }

    async fn negotiate(
        &self,
        request: Request<pb::NegotiateRequest>,
    ) -> Answer<pb::NegotiateResponse> {
        let request = request.into_inner();
        let actor = device("actor", request.actor)?;
        let id = call_id(&request.call_id)?;
        let description = description("description", request.description, &["offer", "answer"])?;
        self.calls.negotiate(&actor, id, description).await?;
        Ok(Response::new(pb::NegotiateResponse {}))
    }

    async fn connected(
        &self,
        request: Request<pb::ConnectedRequest>,
    ) -> Answer<pb::ConnectedResponse> {
        let request = request.into_inner();
        let actor = device("actor", request.actor)?;
        let call = self
            .calls
            .connected(&actor, call_id(&request.call_id)?)
            .await?;
        Ok(Response::new(pb::ConnectedResponse {
            call: call_answer(&call),
        }))
    }

    async fn hangup(&self, request: Request<pb::HangupRequest>) -> Answer<pb::HangupResponse> {
        let request = request.into_inner();
        let actor = device("actor", request.actor)?;
        let id = call_id(&request.call_id)?;
        let reason = match EndReason::try_from(request.reason) {
            Ok(EndReason::Unspecified | EndReason::Hangup) => EndReason::Hangup,
            Ok(reason @ (EndReason::IceFailed | EndReason::ConnectionLost)) => reason,
            _ => {
                return Err(invalid(
                    "reason",
                    "must be HANGUP, ICE_FAILED or CONNECTION_LOST",
                ));
            }
        };
        let call = self.calls.hangup(&actor, id, reason).await?;
        Ok(Response::new(pb::HangupResponse {
            call: call_answer(&call),
        }))
    }

    async fn resume(&self, request: Request<pb::ResumeRequest>) -> Answer<pb::ResumeResponse> {
        let request = request.into_inner();
        let actor = device("actor", request.actor)?;
        let id = call_id(&request.call_id)?;
        let edge = opaque("edge_id", request.edge_id)?;
        let socket = opaque("socket_id", request.socket_id)?;
        let (call, peer, candidates, ice) = self.calls.resume(&actor, id, &edge, &socket).await?;
        Ok(Response::new(pb::ResumeResponse {
            call: call_answer(&call),
            peer: Some(device_pb(&peer)),
            candidates,
            ice_servers_expire_at: expires(&ice),
            ice_servers: ice.servers,
        }))
    }

    async fn list_calls(
        &self,
        request: Request<pb::ListCallsRequest>,
    ) -> Answer<pb::ListCallsResponse> {
        let actor = device("actor", request.into_inner().actor)?;
        let calls = self.calls.list(actor.user).await?;
        Ok(Response::new(pb::ListCallsResponse {
            calls: calls.iter().map(call_pb).collect(),
        }))
    }

    async fn open_device(
        &self,
        request: Request<pb::OpenDeviceRequest>,
    ) -> Answer<pb::OpenDeviceResponse> {
        let request = request.into_inner();
        let device = device("device", request.device)?;
        let edge = opaque("edge_id", request.edge_id)?;
        let socket = opaque("socket_id", request.socket_id)?;
        let (calls, ringing) = self.calls.open_device(&device, &edge, &socket).await?;
        Ok(Response::new(pb::OpenDeviceResponse {
            calls: calls.iter().map(call_pb).collect(),
            ringing,
        }))
    }

    async fn close_device(
        &self,
        request: Request<pb::CloseDeviceRequest>,
    ) -> Answer<pb::CloseDeviceResponse> {
        let request = request.into_inner();
        let device = device("device", request.device)?;
        opaque("edge_id", request.edge_id)?;
        let socket = opaque("socket_id", request.socket_id)?;
        self.calls.close_device(&device, &socket).await?;
        Ok(Response::new(pb::CloseDeviceResponse {}))
    }

    async fn renew_edge_lease(
        &self,
        request: Request<pb::RenewEdgeLeaseRequest>,
    ) -> Answer<pb::RenewEdgeLeaseResponse> {
        let request = request.into_inner();
        let edge = opaque("edge_id", request.edge_id)?;
        if request.lease_ttl_ms == 0 {
            return Err(invalid("lease_ttl_ms", "must be positive"));
        }
        let sockets = request
            .sockets
            .into_iter()
            .map(|socket| {
                Ok((
                    device("sockets.device", socket.device)?,
                    opaque("sockets.socket_id", socket.socket_id)?,
                ))
            })
            .collect::<Result<Vec<_>, Status>>()?;
        self.calls
            .renew_edge_lease(&edge, Duration::from_millis(request.lease_ttl_ms), sockets)
            .await?;
        Ok(Response::new(pb::RenewEdgeLeaseResponse {}))
    }

    async fn subscribe(
        &self,
        request: Request<pb::SubscribeRequest>,
    ) -> Answer<EventStream<pb::CallEvent>> {
        let after = request.get_ref().after_event_id;
        tracing::info!(edge = %request.get_ref().edge_id, ?after, "edge subscribed to call events");
        Ok(self.calls.events().answer(request.metadata(), after).await)
    }
}
