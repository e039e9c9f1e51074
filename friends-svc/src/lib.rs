//! `friends-svc`: users as known from tokens, friend requests, friendships and blocks. The
//! source of truth for who may see or message whom.
//!
//! It owns the Postgres schema `friends`; other services ask it over gRPC
//! (`parley.friends.v1.FriendsService`) and never read its tables.

pub mod config;
pub mod domain;
pub mod error;
mod events;
mod grpc;
pub mod repo;
pub mod service;
pub mod startup;

/// The Postgres schema this service owns, its migrations table included.
pub const SCHEMA: &str = "friends";
