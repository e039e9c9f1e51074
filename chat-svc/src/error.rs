//! The one error type of chat-svc and its gRPC status.

use tonic::Status;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    NotFound(&'static str),
    #[error("{0}")]
    PermissionDenied(&'static str),
    #[error("{0}")]
    FailedPrecondition(&'static str),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// friends-svc did not answer; the caller may retry.
    #[error("friends-svc: {0}")]
    Friends(Status),
}

impl Error {
    pub fn invalid(field: &str, problem: impl std::fmt::Display) -> Self {
        Self::InvalidArgument(format!("{field}: {problem}"))
    }
}

impl From<Error> for Status {
    fn from(error: Error) -> Self {
        match error {
            Error::InvalidArgument(message) => Status::invalid_argument(message),
            Error::NotFound(message) => Status::not_found(message),
            Error::PermissionDenied(message) => Status::permission_denied(message),
            Error::FailedPrecondition(message) => Status::failed_precondition(message),
            Error::Database(error) => parley_common::db::status_from_sqlx(&error),
            Error::Friends(status) => {
                tracing::warn!(%status, "friends-svc call failed");
                Status::unavailable("user directory unavailable")
            }
        }
    }
}
