//! `media-svc`: uploads, attachments and their image variants, quotas, the object store and
//! the HTTP data plane that serves signed upload and download URLs on an origin of its own.
//!
//! It owns the Postgres schema `media` and the object store; chat-svc stays the authority on
//! who may post and see, and stores which message holds which attachment. Other services ask
//! it over gRPC (`parley.media.v1.MediaService`).

pub mod processing;
pub mod store;

/// The Postgres schema this service owns, its migrations table included.
pub const SCHEMA: &str = "media";
