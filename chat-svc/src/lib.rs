//! `chat-svc`: rooms, members and roles, messages with a per-room sequence, read pointers, typing, edits and deletes.
//!
//! It owns the Postgres schema `chat`; other services ask it over gRPC
//! (`parley.chat.v1.ChatService`) and never read its tables.

pub mod config;
mod grpc;
pub mod startup;

/// The Postgres schema this service owns, its migrations table included.
pub const SCHEMA: &str = "chat";
