//! The JSON shapes of `/calls` (docs/API.md "`/calls`"), built from calls-svc's protobuf
//! messages with the conventions of `wire`: camelCase keys, ids as strings, times as
//! RFC 3339 UTC with milliseconds, enums as their upper-case names without the prefix.

use parley_proto::calls::v1 as pb;
use schemars::JsonSchema;
use serde::Serialize;
use uuid::Uuid;

use crate::{
    protocol_schema::absent_not_null,
    wire::{EndReason, Media, time},
};

/// Where a call is: ringing, answered with ICE connecting, connected, or over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CallState {
    Ringing,
    Connecting,
    Active,
    Ended,
}

impl CallState {
    /// A state this edge does not know yet shows as `RINGING`.
    fn from_proto(state: i32) -> Self {
        match pb::CallState::try_from(state) {
            Ok(pb::CallState::Connecting) => Self::Connecting,
            Ok(pb::CallState::Active) => Self::Active,
            Ok(pb::CallState::Ended) => Self::Ended,
            _ => Self::Ringing,
        }
    }
}

/// Why a call ended; `None` while it has not.
fn end_reason(reason: i32) -> Option<EndReason> {
    (reason != i32::from(pb::EndReason::Unspecified)).then(|| EndReason::from_proto(reason))
}

/// `{ userId, deviceId }`: who rings, who answered, who sent a relay.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Device {
    #[schemars(with = "Uuid")]
    pub user_id: String,
    /// The handshake's `deviceId`, or the socket id of a socket that sent none.
    pub device_id: String,
}

impl From<pb::Device> for Device {
    fn from(device: pb::Device) -> Self {
        Self {
            user_id: device.user_id,
            device_id: device.device_id,
        }
    }
}

/// A device that an answer must carry; an empty one if it (wrongly) does not.
fn device(device: Option<pb::Device>) -> Device {
    device.map_or_else(
        || Device {
            user_id: String::new(),
            device_id: String::new(),
        },
        Device::from,
    )
}

/// The `call` object; fields without a value are left out.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Call {
    #[schemars(with = "Uuid")]
    pub id: String,
    /// The DM room of the two parties.
    #[schemars(with = "Uuid")]
    pub room_id: String,
    pub media: Media,
    pub state: CallState,
    pub caller: Device,
    #[schemars(with = "Uuid")]
    pub callee_id: String,
    /// The callee's device that accepted.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(transform = absent_not_null)]
    pub answered_by: Option<Device>,
    pub created_at: Option<String>,
    /// When an unanswered call ends as `MISSED`.
    pub ring_deadline: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(transform = absent_not_null)]
    pub answered_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(transform = absent_not_null)]
    pub connected_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(transform = absent_not_null)]
    pub ended_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(transform = absent_not_null)]
    pub end_reason: Option<EndReason>,
    /// Counted from `connectedAt`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(transform = absent_not_null)]
    pub duration_ms: Option<u64>,
    /// The caller's `clientCallId`, echoed to the caller only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(transform = absent_not_null)]
    pub client_call_id: Option<String>,
}

impl From<pb::Call> for Call {
    fn from(call: pb::Call) -> Self {
        Self {
            media: Media::from_proto(call.media),
            state: CallState::from_proto(call.state),
            caller: device(call.caller),
            answered_by: call.answered_by.map(Device::from),
            created_at: time(call.created_at.as_ref()),
            ring_deadline: time(call.ring_deadline.as_ref()),
            answered_at: time(call.answered_at.as_ref()),
            connected_at: time(call.connected_at.as_ref()),
            ended_at: time(call.ended_at.as_ref()),
            end_reason: end_reason(call.end_reason),
            duration_ms: call.duration_ms,
            client_call_id: call.client_call_id,
            id: call.id,
            room_id: call.room_id,
            callee_id: call.callee_id,
        }
    }
}

/// A call that an answer must carry; `null` if it (wrongly) does not.
pub fn call(call: Option<pb::Call>) -> Option<Call> {
    call.map(Call::from)
}

/// `RTCSessionDescriptionInit`: `{ type, sdp }`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SessionDescription {
    /// `offer` or `answer`.
    #[serde(rename = "type")]
    pub kind: String,
    pub sdp: String,
}

impl From<pb::SessionDescription> for SessionDescription {
    fn from(description: pb::SessionDescription) -> Self {
        Self {
            kind: description.r#type,
            sdp: description.sdp,
        }
    }
}

/// `RTCIceCandidateInit`, as the peer sent it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IceCandidate {
    pub candidate: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(transform = absent_not_null)]
    pub sdp_mid: Option<String>,
    #[serde(rename = "sdpMLineIndex", skip_serializing_if = "Option::is_none")]
    #[schemars(transform = absent_not_null)]
    pub sdp_m_line_index: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(transform = absent_not_null)]
    pub username_fragment: Option<String>,
}

impl From<pb::IceCandidate> for IceCandidate {
    fn from(candidate: pb::IceCandidate) -> Self {
        Self {
            candidate: candidate.candidate,
            sdp_mid: candidate.sdp_mid,
            sdp_m_line_index: candidate.sdp_m_line_index,
            username_fragment: candidate.username_fragment,
        }
    }
}

/// Candidates in their client shape.
pub fn candidates(candidates: Vec<pb::IceCandidate>) -> Vec<IceCandidate> {
    candidates.into_iter().map(IceCandidate::from).collect()
}

/// `RTCIceServer`: `{ urls, username?, credential? }`; TURN credentials are time-limited.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct IceServer {
    pub urls: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(transform = absent_not_null)]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(transform = absent_not_null)]
    pub credential: Option<String>,
}

impl From<pb::IceServer> for IceServer {
    fn from(server: pb::IceServer) -> Self {
        Self {
            urls: server.urls,
            username: server.username,
            credential: server.credential,
        }
    }
}

/// ICE servers in their client shape.
pub fn ice_servers(servers: Vec<pb::IceServer>) -> Vec<IceServer> {
    servers.into_iter().map(IceServer::from).collect()
}

/// `{ iceServers, expiresAt }`: the ack of `get-ice-servers`, and part of the acks that hand
/// out servers.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IceServers {
    pub ice_servers: Vec<IceServer>,
    /// When the TURN credentials expire; `null` when there are none.
    pub expires_at: Option<String>,
}

impl IceServers {
    pub fn new(servers: Vec<pb::IceServer>, expires_at: Option<&prost_types::Timestamp>) -> Self {
        Self {
            ice_servers: ice_servers(servers),
            expires_at: time(expires_at),
        }
    }
}

/// `{ call }`: the ack of `call-connected` and `call-hangup`, and `call-updated` and
/// `call-ended`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct CallUpdate {
    pub call: Option<Call>,
}

impl From<Option<pb::Call>> for CallUpdate {
    fn from(call: Option<pb::Call>) -> Self {
        Self {
            call: call.map(Call::from),
        }
    }
}

/// `{ calls }`: the ack of `list-calls`, and `calls-state`: the live calls, oldest first.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct CallList {
    pub calls: Vec<Call>,
}

impl From<Vec<pb::Call>> for CallList {
    fn from(calls: Vec<pb::Call>) -> Self {
        Self {
            calls: calls.into_iter().map(Call::from).collect(),
        }
    }
}

/// `call-incoming`: a call that rings this device, with what it takes to answer it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CallIncoming {
    pub call: Option<Call>,
    pub offer: Option<SessionDescription>,
    /// The caller's candidates so far.
    pub candidates: Vec<IceCandidate>,
    /// The time left to answer, by the server's clock.
    pub ring_remaining_ms: u64,
    pub ice_servers: Vec<IceServer>,
    /// When the TURN credentials of `iceServers` expire; absent without TURN credentials.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(transform = absent_not_null)]
    pub expires_at: Option<String>,
}

impl From<pb::CallIncoming> for CallIncoming {
    fn from(incoming: pb::CallIncoming) -> Self {
        Self {
            call: call(incoming.call),
            offer: incoming.offer.map(SessionDescription::from),
            candidates: candidates(incoming.candidates),
            ring_remaining_ms: incoming.ring_remaining_ms,
            ice_servers: ice_servers(incoming.ice_servers),
            expires_at: time(incoming.ice_servers_expire_at.as_ref()),
        }
    }
}

/// `call-answered`: to the caller's device.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CallAnswered {
    #[schemars(with = "Uuid")]
    pub call_id: String,
    pub answer: Option<SessionDescription>,
    pub by: Device,
}

impl From<pb::CallAnswered> for CallAnswered {
    fn from(answered: pb::CallAnswered) -> Self {
        Self {
            call_id: answered.call_id,
            answer: answered.answer.map(SessionDescription::from),
            by: device(answered.by),
        }
    }
}

/// `call-ice`: a party's trickled candidates.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CallIce {
    #[schemars(with = "Uuid")]
    pub call_id: String,
    pub from: Device,
    pub candidates: Vec<IceCandidate>,
    /// The peer has no more candidates.
    pub end: bool,
}

impl From<pb::CallIce> for CallIce {
    fn from(ice: pb::CallIce) -> Self {
        Self {
            call_id: ice.call_id,
            from: device(ice.from),
            candidates: candidates(ice.candidates),
            end: ice.end,
        }
    }
}

/// `call-negotiate`: a new description from the peer.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CallNegotiate {
    #[schemars(with = "Uuid")]
    pub call_id: String,
    pub from: Device,
    pub description: Option<SessionDescription>,
}

impl From<pb::CallNegotiate> for CallNegotiate {
    fn from(negotiate: pb::CallNegotiate) -> Self {
        Self {
            call_id: negotiate.call_id,
            from: device(negotiate.from),
            description: negotiate.description.map(SessionDescription::from),
        }
    }
}

/// `call-dismissed`: to the callee's devices that did not answer; stop ringing.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CallDismissed {
    #[schemars(with = "Uuid")]
    pub call_id: String,
    /// `ANSWERED_ELSEWHERE`.
    pub reason: String,
}

impl From<pb::CallDismissed> for CallDismissed {
    fn from(dismissed: pb::CallDismissed) -> Self {
        Self {
            call_id: dismissed.call_id,
            reason: dismissed.reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use prost_types::Timestamp;
    use serde_json::json;

    use super::*;

    #[test]
    fn an_ended_call_has_the_shape_of_docs_api_md() {
        let call = pb::Call {
            id: "c".into(),
            room_id: "r".into(),
            media: pb::Media::Video.into(),
            state: pb::CallState::Ended.into(),
            caller: Some(pb::Device {
                user_id: "a".into(),
                device_id: "phone".into(),
            }),
            callee_id: "b".into(),
            answered_by: None,
            created_at: Some(Timestamp {
                seconds: 1_800_000_000,
                nanos: 120_000_000,
            }),
            ring_deadline: Some(Timestamp {
                seconds: 1_800_000_060,
                nanos: 120_000_000,
            }),
            ended_at: Some(Timestamp {
                seconds: 1_800_000_001,
                nanos: 0,
            }),
            end_reason: pb::EndReason::Busy.into(),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(Call::from(call)).unwrap_or_default(),
            json!({
                "id": "c",
                "roomId": "r",
                "media": "VIDEO",
                "state": "ENDED",
                "caller": { "userId": "a", "deviceId": "phone" },
                "calleeId": "b",
                "createdAt": "2027-01-15T08:00:00.120Z",
                "ringDeadline": "2027-01-15T08:01:00.120Z",
                "endedAt": "2027-01-15T08:00:01.000Z",
                "endReason": "BUSY",
            })
        );
    }

    #[test]
    fn a_candidate_keeps_the_browser_field_names() {
        let candidate = pb::IceCandidate {
            candidate: "candidate:1 1 udp 1 127.0.0.1 9 typ host".into(),
            sdp_mid: Some("0".into()),
            sdp_m_line_index: Some(0),
            username_fragment: None,
        };
        assert_eq!(
            serde_json::to_value(IceCandidate::from(candidate)).unwrap_or_default(),
            json!({
                "candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host",
                "sdpMid": "0",
                "sdpMLineIndex": 0,
            })
        );
    }
}
