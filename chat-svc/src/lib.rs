//! `chat-svc`: rooms, members and roles, messages with a per-room sequence and their
//! attachments, read pointers, typing, edits and deletes.
//!
//! It owns the Postgres schema `chat`; other services ask it over gRPC
//! (`parley.chat.v1.ChatService`) and never read its tables.

mod attachment_urls;
mod attachments;
mod batching;
mod blocks;
mod call_logs;
pub mod config;
mod direct_rooms;
pub mod domain;
pub mod error;
mod events;
mod grpc;
mod interest;
mod media;
mod member_cache;
pub mod messages;
mod profiles;
mod read_pointers;
mod repo;
mod send_plan;
pub mod service;
pub mod startup;
#[cfg(feature = "testing")]
pub mod testing;
mod typing;
mod users;
mod writer;

/// The Postgres schema this service owns, its migrations table included.
pub const SCHEMA: &str = "chat";
