//! What the payload targets share: reading an input as one client event, and what must hold of
//! whatever the edge makes of its payload.

use parley_edge::{
    auth::Identity,
    fuzzing::{Caller, Decoded, ParserError, decode, names},
};
use serde_json::Value;
use uuid::Uuid;

/// Runs one input as a client event of `namespace` through the edge's decoding, and checks
/// what it makes of it.
pub fn fuzz_event(namespace: &str, data: &[u8]) {
    let events = names(namespace);
    let Some((event, raw)) = event(data, &events) else {
        return;
    };
    let me = me();
    let caller = Caller {
        me: &me,
        socket_id: "fuzz-socket",
        session_id: "fuzz-session",
        device_id: "fuzz-device",
        edge_id: "fuzz-edge",
    };
    check(event, decode(namespace, event, raw, &caller), &me);
}

/// The user every event comes from (the token's `sub`).
fn me() -> Identity {
    Identity {
        user_id: Uuid::from_u128(0x0b0e_5f5c_0000_4000_8000_0000_0000_0001),
        username: "fuzz".into(),
        avatar: None,
        issued_at: None,
        expires_at: u64::MAX,
    }
}

/// Reads an input as one event of a namespace: its first byte picks the event, the rest is the
/// event's argument as the handler receives it: nothing is no argument (`null`), and bytes that
/// are not JSON are the parser's error.
fn event<'a>(data: &[u8], events: &[&'a str]) -> Option<(&'a str, Result<Value, ParserError>)> {
    let (selector, payload) = data.split_first()?;
    let event = events.get(usize::from(*selector) % events.len())?;
    let raw = if payload.is_empty() {
        Ok(Value::Null)
    } else {
        serde_json::from_slice(payload).map_err(ParserError::new)
    };
    Some((event, raw))
}

/// What must hold whatever the payload: the edge knows the event, a request it builds acts as
/// the caller (never as someone a payload names), and a refusal is `INVALID_ARGUMENT` naming
/// the field at fault.
fn check(event: &str, decoded: Option<Decoded>, me: &Identity) {
    let Some(decoded) = decoded else {
        panic!("the edge has no decoder for {event:?}, an event of docs/API.md");
    };
    match decoded {
        Ok(request) => {
            let shown = format!("{request:?}");
            let acting = format!("acting_user_id: \"{}\"", me.user_id);
            // calls-svc's requests name the actor as a device of the caller.
            let actor = format!("actor: Some(Device {{ user_id: \"{}\"", me.user_id);
            assert!(
                shown.contains(&acting) || shown.contains(&actor),
                "{event}: {shown} does not act as the caller"
            );
        }
        Err(error) => {
            assert_eq!(
                error.code.as_str(),
                "INVALID_ARGUMENT",
                "{event}: {error:?}"
            );
            assert!(
                error.message.contains(": "),
                "{event}: no field named in {error:?}"
            );
        }
    }
}
