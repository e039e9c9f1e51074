//! The error of this service's operations: the one shared by every Parley service.

pub use parley_common::error::ServiceError as Error;
