//! `/status`: a socket is a presence session; statuses, friends' statuses, heartbeats.

use parley_proto::presence::v1 as pb;
use serde::Deserialize;
use serde_json::{Value, json};
use socketioxide::extract::{Extension, SocketRef, State, TryData};

use super::{Decoded, Raw, answer, decoded};
use crate::{
    auth::Identity,
    backends::Backends,
    reply::Reply,
    sessions::{EdgeId, SessionId, Sessions},
    wire,
};

/// Opens the socket's presence session and registers the `/status` events.
pub async fn connected(
    socket: &SocketRef,
    identity: &Identity,
    backends: &Backends,
    edge: &EdgeId,
    sessions: &Sessions,
) {
    let session = SessionId(uuid::Uuid::new_v4().to_string().into());
    sessions.add(&session, identity.user_id);
    socket.extensions.insert(session.clone());
    socket.on("update-status", update_status);
    socket.on("get-friends-status", get_friends_status);
    socket.on("heartbeat", heartbeat);

    let request = pb::OpenSessionRequest {
        user_id: identity.user_id.to_string(),
        session_id: session.0.to_string(),
        edge_id: edge.0.to_string(),
    };
    if let Err(status) = backends
        .presence
        .clone()
        .open_session(backends.request(request))
        .await
    {
        // The next lease renewal registers it once presence-svc answers again.
        tracing::warn!(%status, "cannot open a presence session now");
    }
}

/// Ends the socket's presence session.
pub async fn disconnected(socket: &SocketRef, backends: &Backends, sessions: &Sessions) {
    let Some(session) = socket.extensions.get::<SessionId>() else {
        return;
    };
    sessions.remove(&session);
    let request = pb::CloseSessionRequest {
        user_id: socket
            .extensions
            .get::<Identity>()
            .map(|identity| identity.user_id.to_string())
            .unwrap_or_default(),
        session_id: session.0.to_string(),
    };
    if let Err(status) = backends
        .presence
        .clone()
        .close_session(backends.request(request))
        .await
    {
        // The next lease renewal no longer lists it, which ends it.
        tracing::warn!(%status, "cannot close a presence session now");
    }
}

#[derive(Deserialize)]
struct UpdateStatus {
    status: ChosenStatus,
}

/// The statuses a user may choose; OFFLINE is what absence shows.
#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum ChosenStatus {
    Online,
    Away,
    DoNotDisturb,
    Invisible,
}

impl From<ChosenStatus> for pb::Status {
    fn from(status: ChosenStatus) -> Self {
        match status {
            ChosenStatus::Online => pb::Status::Online,
            ChosenStatus::Away => pb::Status::Away,
            ChosenStatus::DoNotDisturb => pb::Status::DoNotDisturb,
            ChosenStatus::Invisible => pb::Status::Invisible,
        }
    }
}

/// Events without fields; whatever the client sends is ignored.
#[derive(Deserialize)]
struct NoFields {}

fn update_status_request(payload: UpdateStatus, me: &Identity) -> pb::UpdateStatusRequest {
    pb::UpdateStatusRequest {
        acting_user_id: me.user_id.to_string(),
        status: pb::Status::from(payload.status).into(),
    }
}

async fn update_status(
    reply: Reply,
    TryData(raw): TryData<Value>,
    Extension(me): Extension<Identity>,
    State(backends): State<Backends>,
) {
    answer(reply, raw, move |payload: UpdateStatus| async move {
        let request = update_status_request(payload, &me);
        let response = backends
            .presence
            .clone()
            .update_status(backends.request(request))
            .await?
            .into_inner();
        Ok(json!({ "status": wire::status(response.status) }))
    })
    .await;
}

fn get_friends_status_request(me: &Identity) -> pb::GetFriendsStatusRequest {
    pb::GetFriendsStatusRequest {
        acting_user_id: me.user_id.to_string(),
    }
}

async fn get_friends_status(
    reply: Reply,
    TryData(raw): TryData<Value>,
    Extension(me): Extension<Identity>,
    State(backends): State<Backends>,
) {
    let socket = reply.socket().clone();
    answer(reply, raw, move |_: NoFields| async move {
        let request = get_friends_status_request(&me);
        let response = backends
            .presence
            .clone()
            .get_friends_status(backends.request(request))
            .await?
            .into_inner();
        let friends: Vec<wire::FriendStatus> =
            response.friends.into_iter().map(Into::into).collect();
        emit_to(&socket, "friends-status", &friends);
        Ok(friends)
    })
    .await;
}

fn heartbeat_request(me: &Identity, session: &SessionId, edge: &EdgeId) -> pb::HeartbeatRequest {
    pb::HeartbeatRequest {
        acting_user_id: me.user_id.to_string(),
        session_id: session.0.to_string(),
        edge_id: edge.0.to_string(),
    }
}

async fn heartbeat(
    reply: Reply,
    TryData(raw): TryData<Value>,
    Extension(me): Extension<Identity>,
    Extension(session): Extension<SessionId>,
    State(backends): State<Backends>,
    State(edge): State<EdgeId>,
) {
    let socket = reply.socket().clone();
    answer(reply, raw, move |_: NoFields| async move {
        let request = heartbeat_request(&me, &session, &edge);
        let response = backends
            .presence
            .clone()
            .heartbeat(backends.request(request))
            .await?
            .into_inner();
        let ack = json!({ "serverTime": wire::time(response.server_time.as_ref()) });
        emit_to(&socket, "heartbeat-ack", &ack);
        Ok(ack)
    })
    .await;
}

/// docs/API.md's client → server events of `/status`.
pub const EVENTS: [&str; 3] = ["update-status", "get-friends-status", "heartbeat"];

/// What the handler of `event` does with its payload before calling presence-svc, with the
/// same functions, on a socket of session `session_id` on edge `edge_id`; `None` for an event
/// `/status` does not have. For the fuzz targets.
pub fn decode(
    event: &str,
    raw: Raw,
    me: &Identity,
    session_id: &str,
    edge_id: &str,
) -> Option<Decoded> {
    Some(match event {
        "update-status" => decoded(raw, |payload| Ok(update_status_request(payload, me))),
        "get-friends-status" => decoded(raw, |_: NoFields| Ok(get_friends_status_request(me))),
        "heartbeat" => decoded(raw, |_: NoFields| {
            let (session, edge) = (SessionId(session_id.into()), EdgeId(edge_id.into()));
            Ok(heartbeat_request(me, &session, &edge))
        }),
        _ => return None,
    })
}

fn emit_to<T: serde::Serialize + ?Sized>(socket: &SocketRef, event: &str, payload: &T) {
    if let Err(error) = socket.emit(event, payload) {
        tracing::debug!(%error, event, "cannot emit to a socket");
    }
}
