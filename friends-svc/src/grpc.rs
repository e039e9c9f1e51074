//! The gRPC face of `friends-svc`: converts requests, delegates, converts answers.
//!
//! Operations not built yet keep the generated default, which answers `UNIMPLEMENTED`.

use parley_proto::friends::v1::friends_service_server::FriendsService;
use sqlx::PgPool;

/// The `parley.friends.v1.FriendsService` implementation.
#[derive(Debug, Clone)]
pub struct FriendsGrpc {
    /// Connections to the `friends` schema.
    #[allow(
        dead_code,
        reason = "the operations that query it arrive with their issue"
    )]
    pool: PgPool,
}

impl FriendsGrpc {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

impl FriendsService for FriendsGrpc {}
