//! A token is good for its lifetime, not the socket's: the official client's socket is told
//! and closed when its token expires, reconnects with the token its `auth` callback returns,
//! and keeps going past the first token's expiry with `auth-refresh`.

use serde_json::{Value, json};

use crate::{
    official_client::run_script,
    support::{
        TestSystem,
        tokens::{Person, claims, hs256, now},
    },
};

/// A token of `person` that expires in `seconds` (the test edges allow no leeway).
fn expiring_in(person: &Person, seconds: i64) -> String {
    let mut claims = claims(&person.name);
    claims["sub"] = json!(person.id);
    claims["exp"] = json!(now() + seconds);
    hs256(&claims)
}

#[tokio::test]
async fn a_socket_whose_token_expired_is_told_and_closed_and_reconnects_with_a_fresh_one() {
    let system = TestSystem::spawn().await;
    let alice = Person::new("alice");
    // The official client's default (long-polling, then WebSocket), and long-polling alone.
    for transports in [Value::Null, json!(["polling"])] {
        let plan = json!({
            "url": system.edge_url(),
            "scenario": "expiry",
            "shortToken": expiring_in(&alice, 2),
            "freshToken": alice.token,
            "transports": transports,
        });
        let report = run_script("door.mjs", plan).await;
        check_expired_and_reconnected(&report);
    }
}

fn check_expired_and_reconnected(report: &Value) {
    let errors = report["errors"].as_array().unwrap();
    assert_eq!(
        errors
            .first()
            .map(|error| (&error["event"], &error["code"])),
        Some((&json!("auth"), &json!("UNAUTHENTICATED"))),
        "{report}"
    );
    // A closed transport, which the official client recovers from by itself (a Socket.IO
    // DISCONNECT would be `io server disconnect`, after which it stays away).
    assert_eq!(report["disconnect"]["event"], "disconnect", "{report}");
    let reason = report["disconnect"]["payload"].as_str().unwrap();
    assert!(
        ["transport close", "transport error"].contains(&reason),
        "{report}"
    );
    assert_eq!(report["reconnected"], true, "{report}");
    assert_eq!(report["tokensHandedOver"], 2, "{report}");
    assert_eq!(report["ack"]["ok"], true, "{report}");
}

#[tokio::test]
async fn auth_refresh_keeps_a_socket_past_its_first_token_and_takes_only_its_users_tokens() {
    let system = TestSystem::spawn().await;
    let (alice, mallory) = (Person::new("alice"), Person::new("mallory"));
    let plan = json!({
        "url": system.edge_url(),
        "scenario": "refresh",
        "shortToken": expiring_in(&alice, 2),
        "freshToken": alice.token,
        "otherUserToken": mallory.token,
        "waitMs": 5000,
    });

    let report = run_script("door.mjs", plan).await;

    assert_eq!(report["refreshed"]["ok"], true, "{report}");
    let expires_at = report["refreshed"]["data"]["expiresAt"].as_str().unwrap();
    let expires_at = chrono::DateTime::parse_from_rfc3339(expires_at).unwrap();
    assert!(expires_at.timestamp() > now() + 3000, "{report}");
    assert_eq!(
        report["otherUser"]["error"]["code"], "PERMISSION_DENIED",
        "{report}"
    );
    assert_eq!(
        report["garbage"]["error"]["code"], "UNAUTHENTICATED",
        "{report}"
    );
    // Five seconds later, past the first token's expiry, the socket is still served.
    assert_eq!(report["outcome"], "timeout", "{report}");
    assert_eq!(report["errors"], Value::Array(vec![]), "{report}");
    assert_eq!(report["ack"]["ok"], true, "{report}");
}
