//! Getting users connected and rooms made before a measurement starts.

use std::net::SocketAddr;
use std::time::Instant;

use anyhow::Context;
use futures_util::{StreamExt, stream};
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::client::{self, Socket};
use crate::load::{self, Listener, Sender};
use crate::users;

/// Handshakes in flight at once: enough to connect thousands of users in seconds without
/// overflowing the server's accept backlog.
const CONNECTING_AT_ONCE: usize = 128;

pub struct Target {
    pub server: SocketAddr,
    pub secret: String,
}

/// Connects users `ids` to `namespaces`; returns the sockets in the order of `ids`, and how many
/// could not connect (with the first reason).
pub async fn connect_all(
    target: &Target,
    ids: &[usize],
    namespaces: &[&str],
) -> (Vec<(usize, Socket)>, usize, Option<String>) {
    let started = Instant::now();
    let results: Vec<(usize, anyhow::Result<Socket>)> = stream::iter(ids.iter().copied())
        .map(|n| async move {
            let attempt = async {
                let token = users::token(&target.secret, n)?;
                client::connect(target.server, users::source_addr(n), &token, namespaces).await
            };
            (n, attempt.await)
        })
        .buffered(CONNECTING_AT_ONCE)
        .collect()
        .await;
    let mut sockets = Vec::with_capacity(results.len());
    let mut failed = 0;
    let mut first_error = None;
    for (n, result) in results {
        match result {
            Ok(ws) => sockets.push((n, ws)),
            Err(e) => {
                failed += 1;
                first_error.get_or_insert_with(|| format!("{e:#}"));
            }
        }
    }
    eprintln!(
        "connected {} users to {} in {:.1} s ({failed} failed)",
        sockets.len(),
        namespaces.join(","),
        started.elapsed().as_secs_f64()
    );
    (sockets, failed, first_error)
}

/// Like `connect_all`, but any failure ends the scenario.
pub async fn connect_every(
    target: &Target,
    ids: &[usize],
    namespaces: &[&str],
) -> anyhow::Result<Vec<Socket>> {
    let (sockets, failed, first_error) = connect_all(target, ids, namespaces).await;
    if failed > 0 {
        anyhow::bail!(
            "{failed} users could not connect: {}",
            first_error.unwrap_or_default()
        );
    }
    Ok(sockets.into_iter().map(|(_, ws)| ws).collect())
}

/// Users one `create-room` or `add-members` may name (chat-svc's per-call bound).
const MEMBERS_PER_CALL: usize = 100;

/// Makes a group room: its first member creates it with the others, 100 at a time (the
/// first hundred by `create-room`, the rest by `add-members`). Returns its id.
pub async fn create_group(ws: &mut Socket, name: &str, others: &[usize]) -> anyhow::Result<String> {
    let member_ids: Vec<String> = others
        .iter()
        .map(|n| users::user_id(*n).to_string())
        .collect();
    let mut calls = member_ids.chunks(MEMBERS_PER_CALL);
    let first = calls.next().unwrap_or_default();
    let payload = json!({ "name": name, "isGroup": true, "memberIds": first });
    let data = client::request(ws, "/chat", 1, "create-room", &payload).await?;
    let id = data
        .pointer("/room/id")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .context("create-room ack without room.id")?;
    for more in calls {
        let payload = json!({ "roomId": id, "userIds": more });
        client::request(ws, "/chat", 3, "add-members", &payload).await?;
    }
    Ok(id)
}

/// Sends one message and waits for its ack: makes DM rooms exist before measuring.
pub async fn send_one(ws: &mut Socket, target: &str) -> anyhow::Result<Value> {
    let payload: Value = serde_json::from_str(&format!("{{{target},\"content\":\"warm-up\"}}"))?;
    client::request(ws, "/chat", 2, "send-message", &payload).await
}

/// Hands each socket to a load task on this thread; the handles stop them when dropped.
pub fn spawn_load(
    sockets: Vec<Socket>,
    ids: &[usize],
    mut role: impl FnMut(usize) -> (Option<Sender>, Option<Listener>),
    epoch: Instant,
) -> Vec<AbortOnDrop> {
    sockets
        .into_iter()
        .zip(ids.iter().copied())
        .map(|(ws, n)| {
            let (sender, listener) = role(n);
            let msg_ids = users::msg_id_prefix(n);
            AbortOnDrop(tokio::spawn(load::drive(
                ws, msg_ids, sender, listener, epoch,
            )))
        })
        .collect()
}

/// A load task that ends (closing its connection) when this handle is dropped.
pub struct AbortOnDrop(pub tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A fixed rate for senders that do not follow the step schedule (heartbeats, background load).
pub fn fixed_rate(rate: f64) -> watch::Receiver<f64> {
    watch::channel(rate).1
}
