//! The call log calls-svc hands `AppendCallMessage`, checked before it becomes a CALL
//! message (docs/API.md "/calls"): who called whom, and the key that stores it once.

use parley_proto::calls::v1::{CallLog, CallOutcome, EndReason, Media};
use uuid::Uuid;

use crate::{domain::UserId, error::Error};

/// A checked call log, with the parties it names.
pub struct CheckedLog {
    pub log: CallLog,
    pub caller: UserId,
    pub callee: UserId,
}

impl CheckedLog {
    /// The caller's `clientMsgId` for this call: the durable key that makes a retried
    /// append answer with the stored message instead of storing a second one.
    pub fn client_msg_id(&self) -> String {
        format!("call:{}", self.log.call_id)
    }
}

/// Checks what a CALL message shows: a call id, two different parties, a known media,
/// outcome and end reason, and when it started and ended.
pub fn check(log: Option<CallLog>) -> Result<CheckedLog, Error> {
    let log = log.ok_or_else(|| Error::invalid("call", "is required"))?;
    // A UUID, as calls-svc names its calls: also bounds the key made of it.
    Uuid::parse_str(&log.call_id).map_err(|_| Error::invalid("call.call_id", "must be a UUID"))?;
    let caller = UserId::parse("call.caller_id", &log.caller_id)?;
    let callee = UserId::parse("call.callee_id", &log.callee_id)?;
    if caller == callee {
        return Err(Error::invalid(
            "call.callee_id",
            "must not be the caller: calls are between two users",
        ));
    }
    if !matches!(Media::try_from(log.media), Ok(Media::Audio | Media::Video)) {
        return Err(Error::invalid("call.media", "must be AUDIO or VIDEO"));
    }
    if matches!(
        CallOutcome::try_from(log.outcome),
        Err(_) | Ok(CallOutcome::Unspecified)
    ) {
        return Err(Error::invalid("call.outcome", "must be a known outcome"));
    }
    if matches!(
        EndReason::try_from(log.end_reason),
        Err(_) | Ok(EndReason::Unspecified)
    ) {
        return Err(Error::invalid("call.end_reason", "must be a known reason"));
    }
    if log.started_at.is_none() || log.ended_at.is_none() {
        return Err(Error::invalid(
            "call",
            "started_at and ended_at are required",
        ));
    }
    Ok(CheckedLog {
        log,
        caller,
        callee,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> CallLog {
        CallLog {
            call_id: Uuid::new_v4().to_string(),
            media: Media::Video.into(),
            outcome: CallOutcome::Missed.into(),
            end_reason: EndReason::Missed.into(),
            caller_id: Uuid::new_v4().to_string(),
            callee_id: Uuid::new_v4().to_string(),
            started_at: Some(prost_types::Timestamp::default()),
            connected_at: None,
            ended_at: Some(prost_types::Timestamp::default()),
            duration_ms: 0,
        }
    }

    /// Spoils one part of a valid log.
    type Spoil = fn(&mut CallLog);

    fn refused_field(log: Option<CallLog>) -> String {
        match check(log) {
            Err(Error::InvalidArgument(message)) => message,
            Err(other) => panic!("not INVALID_ARGUMENT: {other:?}"),
            Ok(_) => panic!("accepted"),
        }
    }

    #[test]
    fn a_complete_log_is_accepted_with_its_key() {
        let log = valid();
        let key = format!("call:{}", log.call_id);
        let checked = check(Some(log)).unwrap();
        assert_eq!(checked.client_msg_id(), key);
        assert_ne!(checked.caller, checked.callee);
    }

    #[test]
    fn a_malformed_log_names_what_is_wrong() {
        assert!(refused_field(None).starts_with("call"));
        let cases: [(Spoil, &str); 7] = [
            (|log| log.call_id = "call-1".into(), "call.call_id"),
            (|log| log.caller_id = "someone".into(), "call.caller_id"),
            (
                |log| log.callee_id = log.caller_id.clone(),
                "call.callee_id",
            ),
            (|log| log.media = Media::Unspecified.into(), "call.media"),
            (|log| log.outcome = 42, "call.outcome"),
            (
                |log| log.end_reason = EndReason::Unspecified.into(),
                "call.end_reason",
            ),
            (|log| log.ended_at = None, "ended_at"),
        ];
        for (spoil, field) in cases {
            let mut log = valid();
            spoil(&mut log);
            let message = refused_field(Some(log));
            assert!(message.contains(field), "{field}: {message}");
        }
    }
}
