//! The devices of this edge's `/calls` sockets (docs/API.md "`/calls`"): which device a
//! socket is (the handshake's `deviceId`), telling calls-svc when one comes and goes, and
//! the lease that vouches for all of them with one call per interval, so that calls-svc
//! learns within the lease TTL that this edge died and its callers' legs are lost.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use parley_proto::calls::v1::{
    CloseDeviceRequest, Device, EdgeSocket, OpenDeviceRequest, RenewEdgeLeaseRequest,
};
use serde_json::Value;
use socketioxide::extract::SocketRef;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::{
    auth::Identity,
    backends::Backends,
    calls_wire::{CallIncoming, CallList},
    server_events::calls::{CALL_INCOMING, CALLS_STATE},
    sessions::EdgeId,
};

/// The longest `deviceId` (docs/API.md "Connecting").
const MAX_DEVICE_ID_CHARS: usize = 64;

/// The device of a `/calls` socket, kept in its extensions: the handshake's `deviceId`, or
/// the socket id when it sent none.
#[derive(Debug, Clone)]
pub struct DeviceId(pub Arc<str>);

/// A `deviceId` outside docs/API.md's grammar: the connect is refused `INVALID_ARGUMENT`.
#[derive(Debug, PartialEq, Eq)]
pub struct InvalidDeviceId;

/// The device a socket connecting with `auth` is: `auth.deviceId` (1–64 of
/// `[A-Za-z0-9._~-]`), or without one (or `null`) the socket id, which then cannot be
/// resumed from another socket.
pub fn device_of(auth: Option<&Value>, socket_id: &str) -> Result<DeviceId, InvalidDeviceId> {
    match auth.and_then(|auth| auth.get("deviceId")) {
        None | Some(Value::Null) => Ok(DeviceId(socket_id.into())),
        Some(Value::String(id)) if is_device_id(id) => Ok(DeviceId(id.as_str().into())),
        Some(_) => Err(InvalidDeviceId),
    }
}

fn is_device_id(id: &str) -> bool {
    (1..=MAX_DEVICE_ID_CHARS).contains(&id.len())
        && id
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"._~-".contains(&byte))
}

/// socket id → the device of every `/calls` socket on this edge.
#[derive(Debug, Default)]
pub struct CallSockets {
    live: Mutex<HashMap<Arc<str>, Device>>,
}

impl CallSockets {
    fn add(&self, socket_id: &str, device: Device) {
        self.lock().insert(socket_id.into(), device);
    }

    /// The socket's device, if it was registered.
    fn remove(&self, socket_id: &str) -> Option<Device> {
        self.lock().remove(socket_id)
    }

    fn snapshot(&self) -> Vec<EdgeSocket> {
        self.lock()
            .iter()
            .map(|(socket_id, device)| EdgeSocket {
                device: Some(device.clone()),
                socket_id: socket_id.to_string(),
            })
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Arc<str>, Device>> {
        // Single inserts and removes only: a poisoned map is still consistent.
        parley_common::lock::lock(&self.live)
    }
}

fn device(user_id: Uuid, device: &DeviceId) -> Device {
    Device {
        user_id: user_id.to_string(),
        device_id: device.0.to_string(),
    }
}

/// Registers a new `/calls` socket with calls-svc and gives it `calls-state { calls }`,
/// then one `call-incoming` per call ringing for its user. Without an answer from calls-svc
/// the socket gets neither (the next renewal registers it; the client may `list-calls`).
pub async fn open(
    socket: &SocketRef,
    identity: &Identity,
    backends: &Backends,
    edge: &EdgeId,
    sockets: &CallSockets,
) {
    let Some(device_id) = socket.extensions.get::<DeviceId>() else {
        return;
    };
    let device = device(identity.user_id, &device_id);
    sockets.add(socket.id.as_str(), device.clone());
    let Ok(mut calls) = backends.calls() else {
        return;
    };
    let request = OpenDeviceRequest {
        device: Some(device),
        edge_id: edge.0.to_string(),
        socket_id: socket.id.to_string(),
    };
    let opened = match calls.open_device(backends.request(request)).await {
        Ok(opened) => opened.into_inner(),
        Err(status) => {
            tracing::warn!(code = ?status.code(), "cannot open a calls device now");
            return;
        }
    };
    CALLS_STATE.send(socket, &CallList::from(opened.calls));
    for ringing in opened.ringing {
        CALL_INCOMING.send(socket, &CallIncoming::from(ringing));
    }
}

/// Tells calls-svc that a `/calls` socket went: when its device has no socket left, its
/// legs become lost (calls-svc's grace periods start).
pub async fn close(socket: &SocketRef, backends: &Backends, edge: &EdgeId, sockets: &CallSockets) {
    let Some(device) = sockets.remove(socket.id.as_str()) else {
        return;
    };
    let Ok(mut calls) = backends.calls() else {
        return;
    };
    let request = CloseDeviceRequest {
        device: Some(device),
        edge_id: edge.0.to_string(),
        socket_id: socket.id.to_string(),
    };
    if let Err(status) = calls.close_device(backends.request(request)).await {
        // The next lease renewal no longer lists it, which closes it.
        tracing::warn!(code = ?status.code(), "cannot close a calls device now");
    }
}

/// Renews this edge's calls lease every `interval` (at most a third of `ttl`), listing its
/// live `/calls` sockets: calls-svc registers those it lost (after a restart) and forgets
/// those no longer listed. If this edge dies the renewals stop, and its sockets go as by
/// `CloseDevice` once `ttl` has passed. A failed renewal is tried again within a second
/// (on the next replica). `None` without a calls-svc.
pub fn spawn_lease(
    sockets: Arc<CallSockets>,
    backends: Backends,
    edge: EdgeId,
    interval: Duration,
    ttl: Duration,
) -> Option<JoinHandle<()>> {
    let calls = backends.calls().ok()?;
    let period = interval.min(ttl / 3).max(MIN_RENEWAL_INTERVAL);
    let lease_ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
    Some(tokio::spawn(async move {
        loop {
            let request = RenewEdgeLeaseRequest {
                edge_id: edge.0.to_string(),
                lease_ttl_ms,
                sockets: sockets.snapshot(),
            };
            let wait = match calls
                .clone()
                .renew_edge_lease(backends.request(request))
                .await
            {
                Ok(_) => period,
                Err(status) => {
                    tracing::warn!(code = ?status.code(), "cannot renew the calls lease; retrying soon");
                    period.min(RETRY_AFTER_FAILURE)
                }
            };
            tokio::time::sleep(wait).await;
        }
    }))
}

/// Renewals never come faster than this, whatever the configuration says.
const MIN_RENEWAL_INTERVAL: Duration = Duration::from_millis(100);

/// How soon a failed renewal is tried again; a renewal is idempotent.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(1);

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_handshake_names_the_device_or_the_socket_stands_in() {
        let named = json!({ "token": "t", "deviceId": "laptop-1.a_b~c" });
        assert_eq!(
            device_of(Some(&named), "sid").map(|device| device.0.to_string()),
            Ok("laptop-1.a_b~c".to_owned())
        );
        for unnamed in [json!({ "token": "t" }), json!({ "deviceId": null })] {
            assert_eq!(
                device_of(Some(&unnamed), "sid").map(|device| device.0.to_string()),
                Ok("sid".to_owned())
            );
        }
        assert_eq!(
            device_of(None, "sid").map(|device| device.0.to_string()),
            Ok("sid".to_owned())
        );
    }

    #[test]
    fn a_device_id_outside_the_grammar_is_refused() {
        let too_long = "d".repeat(MAX_DEVICE_ID_CHARS + 1);
        for bad in [
            json!(""),
            json!(too_long),
            json!("has space"),
            json!("slash/"),
            json!("é"),
            json!(7),
            json!(["a"]),
        ] {
            let auth = json!({ "deviceId": bad });
            assert!(device_of(Some(&auth), "sid").is_err(), "{bad}");
        }
        let longest = json!({ "deviceId": "d".repeat(MAX_DEVICE_ID_CHARS) });
        assert!(device_of(Some(&longest), "sid").is_ok());
    }
}
