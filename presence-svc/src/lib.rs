//! `presence-svc`: sessions, statuses, heartbeats and last seen; tells friends of changes.
//!
//! It owns the Postgres schema `presence`; other services ask it over gRPC
//! (`parley.presence.v1.PresenceService`) and never read its tables.

pub mod config;
pub mod domain;
pub mod error;
pub mod events;
pub mod graph;
mod grpc;
mod peers;
mod repo;
pub mod service;
pub mod shards;
pub mod startup;
pub mod state;

/// The Postgres schema this service owns, its migrations table included.
pub const SCHEMA: &str = "presence";
