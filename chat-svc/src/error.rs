//! The one error type of chat-svc and its gRPC status.

use tonic::Status;

/// Metadata on RESOURCE_EXHAUSTED saying when to retry (the edge's `retryAfterMs`).
pub const RETRY_AFTER_MS: &str = "retry-after-ms";

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
    #[error("{0}")]
    Unavailable(&'static str),
    /// Too many sends; retry after this many milliseconds.
    #[error("too many messages: retry in {0} ms")]
    RateLimited(u64),
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
            Error::Unavailable(message) => Status::unavailable(message),
            Error::RateLimited(retry_after_ms) => {
                let mut status = Status::resource_exhausted(format!(
                    "too many messages: retry in {retry_after_ms} ms"
                ));
                if let Ok(value) = retry_after_ms.to_string().parse() {
                    status.metadata_mut().insert(RETRY_AFTER_MS, value);
                }
                status
            }
            Error::Database(error) => parley_common::db::status_from_sqlx(&error),
            Error::Friends(status) => {
                tracing::warn!(%status, "friends-svc call failed");
                Status::unavailable("user directory unavailable")
            }
        }
    }
}
