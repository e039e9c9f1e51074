//! A real Socket.IO client (rust_socketio over WebSocket) with the waiting done for the test.

use std::{sync::Arc, time::Duration};

use futures_util::FutureExt;
use rust_socketio::{
    Event, Payload, TransportType,
    asynchronous::{Client, ClientBuilder},
};
use serde_json::{Value, json};
use tokio::sync::{Mutex, mpsc, oneshot};

/// How long a test waits for something the server should do at once.
pub const PATIENCE: Duration = Duration::from_secs(5);

const CONNECT_ERROR_PREFIX: &str = "Received an ConnectError frame: ";

/// A connected socket on one namespace and the events it received.
pub struct SioClient {
    client: Client,
    events: mpsc::UnboundedReceiver<(String, Value)>,
}

type Once<T> = Arc<Mutex<Option<oneshot::Sender<T>>>>;

async fn fire<T>(once: &Once<T>, value: T) {
    if let Some(sender) = once.lock().await.take() {
        let _ = sender.send(value);
    }
}

/// The first JSON argument of a payload (events carry one).
fn first_argument(payload: Payload) -> Value {
    match payload {
        Payload::Text(mut values) if !values.is_empty() => values.swap_remove(0),
        Payload::Text(_) => Value::Null,
        #[allow(deprecated)]
        Payload::String(text) => serde_json::from_str(&text).unwrap_or(Value::String(text)),
        Payload::Binary(bytes) => json!({ "binary": bytes.len() }),
    }
}

impl SioClient {
    /// Connects to `namespace` with `auth: { token }`. `Err` carries the message of the
    /// server's `connect_error`.
    pub async fn connect(
        base_url: &str,
        namespace: &str,
        token: Option<&str>,
    ) -> Result<SioClient, String> {
        let auth = match token {
            Some(token) => json!({ "token": token }),
            None => json!({}),
        };
        Self::connect_with_auth(base_url, namespace, auth).await
    }

    /// Connects to `namespace` with this handshake `auth` (e.g. a token and a `deviceId`).
    pub async fn connect_with_auth(
        base_url: &str,
        namespace: &str,
        auth: Value,
    ) -> Result<SioClient, String> {
        let (events_tx, events) = mpsc::unbounded_channel();
        let (outcome_tx, outcome) = oneshot::channel::<Result<(), String>>();
        let outcome_tx: Once<Result<(), String>> = Arc::new(Mutex::new(Some(outcome_tx)));

        let on_connect = outcome_tx.clone();
        let on_error = outcome_tx;
        let error_events = events_tx.clone();
        let client = ClientBuilder::new(base_url)
            .namespace(namespace)
            .transport_type(TransportType::Websocket)
            .reconnect(false)
            .auth(auth)
            .on(Event::Connect, move |_, _| {
                let once = on_connect.clone();
                async move { fire(&once, Ok(())).await }.boxed()
            })
            .on(Event::Error, move |payload, _| {
                // rust_socketio reports a refused connect, transport errors and the server's
                // `error` event through this one callback.
                let once = on_error.clone();
                let events = error_events.clone();
                async move {
                    let value = first_argument(payload);
                    match value
                        .as_str()
                        .and_then(|text| text.strip_prefix(CONNECT_ERROR_PREFIX))
                    {
                        Some(frame) => {
                            let message = serde_json::from_str::<Value>(frame)
                                .ok()
                                .and_then(|v| {
                                    v.get("message").and_then(Value::as_str).map(str::to_owned)
                                })
                                .unwrap_or_else(|| frame.to_owned());
                            fire(&once, Err(message)).await;
                        }
                        None => {
                            let _ = events.send(("error".to_owned(), value));
                        }
                    }
                }
                .boxed()
            })
            .on_any(move |event, payload, _| {
                let events = events_tx.clone();
                async move {
                    let _ = events.send((String::from(event), first_argument(payload)));
                }
                .boxed()
            })
            .connect()
            .await
            .map_err(|error| format!("transport: {error}"))?;

        match tokio::time::timeout(PATIENCE, outcome).await {
            Ok(Ok(Ok(()))) => Ok(SioClient { client, events }),
            Ok(Ok(Err(message))) => {
                let _ = client.disconnect().await;
                Err(message)
            }
            _ => {
                let _ = client.disconnect().await;
                Err("no answer to the namespace connect".to_owned())
            }
        }
    }

    /// Emits `event` with `args` (zero or more arguments) and returns where the ack's argument
    /// will arrive: nowhere when the connection goes first.
    async fn emit_for_ack(
        &self,
        event: &str,
        args: Vec<Value>,
    ) -> Result<oneshot::Receiver<Value>, rust_socketio::Error> {
        let (tx, rx) = oneshot::channel();
        let tx: Once<Value> = Arc::new(Mutex::new(Some(tx)));
        self.client
            .emit_with_ack(event, Payload::Text(args), PATIENCE, move |payload, _| {
                let once = tx.clone();
                // rust_socketio hands an ack over as the JSON array of its arguments.
                let ack = match first_argument(payload) {
                    Value::Array(mut args) if !args.is_empty() => args.swap_remove(0),
                    other => other,
                };
                async move { fire(&once, ack).await }.boxed()
            })
            .await?;
        Ok(rx)
    }

    /// Emits `event` with `args` (zero or more arguments) and returns the ack's argument.
    pub async fn call_with_args(&self, event: &str, args: Vec<Value>) -> Value {
        let rx = self.emit_for_ack(event, args).await.expect("emit");
        tokio::time::timeout(PATIENCE, rx)
            .await
            .unwrap_or_else(|_| panic!("no ack for {event}"))
            .expect("ack")
    }

    /// Emits `event` with one payload and returns the ack's argument.
    pub async fn call(&self, event: &str, payload: Value) -> Value {
        self.call_with_args(event, vec![payload]).await
    }

    /// Emits `event` with one payload and returns its ack, or `None` when none came within
    /// [`PATIENCE`] or the connection is gone: what a client that retries sees.
    pub async fn try_call(&self, event: &str, payload: Value) -> Option<Value> {
        let rx = self.emit_for_ack(event, vec![payload]).await.ok()?;
        tokio::time::timeout(PATIENCE, rx).await.ok()?.ok()
    }

    /// Emits `event` with one payload and returns at once; the ack, if one comes within
    /// [`PATIENCE`], is awaited later, e.g. after the server was killed.
    pub async fn call_later(
        &self,
        event: &str,
        payload: Value,
    ) -> impl std::future::Future<Output = Option<Value>> + use<> {
        let rx = self.emit_for_ack(event, vec![payload]).await.expect("emit");
        async move { tokio::time::timeout(PATIENCE, rx).await.ok()?.ok() }
    }

    /// Emits `event` without an ack callback.
    pub async fn emit(&self, event: &str, payload: Value) {
        self.client
            .emit(event, Payload::Text(vec![payload]))
            .await
            .expect("emit");
    }

    /// The next event named `name`, skipping others.
    pub async fn next_event(&mut self, name: &str) -> Value {
        let wait = async {
            loop {
                match self.events.recv().await {
                    Some((event, payload)) if event == name => return payload,
                    Some(_) => continue,
                    None => panic!("the client closed while waiting for {name}"),
                }
            }
        };
        tokio::time::timeout(PATIENCE, wait)
            .await
            .unwrap_or_else(|_| panic!("no {name} event"))
    }

    /// The next event, whatever its name.
    pub async fn next_any_event(&mut self) -> (String, Value) {
        tokio::time::timeout(PATIENCE, self.events.recv())
            .await
            .expect("an event in time")
            .expect("the client is open")
    }

    /// Every event that arrives within `wait`, in order.
    pub async fn events_within(&mut self, wait: Duration) -> Vec<(String, Value)> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut received = Vec::new();
        while let Ok(Some(event)) = tokio::time::timeout_at(deadline, self.events.recv()).await {
            received.push(event);
        }
        received
    }

    /// Asserts that no event named `name` arrives within `wait`; other events are dropped.
    pub async fn no_event(&mut self, name: &str, wait: Duration) {
        let deadline = tokio::time::Instant::now() + wait;
        while let Ok(Some((event, payload))) =
            tokio::time::timeout_at(deadline, self.events.recv()).await
        {
            assert_ne!(event, name, "unexpected {name}: {payload}");
        }
    }

    pub async fn disconnect(self) {
        let _ = self.client.disconnect().await;
    }
}
