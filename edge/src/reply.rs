//! Answering a client event: the ack envelope when the client passed a callback, the `error`
//! event when it did not (docs/API.md "Answers and errors").

use std::{convert::Infallible, sync::Arc};

use schemars::JsonSchema;
use serde::Serialize;
use socketioxide::handler::Value;
use socketioxide::{
    adapter::LocalAdapter,
    extract::{AckSender, Event, SocketRef},
    handler::FromMessageParts,
    socket::Socket,
};

use crate::{error::ApiError, server_events::every::ERROR};

/// The answer channel of one client event; an extractor for event handlers.
pub struct Reply {
    socket: SocketRef,
    ack: AckSender,
    event: String,
    /// The event's label in metrics; `unknown` for names no handler knows, so that clients
    /// cannot grow the metric series without bound.
    metric_label: String,
    wants_ack: bool,
}

#[derive(Serialize)]
struct Success<'a, T: Serialize> {
    ok: bool,
    data: &'a T,
}

#[derive(Serialize)]
struct Failure<'a> {
    ok: bool,
    error: &'a ApiError,
}

/// The `error` event: the failure of an event sent without an ack callback, with the ack's
/// error fields beside the name of the event.
#[derive(Debug, Serialize, JsonSchema)]
pub struct EventError {
    /// The client event that failed, or `auth` for a token that expired.
    pub event: String,
    #[serde(flatten)]
    pub error: ApiError,
}

impl EventError {
    /// The `error` event reporting `error` of the client event `event`.
    pub fn of(event: &str, error: &ApiError) -> Self {
        Self {
            event: event.to_owned(),
            error: error.clone(),
        }
    }
}

impl Reply {
    /// The client event this answers.
    pub fn event(&self) -> &str {
        &self.event
    }

    /// Counts this event under `unknown` in metrics: its name came from the client and names
    /// no handler.
    pub fn unknown_event(mut self) -> Self {
        self.metric_label = "unknown".to_owned();
        self
    }

    /// Whether the client passed an ack callback.
    pub fn wants_ack(&self) -> bool {
        self.wants_ack
    }

    /// The socket the event came from.
    pub fn socket(&self) -> &SocketRef {
        &self.socket
    }

    /// Sends the outcome: `{ ok: true, data }` or `{ ok: false, error }` through the ack, or,
    /// without an ack callback, a failure as the `error` event (success needs no answer then).
    pub fn send<T: Serialize>(self, outcome: Result<T, ApiError>) {
        match outcome {
            Ok(data) => self.ok(&data),
            Err(error) => self.fail(&error),
        }
    }

    pub fn ok<T: Serialize>(self, data: &T) {
        crate::metrics::event_handled(&self.metric_label, "OK");
        self.acknowledge(&Success { ok: true, data });
    }

    pub fn fail(self, error: &ApiError) {
        crate::metrics::event_handled(&self.metric_label, error.code.as_str());
        if self.wants_ack {
            self.acknowledge(&Failure { ok: false, error });
            return;
        }
        let event = EventError::of(&self.event, error);
        if let Err(send_error) = ERROR.emit(&self.socket, &event) {
            tracing::debug!(%send_error, event = self.event, "cannot emit an error event");
        }
    }

    fn acknowledge<T: Serialize>(self, envelope: &T) {
        if let Err(send_error) = self.ack.send(envelope) {
            tracing::debug!(%send_error, event = self.event, "cannot send an ack");
        }
    }
}

impl FromMessageParts<LocalAdapter> for Reply {
    type Error = Infallible;

    fn from_message_parts(
        socket: &Arc<Socket<LocalAdapter>>,
        value: &mut Value,
        ack_id: &Option<i64>,
    ) -> Result<Self, Infallible> {
        let event = Event::from_message_parts(socket, value, ack_id)
            .map(|Event(name)| name)
            .unwrap_or_default();
        Ok(Self {
            socket: SocketRef::from_message_parts(socket, value, ack_id)?,
            ack: AckSender::from_message_parts(socket, value, ack_id)?,
            metric_label: event.clone(),
            event,
            wants_ack: ack_id.is_some(),
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::error::{ErrorCode, Quota};

    #[test]
    fn an_error_event_carries_the_quota_as_the_ack_does() {
        let mut error = ApiError::new(ErrorCode::QuotaExceeded, "storage quota reached");
        error.quota = Some(Quota {
            limit_bytes: 100,
            used_bytes: 90,
        });
        assert_eq!(
            serde_json::to_value(EventError::of("create-upload", &error)).expect("serializes"),
            json!({
                "event": "create-upload",
                "code": "QUOTA_EXCEEDED",
                "message": "storage quota reached",
                "limitBytes": 100,
                "usedBytes": 90,
            })
        );
    }
}
