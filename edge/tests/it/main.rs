//! Integration tests of the edge: the real services and the edge in-process on port 0,
//! a fresh Postgres database per test, and real Socket.IO clients.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod support;

mod attachments;
mod auth;
mod authorization;
mod calls;
mod calls_media;
mod chat_blocks;
mod chat_faults;
mod chat_limits;
mod chat_messages;
mod chat_rooms;
mod connect_order;
mod deploy_files;
mod envelope;
mod friends;
mod hostile_input;
mod http_endpoints;
mod media_flow;
mod official_client;
mod presence_failover;
mod replicas;
mod sdk_client;
mod services;
mod slow_clients;
mod stack_control;
mod status;
mod token_lifetime;
mod traces;
mod web_demo;
