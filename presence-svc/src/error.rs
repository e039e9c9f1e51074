//! The error of this service's operations: the one shared by every Parley service.

pub use parley_common::error::ServiceError as Error;

/// friends-svc failed to answer: callers get `UNAVAILABLE` "friends-svc is unavailable",
/// and the status it gave goes to the log.
pub fn friends_svc(status: tonic::Status) -> Error {
    Error::Dependency("friends-svc", status)
}
