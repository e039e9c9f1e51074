//! Reading a client event's payload into a typed request, with errors that name the field.

use serde::de::DeserializeOwned;
use serde_json::Value;
use socketioxide::ParserError;

use crate::error::ApiError;

/// Deserializes an event's first argument.
///
/// A missing argument (or `null`) reads as `{}`, so events whose fields are all optional can
/// be sent bare. Anything else that is not an object, or whose fields do not fit, is
/// `INVALID_ARGUMENT` with the JSON path of the offending field. So is any text that holds
/// NUL (U+0000), in any field of any event: Postgres cannot store it, and refusing it here
/// keeps it from failing a whole batch of other people's writes (docs/API.md, "Wire
/// conventions").
///
/// The payload is borrowed, so that what the event reports of a failure can still read it.
pub fn parse<T: DeserializeOwned>(raw: &Result<Value, ParserError>) -> Result<T, ApiError> {
    let empty = Value::Object(serde_json::Map::new());
    let value = match raw {
        Ok(Value::Null) => &empty,
        Ok(value @ Value::Object(_)) => value,
        Ok(_) => return Err(ApiError::invalid("payload", "must be a JSON object")),
        Err(_) => return Err(ApiError::invalid("payload", "is not valid JSON data")),
    };
    if let Some(field) = text_with_nul(value, String::new()) {
        let field = if field.is_empty() {
            "payload".into()
        } else {
            field
        };
        return Err(ApiError::invalid(&field, "must not contain NUL (U+0000)"));
    }
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let field = if path == "." { "payload" } else { &path };
        ApiError::invalid(field, error.inner())
    })
}

/// The path (`content`, `rooms.<key>`, `userIds[2]`) of the first string, key or value,
/// that holds NUL.
fn text_with_nul(value: &Value, path: String) -> Option<String> {
    let join = |key: &str| {
        if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        }
    };
    match value {
        Value::String(text) => text.contains('\0').then_some(path),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(index, item)| text_with_nul(item, format!("{path}[{index}]"))),
        Value::Object(fields) => fields.iter().find_map(|(key, item)| {
            if key.contains('\0') {
                // The key itself is the offending text: name the object that holds it.
                return Some(if path.is_empty() {
                    "payload".into()
                } else {
                    path.clone()
                });
            }
            text_with_nul(item, join(key))
        }),
        Value::Null | Value::Bool(_) | Value::Number(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use serde::Deserialize;
    use serde_json::json;
    use uuid::Uuid;

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    #[allow(dead_code, reason = "only parsing is under test")]
    struct Example {
        room_id: Uuid,
        limit: Option<u32>,
    }

    #[test]
    fn a_wrong_type_names_the_field() {
        let error = parse::<Example>(&Ok(json!({"roomId": 5}))).expect_err("refused");
        assert_eq!(error.code, ErrorCode::InvalidArgument);
        assert!(error.message.starts_with("roomId: "), "{}", error.message);
    }

    #[test]
    fn a_missing_field_is_named() {
        let error = parse::<Example>(&Ok(json!({"limit": 3}))).expect_err("refused");
        assert!(error.message.contains("roomId"), "{}", error.message);
    }

    #[test]
    fn a_payload_that_is_not_an_object_is_refused() {
        let error = parse::<Example>(&Ok(json!("hello"))).expect_err("refused");
        assert_eq!(error.message, "payload: must be a JSON object");
    }

    #[test]
    fn no_payload_reads_as_an_empty_object() {
        #[derive(Deserialize)]
        struct AllOptional {
            #[allow(dead_code, reason = "only parsing is under test")]
            limit: Option<u32>,
        }
        assert!(parse::<AllOptional>(&Ok(Value::Null)).is_ok());
    }

    #[test]
    fn nul_in_any_text_is_refused_naming_the_field() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code, reason = "only parsing is under test")]
        struct Text {
            content: String,
        }
        let error = parse::<Text>(&Ok(json!({"content": "a\u{0}b"}))).expect_err("refused");
        assert_eq!(error.code, ErrorCode::InvalidArgument);
        assert_eq!(error.message, "content: must not contain NUL (U+0000)");

        // Unknown fields are ignored, but not when they carry what would fail downstream.
        let nested = json!({"content": "fine", "rooms": {"r": ["x", "\u{0}"]}});
        let error = parse::<Text>(&Ok(nested)).expect_err("refused");
        assert_eq!(error.message, "rooms.r[1]: must not contain NUL (U+0000)");

        let key = json!({"content": "fine", "rooms": {"\u{0}": 1}});
        let error = parse::<Text>(&Ok(key)).expect_err("refused");
        assert_eq!(error.message, "rooms: must not contain NUL (U+0000)");
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let id = Uuid::new_v4();
        let parsed = parse::<Example>(&Ok(json!({"roomId": id, "senderId": "someone else"})))
            .expect("accepted");
        assert_eq!(parsed.room_id, id);
    }
}
