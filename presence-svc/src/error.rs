//! The one error type of presence-svc and its gRPC status.

use tonic::Status;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    InvalidArgument(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("session id already held by another user")]
    SessionTaken,
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
            Error::SessionTaken => Status::already_exists("session_id: held by another user"),
            Error::Database(error) => parley_common::db::status_from_sqlx(&error),
            Error::Friends(status) => {
                tracing::warn!(%status, "friends-svc call failed");
                Status::unavailable("friend lists are unavailable")
            }
        }
    }
}
