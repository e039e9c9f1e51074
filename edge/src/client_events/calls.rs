//! `/calls`: one-to-one voice and video calls (docs/API.md "`/calls`"). calls-svc owns every
//! call, its rules and its deadlines; the edge checks the shape of each payload, names the
//! actor (the token's user and the socket's device, never the client's word) and renders
//! the answer. Session descriptions and candidates carry network addresses: they are passed
//! on as they are and never logged.

use parley_proto::calls::v1 as pb;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Caller, Event, NoFields, nothing, rpc, unary};
use crate::{
    calls_wire::{self, Call, CallList, CallUpdate, Device, IceCandidate, IceServers},
    error::ApiError,
    wire::Media,
};

/// The largest SDP of an offer, answer or renegotiation (calls.proto `SessionDescription`).
const MAX_SDP_BYTES: usize = 32 * 1024;

/// The most candidates one `call-ice` carries.
const MAX_CANDIDATES: usize = 20;

/// The largest candidate, all its text fields together (calls.proto `IceCandidate`).
const MAX_CANDIDATE_BYTES: usize = 1024;

/// The longest `clientCallId`, in characters.
const MAX_CLIENT_CALL_ID_CHARS: usize = 128;

/// docs/API.md's client → server events of `/calls`.
pub(super) fn events() -> Vec<Event> {
    vec![
        unary(
            &["get-ice-servers"],
            |_: NoFields, caller| {
                Ok(pb::GetIceServersRequest {
                    acting_user_id: caller.user_id(),
                })
            },
            rpc!(calls.get_ice_servers),
            |answer| IceServers::new(answer.ice_servers, answer.expires_at.as_ref()),
        ),
        unary(
            &["call-invite"],
            invite_request,
            rpc!(calls.invite),
            render_invite,
        ),
        unary(
            &["call-accept"],
            |accept: Accept, caller| {
                Ok(pb::AcceptRequest {
                    actor: Some(caller.actor()),
                    call_id: accept.call_id.to_string(),
                    answer: Some(accept.answer.check("answer", &[SdpType::Answer])?),
                })
            },
            rpc!(calls.accept),
            |answer| Accepted {
                call: calls_wire::call(answer.call),
                candidates: calls_wire::candidates(answer.candidates),
                // Fresh servers only when those of the callee's `call-incoming` run out soon.
                fresh_ice_servers: (!answer.ice_servers.is_empty()).then(|| {
                    IceServers::new(answer.ice_servers, answer.ice_servers_expire_at.as_ref())
                }),
            },
        ),
        unary(
            &["call-decline"],
            |call: ByCall, caller| {
                Ok(pb::DeclineRequest {
                    actor: Some(caller.actor()),
                    call_id: call.call_id.to_string(),
                })
            },
            rpc!(calls.decline),
            nothing,
        ),
        unary(&["call-ice"], ice_request, rpc!(calls.ice), nothing),
        unary(
            &["call-negotiate"],
            |negotiate: Negotiate, caller| {
                let description = negotiate
                    .description
                    .check("description", &[SdpType::Offer, SdpType::Answer])?;
                Ok(pb::NegotiateRequest {
                    actor: Some(caller.actor()),
                    call_id: negotiate.call_id.to_string(),
                    description: Some(description),
                })
            },
            rpc!(calls.negotiate),
            nothing,
        ),
        unary(
            &["call-connected"],
            |call: ByCall, caller| {
                Ok(pb::ConnectedRequest {
                    actor: Some(caller.actor()),
                    call_id: call.call_id.to_string(),
                })
            },
            rpc!(calls.connected),
            |answer| CallUpdate::from(answer.call),
        ),
        unary(
            &["call-hangup"],
            hangup_request,
            rpc!(calls.hangup),
            |answer| CallUpdate::from(answer.call),
        ),
        unary(
            &["call-resume"],
            |call: ByCall, caller| {
                Ok(pb::ResumeRequest {
                    actor: Some(caller.actor()),
                    call_id: call.call_id.to_string(),
                    edge_id: caller.edge_id.to_owned(),
                    socket_id: caller.socket_id.to_owned(),
                })
            },
            rpc!(calls.resume),
            |answer| Resumed {
                call: calls_wire::call(answer.call),
                peer: answer.peer.map(Device::from),
                candidates: calls_wire::candidates(answer.candidates),
                ice_servers: IceServers::new(
                    answer.ice_servers,
                    answer.ice_servers_expire_at.as_ref(),
                ),
            },
        ),
        unary(
            &["list-calls"],
            |_: NoFields, caller| {
                Ok(pb::ListCallsRequest {
                    actor: Some(caller.actor()),
                })
            },
            rpc!(calls.list_calls),
            |answer| CallList::from(answer.calls),
        ),
    ]
}

impl Caller<'_> {
    /// Who acts on a call: the token's user on this socket's device.
    fn actor(&self) -> pb::Device {
        pb::Device {
            user_id: self.user_id(),
            device_id: self.device_id.to_owned(),
        }
    }
}

/// `call-invite`'s payload: to a person (`receiverId`) or the other member of a DM room
/// (`roomId`), not both.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Invite {
    receiver_id: Option<Uuid>,
    room_id: Option<Uuid>,
    media: Media,
    /// `type` `offer`.
    offer: Description,
    /// 1–128 characters: the same id again returns the call it made.
    client_call_id: Option<String>,
}

fn invite_request(invite: Invite, caller: &Caller<'_>) -> Result<pb::InviteRequest, ApiError> {
    let target = match (invite.receiver_id, invite.room_id) {
        (Some(receiver), None) => pb::invite_request::Target::ReceiverId(receiver.to_string()),
        (None, Some(room)) => pb::invite_request::Target::RoomId(room.to_string()),
        _ => return Err(ApiError::invalid("payload", "give receiverId or roomId")),
    };
    if let Some(id) = &invite.client_call_id
        && !(1..=MAX_CLIENT_CALL_ID_CHARS).contains(&id.chars().count())
    {
        return Err(ApiError::invalid(
            "clientCallId",
            format!("must be 1–{MAX_CLIENT_CALL_ID_CHARS} characters"),
        ));
    }
    Ok(pb::InviteRequest {
        actor: Some(caller.actor()),
        target: Some(target),
        media: pb::Media::from(invite.media).into(),
        offer: Some(invite.offer.check("offer", &[SdpType::Offer])?),
        client_call_id: invite.client_call_id,
    })
}

fn render_invite(answer: pb::InviteResponse) -> Invited {
    Invited {
        call: calls_wire::call(answer.call),
        ice_servers: IceServers::new(answer.ice_servers, answer.ice_servers_expire_at.as_ref()),
        merged: answer.merged,
        // A merged invite answers the callee's own call: what its `call-incoming` would carry.
        merged_call: answer.merged.then(|| MergedCall {
            offer: answer.offer.map(calls_wire::SessionDescription::from),
            candidates: calls_wire::candidates(answer.candidates),
        }),
    }
}

/// `call-invite`'s ack; `call.state` may already be `ENDED` (`BUSY`).
#[derive(Serialize, JsonSchema)]
struct Invited {
    call: Option<Call>,
    #[serde(flatten)]
    ice_servers: IceServers,
    /// The callee was calling the caller at once: `call` is the callee's call, to accept.
    merged: bool,
    /// With `merged` only.
    #[serde(flatten)]
    merged_call: Option<MergedCall>,
}

/// What a merged invite adds: what the call's `call-incoming` would carry.
#[derive(Serialize, JsonSchema)]
struct MergedCall {
    offer: Option<calls_wire::SessionDescription>,
    /// The other caller's candidates so far.
    candidates: Vec<IceCandidate>,
}

/// `call-accept`'s payload.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Accept {
    call_id: Uuid,
    /// `type` `answer`.
    answer: Description,
}

/// `call-accept`'s ack.
#[derive(Serialize, JsonSchema)]
struct Accepted {
    call: Option<Call>,
    /// The caller's candidates so far.
    candidates: Vec<IceCandidate>,
    /// Fresh servers, only when those of the `call-incoming` run out within 5 minutes.
    #[serde(flatten)]
    fresh_ice_servers: Option<IceServers>,
}

/// `call-resume`'s ack.
#[derive(Serialize, JsonSchema)]
struct Resumed {
    call: Option<Call>,
    /// The other party's device.
    peer: Option<Device>,
    /// The peer's candidates so far.
    candidates: Vec<IceCandidate>,
    #[serde(flatten)]
    ice_servers: IceServers,
}

/// The payload of the events about one call.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct ByCall {
    call_id: Uuid,
}

/// `call-ice`'s payload: 1–20 candidates, or none with `end: true`.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Ice {
    call_id: Uuid,
    #[serde(default)]
    candidates: Vec<Candidate>,
    /// No more candidates will follow.
    #[serde(default)]
    end: bool,
}

fn ice_request(ice: Ice, caller: &Caller<'_>) -> Result<pb::IceRequest, ApiError> {
    if ice.candidates.len() > MAX_CANDIDATES || (ice.candidates.is_empty() && !ice.end) {
        return Err(ApiError::invalid(
            "candidates",
            format!("give 1–{MAX_CANDIDATES} candidates, or none with end: true"),
        ));
    }
    let candidates = ice
        .candidates
        .into_iter()
        .enumerate()
        .map(|(index, candidate)| candidate.check(index))
        .collect::<Result<_, _>>()?;
    Ok(pb::IceRequest {
        actor: Some(caller.actor()),
        call_id: ice.call_id.to_string(),
        candidates,
        end: ice.end,
    })
}

/// `call-negotiate`'s payload.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Negotiate {
    call_id: Uuid,
    /// `type` `offer` or `answer`.
    description: Description,
}

/// `call-hangup`'s payload.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Hangup {
    call_id: Uuid,
    /// `HANGUP` by default.
    reason: Option<HangupReason>,
}

fn hangup_request(hangup: Hangup, caller: &Caller<'_>) -> Result<pb::HangupRequest, ApiError> {
    Ok(pb::HangupRequest {
        actor: Some(caller.actor()),
        call_id: hangup.call_id.to_string(),
        reason: hangup
            .reason
            .map_or(pb::EndReason::Hangup, Into::into)
            .into(),
    })
}

/// What a party may say when it hangs up.
#[derive(Deserialize, Clone, Copy, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum HangupReason {
    Hangup,
    IceFailed,
    ConnectionLost,
}

impl From<HangupReason> for pb::EndReason {
    fn from(reason: HangupReason) -> Self {
        match reason {
            HangupReason::Hangup => Self::Hangup,
            HangupReason::IceFailed => Self::IceFailed,
            HangupReason::ConnectionLost => Self::ConnectionLost,
        }
    }
}

/// `RTCSessionDescriptionInit`: `{ type, sdp }`.
#[derive(Deserialize, JsonSchema)]
struct Description {
    #[serde(rename = "type")]
    kind: SdpType,
    /// 1 byte to 32 KiB.
    sdp: String,
}

/// The description types a call carries (`pranswer` and `rollback` stay on the client).
#[derive(Deserialize, Clone, Copy, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum SdpType {
    Offer,
    Answer,
}

impl SdpType {
    fn as_str(self) -> &'static str {
        match self {
            Self::Offer => "offer",
            Self::Answer => "answer",
        }
    }
}

impl Description {
    /// The description as calls-svc takes it, if it is one of `kinds` with an SDP of
    /// 1 byte to 32 KiB.
    fn check(self, field: &str, kinds: &[SdpType]) -> Result<pb::SessionDescription, ApiError> {
        if !kinds.contains(&self.kind) {
            let allowed: Vec<&str> = kinds.iter().map(|kind| kind.as_str()).collect();
            return Err(ApiError::invalid(
                &format!("{field}.type"),
                format!("must be {}", allowed.join(" or ")),
            ));
        }
        if self.sdp.is_empty() || self.sdp.len() > MAX_SDP_BYTES {
            return Err(ApiError::invalid(
                &format!("{field}.sdp"),
                format!("must be 1 to {MAX_SDP_BYTES} bytes"),
            ));
        }
        Ok(pb::SessionDescription {
            r#type: self.kind.as_str().to_owned(),
            sdp: self.sdp,
        })
    }
}

/// `RTCIceCandidateInit`, at most 1 KiB of text in all; an empty `candidate` is the
/// browser's end-of-candidates.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Candidate {
    candidate: String,
    sdp_mid: Option<String>,
    #[serde(rename = "sdpMLineIndex")]
    sdp_m_line_index: Option<u32>,
    username_fragment: Option<String>,
}

impl Candidate {
    /// The candidate as calls-svc takes it, if its text is at most 1 KiB in all.
    fn check(self, index: usize) -> Result<pb::IceCandidate, ApiError> {
        let size = self.candidate.len()
            + self.sdp_mid.as_ref().map_or(0, String::len)
            + self.username_fragment.as_ref().map_or(0, String::len);
        if size > MAX_CANDIDATE_BYTES {
            return Err(ApiError::invalid(
                &format!("candidates[{index}]"),
                format!("must be at most {MAX_CANDIDATE_BYTES} bytes"),
            ));
        }
        Ok(pb::IceCandidate {
            candidate: self.candidate,
            sdp_mid: self.sdp_mid,
            sdp_m_line_index: self.sdp_m_line_index,
            username_fragment: self.username_fragment,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::client_events::tests::{built, refusal};

    fn offer() -> Value {
        json!({ "type": "offer", "sdp": "v=0\r\n" })
    }

    fn candidate() -> Value {
        json!({ "candidate": "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host", "sdpMid": "0", "sdpMLineIndex": 0 })
    }

    #[test]
    fn an_invite_goes_to_a_person_or_a_room_and_acts_as_this_device() {
        let receiver = Uuid::from_u128(2);
        let invite = built(
            invite_request,
            json!({ "receiverId": receiver, "media": "VIDEO", "offer": offer(), "clientCallId": "c1" }),
        )
        .unwrap();
        assert_eq!(
            invite.target,
            Some(pb::invite_request::Target::ReceiverId(receiver.to_string()))
        );
        assert_eq!(invite.media, i32::from(pb::Media::Video));
        let actor = invite.actor.unwrap();
        assert_eq!(actor.device_id, "device");
        assert_eq!(actor.user_id, Uuid::from_u128(7).to_string());

        let both = json!({ "receiverId": receiver, "roomId": receiver, "media": "AUDIO", "offer": offer() });
        assert_eq!(
            refusal(built(invite_request, both)),
            "payload: give receiverId or roomId"
        );
        let neither = json!({ "media": "AUDIO", "offer": offer() });
        refusal(built(invite_request, neither));
    }

    #[test]
    fn an_invite_needs_a_known_media_and_an_offer_of_at_most_32_kib() {
        let receiver = Uuid::from_u128(2);
        let with = |media: &str, offer: Value| {
            built(
                invite_request,
                json!({ "receiverId": receiver, "media": media, "offer": offer }),
            )
        };
        assert!(refusal(with("SCREEN", offer())).starts_with("media: "));
        let answer = json!({ "type": "answer", "sdp": "v=0" });
        assert_eq!(refusal(with("AUDIO", answer)), "offer.type: must be offer");
        let rollback = json!({ "type": "rollback", "sdp": "v=0" });
        assert!(refusal(with("AUDIO", rollback)).starts_with("offer.type: "));
        let empty = json!({ "type": "offer", "sdp": "" });
        assert!(refusal(with("AUDIO", empty)).starts_with("offer.sdp: "));
        let huge = json!({ "type": "offer", "sdp": "a".repeat(MAX_SDP_BYTES + 1) });
        assert!(refusal(with("AUDIO", huge)).starts_with("offer.sdp: "));
        let largest = json!({ "type": "offer", "sdp": "a".repeat(MAX_SDP_BYTES) });
        assert!(with("AUDIO", largest).is_ok());
        let long_id = json!({ "receiverId": receiver, "media": "AUDIO", "offer": offer(), "clientCallId": "x".repeat(129) });
        assert!(refusal(built(invite_request, long_id)).starts_with("clientCallId: "));
    }

    #[test]
    fn ice_carries_1_to_20_candidates_or_the_end() {
        let call = Uuid::from_u128(3);
        let with = |candidates: Vec<Value>, end: Option<bool>| {
            let mut payload = json!({ "callId": call, "candidates": candidates });
            if let Some(end) = end {
                payload["end"] = json!(end);
            }
            built(ice_request, payload)
        };
        let one = with(vec![candidate()], None).unwrap();
        assert_eq!(one.candidates.len(), 1);
        assert_eq!(one.candidates[0].sdp_m_line_index, Some(0));
        assert!(!one.end);
        assert!(with(vec![], Some(true)).unwrap().end);
        assert!(built(ice_request, json!({ "callId": call, "end": true })).is_ok());
        refusal(with(vec![], None));
        refusal(with(vec![candidate(); MAX_CANDIDATES + 1], None));
        assert!(with(vec![candidate(); MAX_CANDIDATES], None).is_ok());
        let big = json!({ "candidate": "c".repeat(MAX_CANDIDATE_BYTES), "sdpMid": "0" });
        assert_eq!(
            refusal(with(vec![candidate(), big], None)),
            "candidates[1]: must be at most 1024 bytes"
        );
        let wrong = json!({ "candidate": "c", "sdpMLineIndex": "zero" });
        assert!(refusal(with(vec![wrong], None)).starts_with("candidates[0].sdpMLineIndex"));
    }

    #[test]
    fn a_hangup_reason_is_one_a_party_may_give() {
        let call = Uuid::from_u128(3);
        let reason = |payload: Value| built(hangup_request, payload).map(|request| request.reason);
        assert_eq!(
            reason(json!({ "callId": call })),
            Ok(pb::EndReason::Hangup.into())
        );
        assert_eq!(
            reason(json!({ "callId": call, "reason": "CONNECTION_LOST" })),
            Ok(pb::EndReason::ConnectionLost.into())
        );
        for given in ["MISSED", "BUSY", "hangup"] {
            refusal(reason(json!({ "callId": call, "reason": given })));
        }
    }
}
