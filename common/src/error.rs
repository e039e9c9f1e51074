//! The error every service returns from its operations, and its gRPC status.
//!
//! Messages that go to callers are written for client developers; database and dependency
//! failures keep their details in the log.

use tonic::Status;

/// Metadata on `RESOURCE_EXHAUSTED` saying when to retry (the edge's `retryAfterMs`).
pub const RETRY_AFTER_MS: &str = "retry-after-ms";

/// Metadata on `RESOURCE_EXHAUSTED` that makes it a storage quota rather than a rate limit:
/// the quota's size in bytes (decimal). The edge answers `QUOTA_EXCEEDED` with `limitBytes`.
pub const QUOTA_LIMIT_BYTES: &str = "quota-limit-bytes";

/// With [`QUOTA_LIMIT_BYTES`]: the bytes already counted against that quota (decimal), the
/// edge's `usedBytes`.
pub const QUOTA_USED_BYTES: &str = "quota-used-bytes";

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// A malformed input; the message starts with the field's name.
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    NotFound(&'static str),
    #[error("{0}")]
    PermissionDenied(&'static str),
    #[error("{0}")]
    AlreadyExists(&'static str),
    #[error("{0}")]
    FailedPrecondition(&'static str),
    /// Something the caller may retry later.
    #[error("{0}")]
    Unavailable(&'static str),
    /// Too many requests; retry after this many milliseconds.
    #[error("too many requests: retry in {0} ms")]
    RateLimited(u64),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// Another service (named) failed to answer.
    #[error("{0}: {1}")]
    Dependency(&'static str, Status),
}

impl ServiceError {
    pub fn invalid(field: &str, problem: impl std::fmt::Display) -> Self {
        Self::InvalidArgument(format!("{field}: {problem}"))
    }
}

impl From<ServiceError> for Status {
    fn from(error: ServiceError) -> Self {
        match error {
            ServiceError::InvalidArgument(message) => Status::invalid_argument(message),
            ServiceError::NotFound(message) => Status::not_found(message),
            ServiceError::PermissionDenied(message) => Status::permission_denied(message),
            ServiceError::AlreadyExists(message) => Status::already_exists(message),
            ServiceError::FailedPrecondition(message) => Status::failed_precondition(message),
            ServiceError::Unavailable(message) => Status::unavailable(message),
            ServiceError::RateLimited(retry_after_ms) => {
                let mut status = Status::resource_exhausted(format!(
                    "too many requests: retry in {retry_after_ms} ms"
                ));
                if let Ok(value) = retry_after_ms.to_string().parse() {
                    status.metadata_mut().insert(RETRY_AFTER_MS, value);
                }
                status
            }
            ServiceError::Database(error) => crate::db::status_from_sqlx(&error),
            ServiceError::Dependency(service, status) => {
                tracing::warn!(service, %status, "a dependency failed");
                Status::unavailable(format!("{service} is unavailable"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_limit_says_when_to_retry() {
        let status = Status::from(ServiceError::RateLimited(1500));
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
        assert_eq!(
            status
                .metadata()
                .get(RETRY_AFTER_MS)
                .and_then(|v| v.to_str().ok()),
            Some("1500")
        );
    }

    #[test]
    fn dependency_details_stay_in_the_log() {
        let status = Status::from(ServiceError::Dependency(
            "friends-svc",
            Status::internal("secret"),
        ));
        assert_eq!(status.code(), tonic::Code::Unavailable);
        assert!(!status.message().contains("secret"));
    }
}
