//! The gRPC face of `chat-svc`: converts requests, delegates, converts answers.
//!
//! Operations not built yet keep the generated default, which answers `UNIMPLEMENTED`.

use parley_proto::chat::v1::chat_service_server::ChatService;
use sqlx::PgPool;

/// The `parley.chat.v1.ChatService` implementation.
#[derive(Debug, Clone)]
pub struct ChatGrpc {
    /// Connections to the `chat` schema.
    #[allow(
        dead_code,
        reason = "the operations that query it arrive with their issue"
    )]
    pool: PgPool,
}

impl ChatGrpc {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

impl ChatService for ChatGrpc {}
