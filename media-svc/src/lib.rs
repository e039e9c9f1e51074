//! `media-svc`: uploads, attachments and their image variants, quotas, the object store and
//! the HTTP data plane that serves signed upload and download URLs on an origin of its own.
//!
//! It owns the Postgres schema `media` and the object store; chat-svc stays the authority on
//! who may post and see, and stores which message holds which attachment. Other services ask
//! it over gRPC (`parley.media.v1.MediaService`).

pub mod config;
pub mod domain;
pub mod error;
mod grpc;
pub mod http;
pub mod processing;
mod processor;
pub mod repo;
pub mod service;
pub mod startup;
pub mod store;
pub mod sweeper;

/// The Postgres schema this service owns, its migrations table included.
pub const SCHEMA: &str = "media";
