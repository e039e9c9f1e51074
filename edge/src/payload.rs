//! Reading a client event's payload into a typed request, with errors that name the field.

use serde::de::DeserializeOwned;
use serde_json::Value;
use socketioxide::ParserError;

use crate::error::ApiError;

/// Deserializes an event's first argument.
///
/// A missing argument (or `null`) reads as `{}`, so events whose fields are all optional can
/// be sent bare. Anything else that is not an object, or whose fields do not fit, is
/// `INVALID_ARGUMENT` with the JSON path of the offending field.
pub fn parse<T: DeserializeOwned>(raw: Result<Value, ParserError>) -> Result<T, ApiError> {
    let value = match raw {
        Ok(Value::Null) => Value::Object(serde_json::Map::new()),
        Ok(value @ Value::Object(_)) => value,
        Ok(_) => return Err(ApiError::invalid("payload", "must be a JSON object")),
        Err(_) => return Err(ApiError::invalid("payload", "is not valid JSON data")),
    };
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let field = if path == "." { "payload" } else { &path };
        ApiError::invalid(field, error.inner())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use parley_common::ErrorCode;
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
        let error = parse::<Example>(Ok(json!({"roomId": 5}))).expect_err("refused");
        assert_eq!(error.code, ErrorCode::InvalidArgument);
        assert!(error.message.starts_with("roomId: "), "{}", error.message);
    }

    #[test]
    fn a_missing_field_is_named() {
        let error = parse::<Example>(Ok(json!({"limit": 3}))).expect_err("refused");
        assert!(error.message.contains("roomId"), "{}", error.message);
    }

    #[test]
    fn a_payload_that_is_not_an_object_is_refused() {
        let error = parse::<Example>(Ok(json!("hello"))).expect_err("refused");
        assert_eq!(error.message, "payload: must be a JSON object");
    }

    #[test]
    fn no_payload_reads_as_an_empty_object() {
        #[derive(Deserialize)]
        struct AllOptional {
            #[allow(dead_code, reason = "only parsing is under test")]
            limit: Option<u32>,
        }
        assert!(parse::<AllOptional>(Ok(Value::Null)).is_ok());
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let id = Uuid::new_v4();
        let parsed = parse::<Example>(Ok(json!({"roomId": id, "senderId": "someone else"})))
            .expect("accepted");
        assert_eq!(parsed.room_id, id);
    }
}
