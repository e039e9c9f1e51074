//! The one table between gRPC status codes (what services answer) and the error codes that
//! clients see (docs/API.md "Answers and errors").

use tonic::Code;

/// A client-facing error code, as written in docs/API.md. Its schema lists every code
/// (`errorCodes` of `edge schema`); `as_str` gives the same names without serde, and a test
/// holds the two together.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    InvalidArgument,
    Unauthenticated,
    PermissionDenied,
    NotFound,
    AlreadyExists,
    FailedPrecondition,
    RateLimited,
    QuotaExceeded,
    Unavailable,
    Internal,
}

impl ErrorCode {
    /// The code exactly as clients receive it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidArgument => "INVALID_ARGUMENT",
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::PermissionDenied => "PERMISSION_DENIED",
            Self::NotFound => "NOT_FOUND",
            Self::AlreadyExists => "ALREADY_EXISTS",
            Self::FailedPrecondition => "FAILED_PRECONDITION",
            Self::RateLimited => "RATE_LIMITED",
            Self::QuotaExceeded => "QUOTA_EXCEEDED",
            Self::Unavailable => "UNAVAILABLE",
            Self::Internal => "INTERNAL",
        }
    }

    /// What a client sees for a gRPC status a service answered.
    ///
    /// Codes that carry an internal detail (a bug, a missing operation, a corrupt message) become
    /// `INTERNAL`, whose details stay in the server log and trace. A deadline or a cancelled call
    /// means the backend did not answer in time: the client may retry, so `UNAVAILABLE`. So
    /// does `Unknown`, which tonic gives a call that broke at the transport (a replica killed
    /// mid-call): whether it took effect is unknown, and a retry (with the same `clientMsgId`)
    /// is the safe answer; a bug would say `INTERNAL`.
    ///
    /// `RESOURCE_EXHAUSTED` is a rate limit here; one that carries the quota metadata is a
    /// storage quota instead (`QUOTA_EXCEEDED`), which `ApiError::from` tells apart, since the
    /// code alone cannot.
    pub fn from_grpc(code: Code) -> Self {
        match code {
            Code::InvalidArgument | Code::OutOfRange => Self::InvalidArgument,
            Code::Unauthenticated => Self::Unauthenticated,
            Code::PermissionDenied => Self::PermissionDenied,
            Code::NotFound => Self::NotFound,
            Code::AlreadyExists => Self::AlreadyExists,
            Code::FailedPrecondition | Code::Aborted => Self::FailedPrecondition,
            Code::ResourceExhausted => Self::RateLimited,
            Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled | Code::Unknown => {
                Self::Unavailable
            }
            Code::Ok | Code::Unimplemented | Code::Internal | Code::DataLoss => Self::Internal,
        }
    }

    /// Every code's name, in declaration order, as the schema lists them.
    pub fn names() -> Vec<String> {
        let schema = schemars::schema_for!(ErrorCode);
        let codes = schema.get("enum").and_then(serde_json::Value::as_array);
        codes
            .into_iter()
            .flatten()
            .filter_map(|code| code.as_str().map(str::to_owned))
            .collect()
    }

    /// Whether the message of a status with this code may be shown to the client. Internal
    /// details never leave the server.
    pub fn message_is_public(self) -> bool {
        self != Self::Internal
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_grpc_code_maps_to_a_protocol_code() {
        let expected = [
            (Code::Ok, "INTERNAL"),
            (Code::Cancelled, "UNAVAILABLE"),
            (Code::Unknown, "UNAVAILABLE"),
            (Code::InvalidArgument, "INVALID_ARGUMENT"),
            (Code::DeadlineExceeded, "UNAVAILABLE"),
            (Code::NotFound, "NOT_FOUND"),
            (Code::AlreadyExists, "ALREADY_EXISTS"),
            (Code::PermissionDenied, "PERMISSION_DENIED"),
            (Code::ResourceExhausted, "RATE_LIMITED"),
            (Code::FailedPrecondition, "FAILED_PRECONDITION"),
            (Code::Aborted, "FAILED_PRECONDITION"),
            (Code::OutOfRange, "INVALID_ARGUMENT"),
            (Code::Unimplemented, "INTERNAL"),
            (Code::Internal, "INTERNAL"),
            (Code::Unavailable, "UNAVAILABLE"),
            (Code::DataLoss, "INTERNAL"),
            (Code::Unauthenticated, "UNAUTHENTICATED"),
        ];
        for (grpc, client) in expected {
            assert_eq!(ErrorCode::from_grpc(grpc).as_str(), client, "{grpc:?}");
        }
    }

    #[test]
    fn as_str_names_each_code_as_serde_and_the_schema_do() {
        let codes = ErrorCode::names();
        assert!(!codes.is_empty());
        for name in codes {
            let code: ErrorCode = serde_json::from_value(serde_json::json!(name))
                .unwrap_or_else(|error| panic!("{name}: {error}"));
            assert_eq!(code.as_str(), name);
            assert_eq!(serde_json::json!(code), serde_json::json!(name));
        }
    }

    #[test]
    fn internal_details_are_not_public() {
        assert!(!ErrorCode::Internal.message_is_public());
        assert!(ErrorCode::NotFound.message_is_public());
    }
}
