//! The client events of every namespace, each declared once in its namespace's table
//! (`chat::events` with `attachments::events`, `status::events`, `friends::events`,
//! `calls::events`): its
//! names, its payload type, how the payload becomes a gRPC request, which call it makes and
//! how the answer renders into its typed ack `data`.
//! One handler answers them all (`answer`); the list of events, the decoding the fuzz targets
//! check, the schema of each payload and ack (`edge schema`) and docs/API.md's event tables
//! are read from, or checked against, the same tables.
//!
//! A new event is one entry in its namespace's table, plus its tests.

mod attachments;
mod calls;
mod chat;
mod friends;
mod status;

#[cfg(test)]
use std::any::TypeId;
use std::{
    collections::HashMap,
    fmt::Debug,
    future::Future,
    sync::{Arc, LazyLock},
};

use futures_util::future::BoxFuture;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::Value;
use socketioxide::{
    ParserError,
    extract::{Extension, SocketRef, State, TryData},
};
use tracing::Instrument;

use crate::{
    auth::{Authenticator, Identity},
    backends::Backends,
    call_devices::DeviceId,
    error::{ApiError, ErrorCode},
    event_limits::{EventClass, EventLimits},
    payload,
    reply::Reply,
    server_events::ServerEvent,
    sessions::{EdgeId, SessionId},
    token_lifetime::{self, REFRESH_EVENT},
};

pub(crate) use chat::MessageError;

/// A client event's payload as the edge receives it.
pub type Raw = Result<Value, ParserError>;

/// What the edge makes of a client event's payload before any backend sees it: the gRPC
/// request it would send, or the error the client gets. The fuzz targets check it.
pub type Decoded = Result<Box<dyn Debug + Send>, ApiError>;

/// Who sent an event, as the request builders see it.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    pub me: &'a Identity,
    /// The socket it came on, which the events it causes may skip.
    pub socket_id: &'a str,
    /// The presence session of a `/status` socket; empty on the other namespaces.
    pub session_id: &'a str,
    /// The device of a `/calls` socket; empty on the other namespaces.
    pub device_id: &'a str,
    pub edge_id: &'a str,
}

impl Caller<'_> {
    /// The caller's user id, as every request's `acting_user_id` carries it.
    fn user_id(&self) -> String {
        self.me.user_id.to_string()
    }
}

/// Puts a type's schema among the generator's definitions and gives the reference to it.
pub type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

/// A client event as the schema lists it: its names (the first as docs/API.md gives it,
/// then its aliases), its payload and its ack's `data`.
#[derive(Clone, Copy)]
pub struct Signature {
    pub names: &'static [&'static str],
    pub payload: SchemaFn,
    pub ack: SchemaFn,
}

impl Signature {
    /// An event whose payload reads as a `P` and whose ack's `data` is an `A`.
    pub fn of<P: JsonSchema, A: JsonSchema>(names: &'static [&'static str]) -> Self {
        Self {
            names,
            payload: SchemaGenerator::subschema_for::<P>,
            ack: SchemaGenerator::subschema_for::<A>,
        }
    }
}

type DecodeFn = dyn Fn(&Raw, &Caller<'_>) -> Decoded + Send + Sync;
type AnswerFn = dyn Fn(&Raw, &Caller<'_>, Backends) -> BoxFuture<'static, Result<Value, ApiError>>
    + Send
    + Sync;
/// Reports a failure to the socket, from the payload and the error.
type FailureFn = dyn Fn(&SocketRef, &Raw, &ApiError) + Send + Sync;

/// One client event of a namespace.
pub struct Event {
    signature: Signature,
    decode: Box<DecodeFn>,
    answer: Box<AnswerFn>,
    /// The type of the ack's `data`, which an echo must carry too (a test checks it).
    #[cfg(test)]
    ack_type: TypeId,
    /// The event that also carries the answer to the socket that asked (docs/API.md:
    /// "emits … to this socket").
    echo: Option<Echo>,
    /// For a send without an ack callback: what also reports its failure.
    failure: Option<Box<FailureFn>>,
}

/// The event an answer is echoed as, and the type of its payload (a test holds it to the
/// ack's: the echo emits the ack's `data`).
#[derive(Clone, Copy)]
struct Echo {
    event: ServerEvent<Value>,
    #[cfg(test)]
    payload_type: TypeId,
}

/// An event answered by one unary call: `build` makes the request from the payload `P`,
/// `call` sends it (with the unary deadline) and `render` makes the ack's `data` `D` of the
/// answer.
fn unary<P, R, A, D, Fut>(
    names: &'static [&'static str],
    build: impl Fn(P, &Caller<'_>) -> Result<R, ApiError> + Copy + Send + Sync + 'static,
    call: impl Fn(Backends, tonic::Request<R>) -> Fut + Copy + Send + Sync + 'static,
    render: impl Fn(A) -> D + Copy + Send + Sync + 'static,
) -> Event
where
    P: DeserializeOwned + JsonSchema,
    R: Debug + Send + 'static,
    D: Serialize + JsonSchema + 'static,
    Fut: Future<Output = Result<tonic::Response<A>, tonic::Status>> + Send + 'static,
{
    Event {
        signature: Signature::of::<P, D>(names),
        decode: Box::new(move |raw, caller| {
            let request = build(payload::parse(raw)?, caller)?;
            Ok(Box::new(request))
        }),
        answer: Box::new(move |raw, caller, backends| {
            let request = payload::parse(raw).and_then(|payload| build(payload, caller));
            let user = caller.me.user_id;
            Box::pin(async move {
                let request = backends.request_for(user, request?);
                let answer = call(backends, request).await?;
                ack_data(&render(answer.into_inner()))
            })
        }),
        #[cfg(test)]
        ack_type: TypeId::of::<D>(),
        echo: None,
        failure: None,
    }
}

/// The ack's `data` as it is sent (and echoed).
fn ack_data<D: Serialize>(data: &D) -> Result<Value, ApiError> {
    serde_json::to_value(data).map_err(|error| {
        tracing::error!(%error, "cannot serialize an answer");
        ApiError::new(ErrorCode::Internal, "internal error")
    })
}

impl Event {
    /// Also emits the answer as `event` to the socket that asked; `T` is the ack's type.
    fn echoed_as<T: 'static>(mut self, event: ServerEvent<T>) -> Self {
        self.echo = Some(Echo {
            event: event.carrying_json(),
            #[cfg(test)]
            payload_type: TypeId::of::<T>(),
        });
        self
    }

    /// Also reports a failure as `event`, with what `report` makes of the payload and the
    /// error, when the client sent no ack callback.
    fn failure_reported_as<F: Serialize + 'static>(
        mut self,
        event: ServerEvent<F>,
        report: fn(&Raw, &ApiError) -> F,
    ) -> Self {
        self.failure = Some(Box::new(move |socket, raw, error| {
            event.send(socket, &report(raw, error));
        }));
        self
    }
}

/// The `call` of an entry: the gRPC method `service.method` of the backends.
macro_rules! rpc {
    // A deployment may have no media-svc (`Backends::media`) or calls-svc
    // (`Backends::calls`).
    (media . $method:ident) => {
        |backends: crate::backends::Backends, request| async move {
            backends.media()?.$method(request).await
        }
    };
    (calls . $method:ident) => {
        |backends: crate::backends::Backends, request| async move {
            backends.calls()?.$method(request).await
        }
    };
    ($service:ident . $method:ident) => {
        |mut backends: crate::backends::Backends, request| async move {
            backends.$service.$method(request).await
        }
    };
}
use rpc;

/// An object without fields: the payload of events that need none (whatever the client
/// sends is ignored), and the ack `data` of events that answer nothing but success.
#[derive(Deserialize, Serialize, JsonSchema)]
struct NoFields {}

/// Ids as the services take them.
fn ids(ids: &[uuid::Uuid]) -> Vec<String> {
    ids.iter().map(uuid::Uuid::to_string).collect()
}

/// The ack `data` of events that answer nothing but success.
fn nothing<A>(_: A) -> NoFields {
    NoFields {}
}

/// The events of one namespace, by every name they answer to.
struct Table {
    events: Vec<Event>,
    by_name: HashMap<&'static str, usize>,
}

impl Table {
    fn new(events: Vec<Event>) -> Self {
        let by_name = events
            .iter()
            .enumerate()
            .flat_map(|(index, event)| {
                let names = event.signature.names.iter();
                names.map(move |name| (*name, index))
            })
            .collect();
        Self { events, by_name }
    }

    fn get(&self, name: &str) -> Option<&Event> {
        self.by_name
            .get(name)
            .and_then(|index| self.events.get(*index))
    }
}

static CHAT: LazyLock<Table> = LazyLock::new(|| {
    let events = chat::events().into_iter().chain(attachments::events());
    Table::new(events.collect())
});
static STATUS: LazyLock<Table> = LazyLock::new(|| Table::new(status::events()));
static FRIENDS: LazyLock<Table> = LazyLock::new(|| Table::new(friends::events()));
static CALLS: LazyLock<Table> = LazyLock::new(|| Table::new(calls::events()));

fn table(namespace: &str) -> Option<&'static Table> {
    match namespace {
        "/chat" => Some(&CHAT),
        "/status" => Some(&STATUS),
        "/friends" => Some(&FRIENDS),
        "/calls" => Some(&CALLS),
        _ => None,
    }
}

/// Every client event name of `namespace`, aliases included, in table order.
pub fn names(namespace: &str) -> Vec<&'static str> {
    table(namespace).map_or_else(Vec::new, |table| {
        table
            .events
            .iter()
            .flat_map(|event| event.signature.names.iter().copied())
            .collect()
    })
}

/// Every client event of `namespace` as the schema lists it, in table order, then
/// `auth-refresh`, which every namespace answers.
pub fn signatures(namespace: &str) -> Vec<Signature> {
    let Some(table) = table(namespace) else {
        return Vec::new();
    };
    let events = table.events.iter().map(|event| event.signature);
    events.chain([token_lifetime::signature()]).collect()
}

/// What the edge does with the payload of `event` on `namespace` before calling a backend;
/// `None` for an event the namespace does not have.
pub fn decode(namespace: &str, event: &str, raw: Raw, caller: &Caller<'_>) -> Option<Decoded> {
    let event = table(namespace)?.get(event)?;
    Some((event.decode)(&raw, caller))
}

/// Answers a client event of any namespace (every socket's one event handler): the ack
/// envelope, or the `error` event without an ack; an event the namespace does not have gets
/// a clear error, not silence.
pub async fn answer(
    reply: Reply,
    TryData(raw): TryData<Value>,
    Extension(me): Extension<Identity>,
    State(backends): State<Backends>,
    State(edge): State<EdgeId>,
    State(limits): State<EventLimits>,
    State(authenticator): State<Arc<Authenticator>>,
) {
    let socket = reply.socket().clone();
    let Some(event) = table(socket.ns()).and_then(|table| table.get(reply.event())) else {
        if reply.event() == REFRESH_EVENT {
            refresh_token(reply, raw, &me, &limits, &authenticator);
        } else {
            unknown_event(reply);
        }
        return;
    };
    let session = socket.extensions.get::<SessionId>();
    let device = socket.extensions.get::<DeviceId>();
    let caller = Caller {
        me: &me,
        socket_id: socket.id.as_str(),
        session_id: session.as_ref().map_or("", |session| &session.0),
        device_id: device.as_ref().map_or("", |device| &device.0),
        edge_id: &edge.0,
    };
    let span = event_span(&reply, &raw);
    // The payload is parsed before the call; it is kept during the call only for a failure
    // report, which repeats some of it.
    let answering = limit_of(&reply, &me, &limits)
        .map(|()| (event.answer)(&raw, &caller, backends).instrument(span.clone()));
    let report = event
        .failure
        .as_ref()
        .filter(|_| !reply.wants_ack())
        .map(|report| (report, raw));
    let outcome = match answering {
        Ok(answering) => answering.await,
        Err(limited) => Err(limited),
    };
    record_outcome(&span, &outcome);
    match (&outcome, event.echo, report) {
        (Ok(data), Some(echo), _) => echo.event.send(&socket, data),
        (Err(error), _, Some((report, raw))) => report(&socket, &raw, error),
        _ => {}
    }
    reply.send(outcome);
}

/// Takes the event from its user's allowance for its class (docs/API.md "Limits").
fn limit_of(reply: &Reply, me: &Identity, limits: &EventLimits) -> Result<(), ApiError> {
    match EventClass::of(reply.event()) {
        Some(class) => limits.check(class, me.user_id),
        None => Ok(()),
    }
}

/// `auth-refresh`, the one event of every namespace, answered by the edge itself.
fn refresh_token(
    reply: Reply,
    raw: Raw,
    me: &Identity,
    limits: &EventLimits,
    authenticator: &Authenticator,
) {
    let outcome = limit_of(&reply, me, limits)
        .and_then(|()| token_lifetime::refresh(raw, reply.socket(), me, authenticator));
    reply.send(outcome);
}

fn unknown_event(reply: Reply) {
    let reply = reply.unknown_event();
    let error = ApiError::new(
        ErrorCode::InvalidArgument,
        format!(
            "unknown event \"{}\" on namespace {}",
            reply.event(),
            reply.socket().ns()
        ),
    );
    reply.fail(&error);
}

/// The span of one client event: the root of its trace, and the parent of the gRPC calls it
/// makes (their trace context is taken from it). No payload content, no token.
fn event_span(reply: &Reply, raw: &Raw) -> tracing::Span {
    let room_id = raw.as_ref().ok().and_then(|payload| {
        payload
            .get("roomId")
            .or_else(|| payload.get("chatRoomId"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    });
    let span = tracing::info_span!(
        "socket.event",
        otel.name = reply.event(),
        otel.kind = "server",
        event = reply.event(),
        namespace = reply.socket().ns(),
        room_id = room_id.as_deref(),
        outcome = tracing::field::Empty,
        trace_id = tracing::field::Empty,
    );
    parley_common::propagation::record_trace_id(&span);
    span
}

/// Notes on the event's span how it ended: `OK` or the client-facing error code.
fn record_outcome<T>(span: &tracing::Span, outcome: &Result<T, ApiError>) {
    let code = outcome
        .as_ref()
        .map_or_else(|error| error.code.as_str(), |_| "OK");
    span.record("outcome", code);
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeSet;

    use serde_json::json;
    use uuid::Uuid;

    use super::*;
    use crate::namespaces::NAMESPACES;

    /// The user the events of these tests come from.
    pub(super) fn me() -> Identity {
        Identity {
            user_id: Uuid::from_u128(7),
            username: "me".into(),
            avatar: None,
            issued_at: None,
            expires_at: 0,
        }
    }

    /// What an entry's `build` makes of `payload` sent by [`me`], for the tests of each
    /// table that look into the request.
    pub(super) fn built<P: DeserializeOwned, R>(
        build: fn(P, &Caller<'_>) -> Result<R, ApiError>,
        payload: Value,
    ) -> Result<R, ApiError> {
        let me = me();
        let caller = Caller {
            me: &me,
            socket_id: "socket",
            session_id: "",
            device_id: "device",
            edge_id: "edge",
        };
        build(payload::parse(&Ok(payload))?, &caller)
    }

    /// The message of a refusal, which must be `INVALID_ARGUMENT`.
    pub(super) fn refusal<R: Debug>(outcome: Result<R, ApiError>) -> String {
        match outcome {
            Ok(request) => panic!("accepted as {request:?}"),
            Err(error) => {
                assert_eq!(error.code, ErrorCode::InvalidArgument, "{error:?}");
                error.message
            }
        }
    }

    fn decode_as_me(namespace: &str, event: &str, payload: Value) -> Option<Decoded> {
        let me = me();
        let caller = Caller {
            me: &me,
            socket_id: "socket",
            session_id: "session",
            device_id: "device",
            edge_id: "edge",
        };
        decode(namespace, event, Ok(payload), &caller)
    }

    fn chat(event: &str, payload: Value) -> Option<Decoded> {
        decode_as_me("/chat", event, payload)
    }

    #[test]
    fn every_protocol_event_has_a_decoder() {
        for namespace in NAMESPACES {
            for event in names(namespace) {
                let decoded = decode_as_me(namespace, event, Value::Null);
                assert!(decoded.is_some(), "{namespace} {event}");
            }
        }
        assert!(chat("update-status", Value::Null).is_none());
    }

    /// What `names_of` finds in each line of docs/API.md, gathered by the `## ` section the
    /// line is in (`/chat`, `/status`, ...).
    pub(crate) fn documented(
        names_of: impl Fn(&'static str) -> Vec<&'static str>,
    ) -> HashMap<String, BTreeSet<String>> {
        let api = include_str!("../../docs/API.md");
        let mut names: HashMap<String, BTreeSet<String>> = HashMap::new();
        let mut section = String::new();
        for line in api.lines() {
            if let Some(heading) = line.strip_prefix("## ") {
                section = heading.trim_matches('`').to_owned();
            } else {
                let found = names_of(line).into_iter().map(str::to_owned);
                names.entry(section.clone()).or_default().extend(found);
            }
        }
        names
    }

    /// The event names of each namespace's table in docs/API.md: the first cell of each row,
    /// where `a` / `b` lists aliases.
    fn documented_events() -> HashMap<String, BTreeSet<String>> {
        documented(|line| {
            let Some(row) = line.strip_prefix("| `") else {
                return Vec::new();
            };
            let first_cell = row.split(" |").next().unwrap_or_default();
            let names = first_cell.split(" / ").map(|name| name.trim_matches('`'));
            names.collect()
        })
    }

    #[test]
    fn the_tables_hold_the_events_of_docs_api_md() {
        let documented = documented_events();
        for namespace in NAMESPACES {
            let declared: BTreeSet<String> = names(namespace).into_iter().map(Into::into).collect();
            assert_eq!(
                Some(&declared),
                documented.get(namespace),
                "{namespace}: the table and docs/API.md list different events"
            );
        }
    }

    #[test]
    fn an_echo_carries_the_ack_data() {
        for namespace in NAMESPACES {
            for event in &table(namespace).expect("a namespace").events {
                if let Some(echo) = event.echo {
                    assert_eq!(
                        echo.payload_type,
                        event.ack_type,
                        "{namespace} {}: its echo {} is declared with another type",
                        event.signature.names[0],
                        echo.event.name()
                    );
                }
            }
        }
    }

    #[test]
    fn no_name_answers_two_events() {
        for namespace in NAMESPACES {
            let names = names(namespace);
            let unique: BTreeSet<_> = names.iter().collect();
            assert_eq!(unique.len(), names.len(), "{namespace}");
        }
    }

    #[test]
    fn a_message_goes_to_a_room_or_a_person_not_both() {
        let room = Uuid::from_u128(1);
        let both = json!({ "chatRoomId": room, "receiverId": room, "content": "hi" });
        let error = chat("send-message", both).and_then(Result::err);
        assert_eq!(
            error.map(|error| error.code),
            Some(ErrorCode::InvalidArgument)
        );
        let to_room = json!({ "chatRoomId": room, "content": "hi" });
        assert!(matches!(chat("send-message", to_room), Some(Ok(_))));
    }

    #[test]
    fn history_takes_at_most_one_cursor() {
        let room = Uuid::from_u128(1);
        let two = json!({ "roomId": room, "before": room, "offset": 3 });
        let error = chat("get-history", two).and_then(Result::err);
        assert_eq!(
            error.map(|error| error.message),
            Some("payload: give at most one of before, after and offset".to_owned())
        );
    }
}
