//! The error a client receives, in docs/API.md's terms.

use schemars::JsonSchema;
use serde::Serialize;

pub use crate::error_code::ErrorCode;
use crate::protocol_schema::absent_not_null;

/// Metadata key a service sets on `RESOURCE_EXHAUSTED` to say when the caller may retry.
pub use parley_common::error::RETRY_AFTER_MS as RETRY_AFTER_MS_METADATA;
use parley_common::error::{QUOTA_LIMIT_BYTES, QUOTA_USED_BYTES};

/// A failed request (the `error` of an ack whose `ok` is `false`): its code, a message meant
/// for the client developer, for `RATE_LIMITED` when to retry, and for `QUOTA_EXCEEDED` the
/// quota.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiError {
    pub code: ErrorCode,
    /// For the developer, not the user: e.g. `roomId: invalid type: integer 5, expected UUID`.
    pub message: String,
    /// How long to wait before asking again (`RATE_LIMITED`, or a quota that refills).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(transform = absent_not_null)]
    pub retry_after_ms: Option<u64>,
    /// `limitBytes` and `usedBytes`, beside the other fields.
    #[serde(flatten)]
    pub quota: Option<Quota>,
}

/// The storage quota a `QUOTA_EXCEEDED` ran into (docs/API.md "Attachments").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Quota {
    pub limit_bytes: u64,
    pub used_bytes: u64,
}

impl Quota {
    /// The quota a `RESOURCE_EXHAUSTED` names in its metadata; `None` for a rate limit (or a
    /// quota named so badly that it cannot be shown).
    fn of(status: &tonic::Status) -> Option<Self> {
        if status.code() != tonic::Code::ResourceExhausted {
            return None;
        }
        Some(Self {
            limit_bytes: decimal_metadata(status, QUOTA_LIMIT_BYTES)?,
            used_bytes: decimal_metadata(status, QUOTA_USED_BYTES)?,
        })
    }
}

fn decimal_metadata(status: &tonic::Status, key: &str) -> Option<u64> {
    status.metadata().get(key)?.to_str().ok()?.parse().ok()
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_after_ms: None,
            quota: None,
        }
    }

    /// A payload the edge refuses before any backend sees it; `field` is its JSON path.
    pub fn invalid(field: &str, problem: impl std::fmt::Display) -> Self {
        Self::new(ErrorCode::InvalidArgument, format!("{field}: {problem}"))
    }
}

impl From<tonic::Status> for ApiError {
    fn from(status: tonic::Status) -> Self {
        let quota = Quota::of(&status);
        let code = match quota {
            Some(_) => ErrorCode::QuotaExceeded,
            None => ErrorCode::from_grpc(status.code()),
        };
        if !code.message_is_public() {
            // The details of a bug stay in the log and the trace.
            tracing::error!(grpc.code = ?status.code(), grpc.message = status.message(), "backend failed");
            return Self::new(code, "internal error");
        }
        Self {
            code,
            message: status.message().to_owned(),
            // A quota that refills (a daily one) may say when, too.
            retry_after_ms: decimal_metadata(&status, RETRY_AFTER_MS_METADATA),
            quota,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn exhausted(metadata: &[(&'static str, &str)]) -> tonic::Status {
        let mut status = tonic::Status::resource_exhausted("over the limit");
        for (key, value) in metadata {
            status
                .metadata_mut()
                .insert(*key, value.parse().expect("ascii"));
        }
        status
    }

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
            json!({"code": "RATE_LIMITED", "message": "60 messages per minute", "retryAfterMs": 1500})
        );
    }

    #[test]
    fn a_storage_quota_is_quota_exceeded_with_its_limit_and_use() {
        let status = exhausted(&[
            (QUOTA_LIMIT_BYTES, "1073741824"),
            (QUOTA_USED_BYTES, "1073000000"),
        ]);
        let error = ApiError::from(status);
        assert_eq!(error.code, ErrorCode::QuotaExceeded);
        assert_eq!(
            serde_json::to_value(&error).expect("serializes"),
            json!({
                "code": "QUOTA_EXCEEDED",
                "message": "over the limit",
                "limitBytes": 1_073_741_824_u64,
                "usedBytes": 1_073_000_000_u64,
            })
        );
    }

    #[test]
    fn a_quota_that_refills_also_says_when() {
        let status = exhausted(&[
            (QUOTA_LIMIT_BYTES, "100"),
            (QUOTA_USED_BYTES, "90"),
            (RETRY_AFTER_MS_METADATA, "60000"),
        ]);
        let error = ApiError::from(status);
        assert_eq!(error.code, ErrorCode::QuotaExceeded);
        assert_eq!(error.retry_after_ms, Some(60_000));
        assert_eq!(
            error.quota,
            Some(Quota {
                limit_bytes: 100,
                used_bytes: 90
            })
        );
    }

    #[test]
    fn without_both_quota_numbers_resource_exhausted_stays_a_rate_limit() {
        for metadata in [
            vec![(QUOTA_LIMIT_BYTES, "100")],
            vec![(QUOTA_USED_BYTES, "90")],
            vec![(QUOTA_LIMIT_BYTES, "a lot"), (QUOTA_USED_BYTES, "90")],
            vec![(RETRY_AFTER_MS_METADATA, "10")],
        ] {
            let error = ApiError::from(exhausted(&metadata));
            assert_eq!(error.code, ErrorCode::RateLimited, "{metadata:?}");
            assert_eq!(error.quota, None);
        }
    }

    #[test]
    fn quota_metadata_on_another_code_changes_nothing() {
        let mut status = tonic::Status::failed_precondition("already sent");
        status
            .metadata_mut()
            .insert(QUOTA_LIMIT_BYTES, "100".parse().expect("ascii"));
        status
            .metadata_mut()
            .insert(QUOTA_USED_BYTES, "90".parse().expect("ascii"));
        let error = ApiError::from(status);
        assert_eq!(error.code, ErrorCode::FailedPrecondition);
        assert_eq!(
            serde_json::to_value(&error).expect("serializes"),
            json!({"code": "FAILED_PRECONDITION", "message": "already sent"})
        );
    }
}
