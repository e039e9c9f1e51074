//! The error of media-svc's operations: the one every Parley service shares, plus the two
//! answers only media-svc gives.

use parley_common::error::{QUOTA_LIMIT_BYTES, QUOTA_USED_BYTES, ServiceError};
use tonic::Status;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// A storage quota would be exceeded.
    #[error("storage quota exceeded: {used} of {limit} bytes used")]
    Quota { limit: u64, used: u64 },
    /// chat-svc's answer about the caller's request (not a member, blocked, no such room),
    /// passed on as it came.
    #[error("{}", .0.message())]
    Refused(Status),
}

impl From<sqlx::Error> for Error {
    fn from(error: sqlx::Error) -> Self {
        Self::Service(ServiceError::Database(error))
    }
}

impl From<Error> for Status {
    fn from(error: Error) -> Self {
        match error {
            Error::Service(error) => error.into(),
            Error::Quota { limit, used } => {
                let mut status = Status::resource_exhausted(format!(
                    "storage quota exceeded: {used} of {limit} bytes used"
                ));
                for (key, value) in [(QUOTA_LIMIT_BYTES, limit), (QUOTA_USED_BYTES, used)] {
                    if let Ok(value) = value.to_string().parse() {
                        status.metadata_mut().insert(key, value);
                    }
                }
                status
            }
            Error::Refused(status) => Status::new(status.code(), status.message()),
        }
    }
}

/// chat-svc's failure as this service answers it: its verdicts on the caller pass through,
/// anything else means chat-svc is unavailable.
pub fn from_chat(status: Status) -> Error {
    use tonic::Code;
    match status.code() {
        Code::InvalidArgument
        | Code::NotFound
        | Code::PermissionDenied
        | Code::FailedPrecondition
        | Code::ResourceExhausted => Error::Refused(status),
        _ => Error::Service(ServiceError::Dependency("chat-svc", status)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quota_refusal_carries_its_figures() {
        let status = Status::from(Error::Quota {
            limit: 100,
            used: 90,
        });
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
        let value = |key| status.metadata().get(key).and_then(|v| v.to_str().ok());
        assert_eq!(value(QUOTA_LIMIT_BYTES), Some("100"));
        assert_eq!(value(QUOTA_USED_BYTES), Some("90"));
    }

    #[test]
    fn chat_verdicts_pass_and_chat_failures_become_unavailable() {
        let denied = Status::from(from_chat(Status::permission_denied("not a member")));
        assert_eq!(denied.code(), tonic::Code::PermissionDenied);
        assert_eq!(denied.message(), "not a member");
        let down = Status::from(from_chat(Status::internal("boom")));
        assert_eq!(down.code(), tonic::Code::Unavailable);
        assert!(!down.message().contains("boom"));
    }
}
