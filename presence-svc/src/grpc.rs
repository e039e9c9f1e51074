//! The gRPC face of `presence-svc`: converts requests, delegates, converts answers.
//!
//! Operations not built yet keep the generated default, which answers `UNIMPLEMENTED`.

use parley_proto::presence::v1::presence_service_server::PresenceService;
use sqlx::PgPool;

/// The `parley.presence.v1.PresenceService` implementation.
#[derive(Debug, Clone)]
pub struct PresenceGrpc {
    /// Connections to the `presence` schema.
    #[allow(
        dead_code,
        reason = "the operations that query it arrive with their issue"
    )]
    pool: PgPool,
}

impl PresenceGrpc {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

impl PresenceService for PresenceGrpc {}
