//! The rules of a call, as pure functions: given the call as loaded, the clock and a
//! trigger, the transition and whom to tell, or the refusal (docs/API.md "/calls").
//!
//! Nothing here touches Postgres or the network: the service loads the row under a lock,
//! asks these functions, and stores what they decided in the same transaction.

use std::time::Duration;

use chrono::{DateTime, Utc};
use parley_common::error::ServiceError;
pub use parley_common::ids::UserId;
use parley_proto::calls::v1::{CallState, EndReason, Media};

parley_common::uuid_id!(
    /// A call.
    CallId
);
parley_common::uuid_id!(
    /// A DM room, as chat-svc knows it.
    RoomId
);

/// A device of a user: the handshake's `deviceId`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Device {
    pub user: UserId,
    pub device: String,
}

/// How long things may last (the PARLEY_CALL_* settings).
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub ring: Duration,
    pub connect: Duration,
    pub caller_grace: Duration,
    pub resume_grace: Duration,
    pub replay_cutoff: Duration,
    pub max: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            ring: Duration::from_secs(60),
            connect: Duration::from_secs(30),
            caller_grace: Duration::from_secs(10),
            resume_grace: Duration::from_secs(30),
            replay_cutoff: Duration::from_secs(3),
            max: Duration::from_secs(12 * 3600),
        }
    }
}

/// A call as the rules see it (no SDP, no candidates).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub id: CallId,
    pub room_id: RoomId,
    pub media: Media,
    pub state: CallState,
    pub caller: Device,
    pub callee: UserId,
    /// The callee's device that accepted.
    pub answered_by: Option<String>,
    pub client_call_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub ring_deadline: DateTime<Utc>,
    pub answered_at: Option<DateTime<Utc>>,
    pub connected_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub end_reason: EndReason,
    pub caller_lost_at: Option<DateTime<Utc>>,
    pub callee_lost_at: Option<DateTime<Utc>>,
}

/// Who tells whom what, once the transition commits. The service turns each into an event
/// with its recipients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// `call-incoming` to every device of the callee.
    Incoming,
    /// `call-answered` to the caller's device.
    Answered,
    /// `call-dismissed` to the callee's devices but the one that answered.
    Dismissed,
    /// `call-updated` to the caller's devices but the calling one.
    UpdatedToCallerDevices,
    /// `call-updated` to every device of both.
    UpdatedToBoth,
    /// `call-ended` to every device of both.
    Ended,
}

/// What a trigger did: the call after it, and whom to tell. `changed` false means the call
/// is answered as it is and nothing is emitted (an idempotent repeat).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub call: Call,
    pub changed: bool,
    pub notices: Vec<Notice>,
}

impl Decision {
    fn unchanged(call: &Call) -> Self {
        Self {
            call: call.clone(),
            changed: false,
            notices: Vec::new(),
        }
    }

    fn changed(call: Call, notices: Vec<Notice>) -> Self {
        Self {
            call,
            changed: true,
            notices,
        }
    }
}

/// The part the actor plays in a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The device that placed the call.
    CallingDevice,
    /// Another device of the caller.
    CallerOtherDevice,
    /// The callee's device that answered.
    AnsweringDevice,
    /// A device of the callee that did not answer (every one, while it rings).
    CalleeDevice,
    /// Not a party: the call is not revealed.
    Outsider,
}

const NOT_FOUND: ServiceError = ServiceError::NotFound("no such call");

pub fn role(call: &Call, actor: &Device) -> Role {
    if actor.user == call.caller.user {
        if actor.device == call.caller.device {
            Role::CallingDevice
        } else {
            Role::CallerOtherDevice
        }
    } else if actor.user == call.callee {
        if call.answered_by.as_deref() == Some(actor.device.as_str()) {
            Role::AnsweringDevice
        } else {
            Role::CalleeDevice
        }
    } else {
        Role::Outsider
    }
}

/// The actor's role, with outsiders refused as NOT_FOUND.
fn party(call: &Call, actor: &Device) -> Result<Role, ServiceError> {
    match role(call, actor) {
        Role::Outsider => Err(NOT_FOUND),
        role => Ok(role),
    }
}

fn is_live(call: &Call) -> bool {
    call.state != CallState::Ended
}

fn add(time: DateTime<Utc>, duration: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(duration)
        .ok()
        .and_then(|duration| time.checked_add_signed(duration))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// A new ringing call placed by `caller` at `now`.
pub struct NewCall {
    pub id: CallId,
    pub room_id: RoomId,
    pub media: Media,
    pub caller: Device,
    pub callee: UserId,
    pub client_call_id: Option<String>,
}

/// `call-invite` once authorized: RINGING until the ring deadline, or ENDED BUSY at once
/// when the callee is in another call (their devices do not ring).
pub fn place(new: NewCall, callee_busy: bool, timing: &Timing, now: DateTime<Utc>) -> Decision {
    let mut call = Call {
        id: new.id,
        room_id: new.room_id,
        media: new.media,
        state: CallState::Ringing,
        caller: new.caller,
        callee: new.callee,
        answered_by: None,
        client_call_id: new.client_call_id,
        created_at: now,
        ring_deadline: add(now, timing.ring),
        answered_at: None,
        connected_at: None,
        ended_at: None,
        end_reason: EndReason::Unspecified,
        caller_lost_at: None,
        callee_lost_at: None,
    };
    if callee_busy {
        end(&mut call, EndReason::Busy, now);
        return Decision::changed(call, Vec::new());
    }
    Decision::changed(call, vec![Notice::Incoming, Notice::UpdatedToCallerDevices])
}

fn end(call: &mut Call, reason: EndReason, now: DateTime<Utc>) {
    call.state = CallState::Ended;
    call.end_reason = reason;
    call.ended_at = Some(now);
}

fn ended(call: &Call, reason: EndReason, now: DateTime<Utc>) -> Decision {
    let mut call = call.clone();
    end(&mut call, reason, now);
    Decision::changed(call, vec![Notice::Ended])
}

/// `call-accept` from `actor`: the first accept of a callee device while it rings wins.
pub fn accept(call: &Call, actor: &Device, now: DateTime<Utc>) -> Result<Decision, ServiceError> {
    match party(call, actor)? {
        Role::CallingDevice | Role::CallerOtherDevice => Err(ServiceError::PermissionDenied(
            "the caller cannot accept its own call",
        )),
        _ if call.state != CallState::Ringing => Err(ServiceError::FailedPrecondition(
            "the call is not ringing: already answered, declined or ended",
        )),
        _ => {
            let mut call = call.clone();
            call.state = CallState::Connecting;
            call.answered_by = Some(actor.device.clone());
            call.answered_at = Some(now);
            call.callee_lost_at = None;
            Ok(Decision::changed(
                call,
                vec![
                    Notice::Answered,
                    Notice::Dismissed,
                    Notice::UpdatedToCallerDevices,
                ],
            ))
        }
    }
}

/// `call-decline`: the callee, while it rings, ends it everywhere.
pub fn decline(call: &Call, actor: &Device, now: DateTime<Utc>) -> Result<Decision, ServiceError> {
    match party(call, actor)? {
        Role::CallingDevice | Role::CallerOtherDevice => Err(ServiceError::PermissionDenied(
            "the caller hangs up instead of declining",
        )),
        _ if call.state == CallState::Ended => Ok(Decision::unchanged(call)),
        _ if call.state != CallState::Ringing => Err(ServiceError::FailedPrecondition(
            "the call was already answered",
        )),
        _ => Ok(ended(call, EndReason::Declined, now)),
    }
}

/// `call-hangup` with `reason` (HANGUP, ICE_FAILED or CONNECTION_LOST, checked by the caller
/// of this function).
pub fn hangup(
    call: &Call,
    actor: &Device,
    reason: EndReason,
    now: DateTime<Utc>,
) -> Result<Decision, ServiceError> {
    let role = party(call, actor)?;
    if call.state == CallState::Ended {
        return Ok(Decision::unchanged(call));
    }
    match (call.state, role) {
        (CallState::Ringing, Role::CallingDevice | Role::CallerOtherDevice) => {
            Ok(ended(call, EndReason::Canceled, now))
        }
        (CallState::Ringing, _) => Err(ServiceError::PermissionDenied(
            "the callee declines a ringing call instead of hanging up",
        )),
        (_, Role::CallingDevice | Role::AnsweringDevice) => Ok(ended(call, reason, now)),
        _ => Err(ServiceError::PermissionDenied(
            "this device is not in the call",
        )),
    }
}

/// `call-connected` from a device in the call: the first makes it ACTIVE.
pub fn connected(
    call: &Call,
    actor: &Device,
    now: DateTime<Utc>,
) -> Result<Decision, ServiceError> {
    let role = party(call, actor)?;
    in_call(call, role)?;
    match call.state {
        CallState::Connecting => {
            let mut call = call.clone();
            call.state = CallState::Active;
            call.connected_at = Some(now);
            Ok(Decision::changed(call, vec![Notice::UpdatedToBoth]))
        }
        CallState::Active => Ok(Decision::unchanged(call)),
        _ => Err(ServiceError::FailedPrecondition(
            "the call is not answered, or ended",
        )),
    }
}

/// Refuses a device that is not one of the call's two legs once it was answered.
fn in_call(call: &Call, role: Role) -> Result<(), ServiceError> {
    match role {
        Role::CallingDevice | Role::AnsweringDevice => Ok(()),
        _ if call.state == CallState::Ended => {
            Err(ServiceError::FailedPrecondition("the call ended"))
        }
        _ => Err(ServiceError::PermissionDenied(
            "this device is not in the call",
        )),
    }
}

/// Where a party's relayed signaling (candidates, descriptions) goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Every device of the callee (the caller's candidates while it rings); they are also
    /// kept with the call.
    CalleeDevices,
    /// One device.
    Device(Device),
}

/// Which party sent a relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Caller,
    Callee,
}

/// `call-ice`: where the actor's candidates go, and whose they are.
pub fn ice(call: &Call, actor: &Device) -> Result<(Side, Route), ServiceError> {
    let role = party(call, actor)?;
    if call.state == CallState::Ended {
        return Err(ServiceError::FailedPrecondition("the call ended"));
    }
    match (call.state, role) {
        (CallState::Ringing, Role::CallingDevice) => Ok((Side::Caller, Route::CalleeDevices)),
        (CallState::Ringing, Role::CalleeDevice) => Err(ServiceError::FailedPrecondition(
            "the callee sends candidates after accepting",
        )),
        (_, Role::CallingDevice) => Ok((Side::Caller, Route::Device(answering(call)))),
        (_, Role::AnsweringDevice) => Ok((Side::Callee, Route::Device(call.caller.clone()))),
        _ => Err(ServiceError::PermissionDenied(
            "this device is not in the call",
        )),
    }
}

/// `call-negotiate`: the peer device a new description goes to.
pub fn negotiate(call: &Call, actor: &Device) -> Result<Device, ServiceError> {
    let role = party(call, actor)?;
    if !matches!(call.state, CallState::Connecting | CallState::Active) {
        return Err(ServiceError::FailedPrecondition(
            "the call is not answered, or ended",
        ));
    }
    match role {
        Role::CallingDevice => Ok(answering(call)),
        Role::AnsweringDevice => Ok(call.caller.clone()),
        _ => Err(ServiceError::PermissionDenied(
            "this device is not in the call",
        )),
    }
}

fn answering(call: &Call) -> Device {
    Device {
        user: call.callee,
        device: call.answered_by.clone().unwrap_or_default(),
    }
}

/// `call-resume`: the actor's side and its peer, for a device in the call (the calling
/// device also while it rings). The leg is back.
pub fn resume(call: &Call, actor: &Device) -> Result<(Side, Device, Call), ServiceError> {
    let role = party(call, actor)?;
    if call.state == CallState::Ended {
        return Err(ServiceError::FailedPrecondition("the call ended"));
    }
    let mut back = call.clone();
    match role {
        Role::CallingDevice => {
            back.caller_lost_at = None;
            Ok((Side::Caller, answering(call), back))
        }
        Role::AnsweringDevice => {
            back.callee_lost_at = None;
            Ok((Side::Callee, call.caller.clone(), back))
        }
        _ => Err(ServiceError::PermissionDenied(
            "this device is not in the call",
        )),
    }
}

/// `device` lost its last socket at `now` (`lost`), or has one again: the stamps the graces
/// count from. Calls it is no leg of are left as they are.
pub fn device_presence(call: &Call, device: &Device, lost: bool, now: DateTime<Utc>) -> Call {
    let mut call = call.clone();
    if !is_live(&call) {
        return call;
    }
    let stamp = |current: Option<DateTime<Utc>>| {
        if lost { current.or(Some(now)) } else { None }
    };
    if *device == call.caller {
        call.caller_lost_at = stamp(call.caller_lost_at);
    }
    if device.user == call.callee && call.answered_by.as_deref() == Some(device.device.as_str()) {
        call.callee_lost_at = stamp(call.callee_lost_at);
    }
    call
}

/// The deadlines of a live call, each with the reason it ends the call for, in the order
/// they win when several have passed: a caller lost while ringing (CANCELED), the ring
/// deadline (MISSED), a party lost past the resume grace (CONNECTION_LOST), no connection in
/// time (ICE_FAILED), the maximum length (HANGUP). The one list behind [`expired`] and
/// [`due_at`], so the two cannot disagree.
fn deadlines(call: &Call, timing: &Timing) -> Vec<(DateTime<Utc>, EndReason)> {
    let after = |since: Option<DateTime<Utc>>, grace: Duration, reason: EndReason| {
        since.map(|since| (add(since, grace), reason))
    };
    let lost = |since| after(since, timing.resume_grace, EndReason::ConnectionLost);
    let longest = after(Some(call.created_at), timing.max, EndReason::Hangup);
    let deadlines = match call.state {
        CallState::Ringing => vec![
            after(
                call.caller_lost_at,
                timing.caller_grace,
                EndReason::Canceled,
            ),
            Some((call.ring_deadline, EndReason::Missed)),
        ],
        CallState::Connecting => vec![
            lost(call.caller_lost_at),
            lost(call.callee_lost_at),
            after(call.answered_at, timing.connect, EndReason::IceFailed),
            longest,
        ],
        CallState::Active => vec![
            lost(call.caller_lost_at),
            lost(call.callee_lost_at),
            longest,
        ],
        _ => Vec::new(),
    };
    deadlines.into_iter().flatten().collect()
}

/// The reason time ends the call with at `now`, if any (see [`deadlines`]).
pub fn expired(call: &Call, timing: &Timing, now: DateTime<Utc>) -> Option<EndReason> {
    deadlines(call, timing)
        .into_iter()
        .find(|&(at, _)| at <= now)
        .map(|(_, reason)| reason)
}

/// The sweep at `now`: the call ended by time, or unchanged.
pub fn sweep(call: &Call, timing: &Timing, now: DateTime<Utc>) -> Decision {
    match expired(call, timing, now) {
        Some(reason) => ended(call, reason, now),
        None => Decision::unchanged(call),
    }
}

/// The earliest instant [`expired`] may answer something for this call; `None` once ended.
pub fn due_at(call: &Call, timing: &Timing) -> Option<DateTime<Utc>> {
    deadlines(call, timing).into_iter().map(|(at, _)| at).min()
}

/// A block between the two users ends their live call, told as a plain hang-up (the block
/// is not revealed).
pub fn blocked(call: &Call, now: DateTime<Utc>) -> Decision {
    if is_live(call) {
        ended(call, EndReason::Hangup, now)
    } else {
        Decision::unchanged(call)
    }
}

/// The calling device invited again: its live call ends REPLACED.
pub fn replaced(call: &Call, now: DateTime<Utc>) -> Decision {
    if is_live(call) {
        ended(call, EndReason::Replaced, now)
    } else {
        Decision::unchanged(call)
    }
}

/// The time left to ring at `now`, or `None` when under the replay cut-off (an ended call
/// never rings).
pub fn ring_remaining(call: &Call, timing: &Timing, now: DateTime<Utc>) -> Option<Duration> {
    if call.state != CallState::Ringing {
        return None;
    }
    let left = (call.ring_deadline - now).to_std().ok()?;
    (left >= timing.replay_cutoff).then_some(left)
}

/// From `connected_at` to `ended_at`, for a call that ended after being ACTIVE.
pub fn duration(call: &Call) -> Option<Duration> {
    let (connected, ended) = (call.connected_at?, call.ended_at?);
    Some((ended - connected).to_std().unwrap_or_default())
}

pub use parley_proto::calls::v1::CallOutcome;

/// How the call went, as its CALL message tells it.
pub fn outcome(call: &Call) -> CallOutcome {
    if call.connected_at.is_some() {
        return CallOutcome::Answered;
    }
    match call.end_reason {
        EndReason::Missed => CallOutcome::Missed,
        EndReason::Declined => CallOutcome::Declined,
        EndReason::Busy => CallOutcome::Busy,
        EndReason::Canceled => CallOutcome::Canceled,
        _ => CallOutcome::Failed,
    }
}

/// The CALL message's fallback text, e.g. "Missed video call" or "Voice call · 4:12".
pub fn log_text(call: &Call) -> String {
    let kind = match call.media {
        Media::Video => "video call",
        _ => "voice call",
    };
    match outcome(call) {
        CallOutcome::Answered => {
            let seconds = duration(call).unwrap_or_default().as_secs();
            let (hours, minutes, seconds) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
            let length = if hours > 0 {
                format!("{hours}:{minutes:02}:{seconds:02}")
            } else {
                format!("{minutes}:{seconds:02}")
            };
            format!("{} · {length}", capitalized(kind))
        }
        CallOutcome::Missed => format!("Missed {kind}"),
        CallOutcome::Declined => format!("Declined {kind}"),
        CallOutcome::Busy => format!("Missed {kind} (busy)"),
        CallOutcome::Canceled => format!("Canceled {kind}"),
        _ => format!("Failed {kind}"),
    }
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
