//! The client protocol as one JSON Schema document (`edge schema`), read from the edge's own
//! types: each namespace's client events (payload, ack `data`, aliases) from the event
//! tables, its server events from their declarations, the error codes from the one
//! error-code table. The TypeScript SDK generates its types from it
//! (`clients/js/protocol/schema.json`, committed; a test fails when it is stale).
//!
//! Payloads are read, acks and events are written, and serde treats the two differently: an
//! `Option` field may be missing from a payload, while one written without
//! `skip_serializing_if` is always there, maybe `null`. So payloads come from a generator
//! with the deserialize contract and everything else from one with the serialize contract;
//! a type both use must come out the same from both.

use schemars::{Schema, SchemaGenerator, generate::SchemaSettings};
use serde_json::{Map, Value, json};

use crate::{client_events, error::ApiError, error_code::ErrorCode, namespaces::NAMESPACES};

/// The path of the committed document in the repository, and how to write it again.
pub const COMMITTED_PATH: &str = "clients/js/protocol/schema.json";
pub const REGENERATE: &str = "cargo run --bin edge -- schema > clients/js/protocol/schema.json";

/// Why the document cannot be made: two types that the TypeScript side would see under one
/// name.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error(
        "the type {0} is read and written with different schemas: give the two their own types"
    )]
    ContractsDiffer(String),
    #[error("two types are named {0} (schemars numbered one): rename one")]
    NameTaken(String),
}

/// The schema of a field that serde leaves out when it is `None` (`skip_serializing_if`),
/// for `#[schemars(transform = absent_not_null)]`: the value without its `null`, since the
/// field is absent rather than `null` (schemars already makes it optional).
pub(crate) fn absent_not_null(schema: &mut Schema) {
    let Some(object) = schema.as_object_mut() else {
        return;
    };
    // `Option` of a scalar: `"type": ["string", "null"]`.
    if let Some(Value::Array(types)) = object.get_mut("type") {
        types.retain(|kind| kind != "null");
        if let [kind] = types.as_slice() {
            let kind = kind.clone();
            object.insert("type".to_owned(), kind);
        }
    }
    // `Option` of a named type: `"anyOf": [{ "$ref": … }, { "type": "null" }]`.
    if let Some(Value::Array(options)) = object.get_mut("anyOf") {
        options.retain(|option| *option != json!({ "type": "null" }));
        if let [Value::Object(only)] = options.as_slice() {
            let only = only.clone();
            object.remove("anyOf");
            object.extend(only);
        }
    }
}

/// The document, pretty-printed with a final newline; the same bytes on every run (keys
/// sorted, lists in table order).
pub fn render() -> Result<String, SchemaError> {
    let document = document()?;
    // A `Value` always serializes.
    let text = serde_json::to_string_pretty(&document).unwrap_or_default();
    Ok(text + "\n")
}

/// The document of docs/API.md's client protocol.
pub fn document() -> Result<Value, SchemaError> {
    let settings = SchemaSettings::draft2020_12();
    let meta_schema = settings.meta_schema.clone();
    let mut read = settings.clone().for_deserialize().into_generator();
    let mut written = settings.for_serialize().into_generator();

    let mut namespaces = Map::new();
    for namespace in NAMESPACES {
        let mut client_events = Map::new();
        for signature in client_events::signatures(namespace) {
            let Some((name, aliases)) = signature.names.split_first() else {
                continue;
            };
            let event = json!({
                "payload": (signature.payload)(&mut read),
                "ack": (signature.ack)(&mut written),
                "aliases": aliases,
            });
            client_events.insert((*name).to_owned(), event);
        }
        let mut server_events = Map::new();
        for declared in crate::server_events::of(namespace) {
            let payload = (declared.payload)(&mut written);
            server_events.insert(declared.name.to_owned(), payload.to_value());
        }
        let events = json!({ "clientEvents": client_events, "serverEvents": server_events });
        namespaces.insert(namespace.to_owned(), events);
    }
    // The `error` of every failed ack, which no event names on its own.
    written.subschema_for::<ApiError>();

    Ok(json!({
        "$schema": meta_schema,
        "title": "Parley client protocol",
        "namespaces": namespaces,
        "errorCodes": ErrorCode::names(),
        "$defs": definitions(read, written)?,
    }))
}

/// The definitions of both generators under one name each.
fn definitions(
    mut read: SchemaGenerator,
    mut written: SchemaGenerator,
) -> Result<Map<String, Value>, SchemaError> {
    let mut definitions = read.take_definitions(true);
    for (name, schema) in written.take_definitions(true) {
        match definitions.get(&name) {
            Some(other) if *other != schema => return Err(SchemaError::ContractsDiffer(name)),
            _ => {
                definitions.insert(name, schema);
            }
        }
    }
    // schemars names the second of two types with one name `Name2`; none of ours ends in a
    // digit, so such a name is a clash.
    if let Some(numbered) = definitions
        .keys()
        .find(|name| name.ends_with(|c: char| c.is_ascii_digit()))
    {
        return Err(SchemaError::NameTaken(numbered.clone()));
    }
    Ok(definitions)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document() -> Value {
        super::document().unwrap_or_else(|error| panic!("{error}"))
    }

    #[test]
    fn the_committed_schema_is_what_the_code_produces() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../clients/js/protocol/schema.json"
        );
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        let produced = render().unwrap_or_else(|error| panic!("{error}"));
        let first_difference = committed
            .lines()
            .zip(produced.lines())
            .position(|(committed, produced)| committed != produced)
            .map_or_else(
                || "its length".to_owned(),
                |index| format!("line {}", index + 1),
            );
        assert!(
            committed == produced,
            "{COMMITTED_PATH} is not what `edge schema` produces (first at {first_difference}): \
             regenerate it with `{REGENERATE}` and commit it"
        );
    }

    #[test]
    fn the_document_is_the_same_on_every_run() {
        assert_eq!(render().ok(), render().ok());
    }

    /// The schema at `pointer` in `document`, following a `$ref` to `$defs`.
    fn at<'a>(document: &'a Value, pointer: &str) -> &'a Value {
        let schema = document
            .pointer(pointer)
            .unwrap_or_else(|| panic!("no {pointer}"));
        match schema.get("$ref").and_then(Value::as_str) {
            Some(reference) => at(document, reference.trim_start_matches('#')),
            None => schema,
        }
    }

    fn required(schema: &Value) -> Vec<&str> {
        let required = schema.get("required").and_then(Value::as_array);
        required
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect()
    }

    #[test]
    fn every_namespace_has_auth_refresh_error_and_probe() {
        let document = document();
        for namespace in NAMESPACES {
            let base = format!("/namespaces/{}", namespace.replace('/', "~1"));
            let refresh = at(
                &document,
                &format!("{base}/clientEvents/auth-refresh/payload"),
            );
            assert_eq!(required(refresh), ["token"], "{namespace}");
            let refreshed = at(&document, &format!("{base}/clientEvents/auth-refresh/ack"));
            assert_eq!(required(refreshed), ["expiresAt"], "{namespace}");
            for event in ["error", "probe"] {
                assert!(
                    document
                        .pointer(&format!("{base}/serverEvents/{event}"))
                        .is_some(),
                    "{namespace} {event}"
                );
            }
        }
    }

    #[test]
    fn payload_options_may_be_left_out_and_written_options_are_null_or_absent() {
        let document = document();
        // Read: an `Option` field may be missing.
        let send = at(
            &document,
            "/namespaces/~1chat/clientEvents/send-message/payload",
        );
        assert!(required(send).is_empty(), "{send}");
        let history = at(
            &document,
            "/namespaces/~1chat/clientEvents/get-history/payload",
        );
        assert_eq!(required(history), ["roomId"]);
        // Written: `null` when it has no value, or left out when it skips serializing.
        let user = at(&document, "/$defs/User");
        assert_eq!(required(user), ["id", "username", "avatar"]);
        let avatar = user.pointer("/properties/avatar/type");
        assert_eq!(avatar, Some(&json!(["string", "null"])));
        let message = at(&document, "/$defs/Message");
        assert!(required(message).contains(&"timestamp"));
        for absent in [
            "editedAt",
            "replyToId",
            "attachments",
            "senderBlocked",
            "call",
        ] {
            assert!(!required(message).contains(&absent), "{absent}");
        }
        // Left out when `None`, so never `null`.
        let edited_at = message.pointer("/properties/editedAt");
        assert_eq!(edited_at, Some(&json!({ "type": "string" })));
        let call = message.pointer("/properties/call/$ref");
        assert_eq!(call, Some(&json!("#/$defs/CallLog")));
        // A flattened `Option` leaves its fields out together; a `null` inside stays.
        let accepted = at(
            &document,
            "/namespaces/~1calls/clientEvents/call-accept/ack",
        );
        assert_eq!(required(accepted), ["call", "candidates"]);
        let expires_at = accepted.pointer("/properties/expiresAt/type");
        assert_eq!(expires_at, Some(&json!(["string", "null"])));
    }

    #[test]
    fn ids_are_uuids_and_enums_string_unions() {
        let document = document();
        let message = at(&document, "/$defs/Message");
        assert_eq!(
            message.pointer("/properties/id/format"),
            Some(&json!("uuid"))
        );
        let by_room = at(
            &document,
            "/namespaces/~1chat/clientEvents/get-room/payload",
        );
        assert_eq!(
            by_room.pointer("/properties/roomId/format"),
            Some(&json!("uuid"))
        );
        let state = at(&document, "/$defs/CallState");
        assert_eq!(state.get("type"), Some(&json!("string")));
        assert_eq!(
            state.get("enum"),
            Some(&json!(["RINGING", "CONNECTING", "ACTIVE", "ENDED"]))
        );
    }

    #[test]
    fn the_error_codes_are_the_error_code_table() {
        let document = document();
        let codes = document.get("errorCodes").and_then(Value::as_array);
        let codes: Vec<&str> = codes
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        for code in [
            ErrorCode::InvalidArgument,
            ErrorCode::QuotaExceeded,
            ErrorCode::Internal,
        ] {
            assert!(codes.contains(&code.as_str()), "{code}");
        }
        let error = at(&document, "/$defs/ApiError");
        assert_eq!(required(error), ["code", "message"]);
    }

    #[test]
    fn aliases_follow_the_first_name() {
        let document = document();
        let join = at(&document, "/namespaces/~1chat/clientEvents/join-room");
        assert_eq!(join.get("aliases"), Some(&json!(["join-user"])));
        assert!(
            document
                .pointer("/namespaces/~1chat/clientEvents/join-user")
                .is_none()
        );
    }
}
