//! The error of calls-svc's operations: the one every Parley service shares, plus the
//! verdicts of chat-svc and friends-svc on the caller, passed on as they came.

use parley_common::error::ServiceError;
use tonic::{Code, Status};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// chat-svc's answer about the caller's request (not a member, blocked, a group room).
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
            Error::Refused(status) => Status::new(status.code(), status.message()),
        }
    }
}

/// A dependency's failure as this service answers it: its verdicts on the caller pass
/// through, anything else means `service` is unavailable.
pub fn from_dependency(service: &'static str, status: Status) -> Error {
    match status.code() {
        Code::InvalidArgument
        | Code::NotFound
        | Code::PermissionDenied
        | Code::FailedPrecondition => Error::Refused(status),
        _ => Error::Service(ServiceError::Dependency(service, status)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_pass_and_failures_become_unavailable() {
        let denied = Status::from(from_dependency(
            "chat-svc",
            Status::permission_denied("blocked"),
        ));
        assert_eq!(denied.code(), Code::PermissionDenied);
        assert_eq!(denied.message(), "blocked");
        let down = Status::from(from_dependency("chat-svc", Status::internal("boom")));
        assert_eq!(down.code(), Code::Unavailable);
        assert!(!down.message().contains("boom"));
    }
}
