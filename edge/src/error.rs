//! The error a client receives, in docs/API.md's terms.

use serde::Serialize;

pub use crate::error_code::ErrorCode;

/// Metadata key a service sets on `RESOURCE_EXHAUSTED` to say when the caller may retry.
pub use parley_common::error::RETRY_AFTER_MS as RETRY_AFTER_MS_METADATA;

/// A failed request: its code, a message meant for the client developer, and for
/// `RATE_LIMITED` when to retry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiError {
    #[serde(serialize_with = "serialize_code")]
    pub code: ErrorCode,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_after_ms: None,
        }
    }

    /// A payload the edge refuses before any backend sees it; `field` is its JSON path.
    pub fn invalid(field: &str, problem: impl std::fmt::Display) -> Self {
        Self::new(ErrorCode::InvalidArgument, format!("{field}: {problem}"))
    }
}

impl From<tonic::Status> for ApiError {
    fn from(status: tonic::Status) -> Self {
        let code = ErrorCode::from_grpc(status.code());
        if !code.message_is_public() {
            // The details of a bug stay in the log and the trace.
            tracing::error!(grpc.code = ?status.code(), grpc.message = status.message(), "backend failed");
            return Self::new(code, "internal error");
        }
        let retry_after_ms = status
            .metadata()
            .get(RETRY_AFTER_MS_METADATA)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse().ok());
        Self {
            code,
            message: status.message().to_owned(),
            retry_after_ms,
        }
    }
}

fn serialize_code<S: serde::Serializer>(
    code: &ErrorCode,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(code.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_details_never_reach_the_client() {
        let error = ApiError::from(tonic::Status::internal("relation chat.x does not exist"));
        assert_eq!(error.code, ErrorCode::Internal);
        assert_eq!(error.message, "internal error");
    }

    #[test]
    fn rate_limits_carry_when_to_retry() {
        let mut status = tonic::Status::resource_exhausted("60 messages per minute");
        status
            .metadata_mut()
            .insert(RETRY_AFTER_MS_METADATA, "1500".parse().expect("ascii"));
        let error = ApiError::from(status);
        assert_eq!(error.code, ErrorCode::RateLimited);
        assert_eq!(error.retry_after_ms, Some(1500));
        assert_eq!(
            serde_json::to_value(&error).expect("serializes"),
            serde_json::json!({"code": "RATE_LIMITED", "message": "60 messages per minute", "retryAfterMs": 1500})
        );
    }
}
