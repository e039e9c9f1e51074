//! The answer to every client event: the ack envelope, or the `error` event without an ack.

use serde_json::{Value, json};

use crate::support::{
    SioClient, TestSystem,
    tokens::{claims, hs256},
};

#[tokio::test]
async fn an_unknown_event_with_an_ack_gets_a_failure_envelope() {
    let system = TestSystem::spawn().await;
    let client = SioClient::connect(&system.edge_url(), "/chat", Some(&hs256(&claims("alice"))))
        .await
        .unwrap();

    let ack = client.call("no-such-event", json!({})).await;

    assert_eq!(ack["ok"], json!(false));
    assert_eq!(ack["error"]["code"], json!("INVALID_ARGUMENT"));
    let message = ack["error"]["message"].as_str().unwrap();
    assert!(message.contains("no-such-event"), "{message}");
    assert!(ack.get("data").is_none());
}

#[tokio::test]
async fn a_failure_without_an_ack_is_emitted_as_an_error_event() {
    let system = TestSystem::spawn().await;
    let mut client = SioClient::connect(
        &system.edge_url(),
        "/friends",
        Some(&hs256(&claims("alice"))),
    )
    .await
    .unwrap();

    client.emit("no-such-event", json!({"x": 1})).await;

    let error = client.next_event("error").await;
    assert_eq!(error["event"], json!("no-such-event"));
    assert_eq!(error["code"], json!("INVALID_ARGUMENT"));
    assert!(error["message"].as_str().is_some());
}

#[tokio::test]
async fn a_failure_leaves_the_connection_usable() {
    let system = TestSystem::spawn().await;
    let client = SioClient::connect(
        &system.edge_url(),
        "/status",
        Some(&hs256(&claims("alice"))),
    )
    .await
    .unwrap();

    for payload in [
        json!(null),
        json!("text"),
        json!([1, 2]),
        json!({"deep": {"er": [1]}}),
    ] {
        let ack = client.call("no-such-event", payload).await;
        assert_eq!(ack["ok"], json!(false));
    }
    let ack = client.call_with_args("no-such-event", vec![]).await;
    assert_eq!(ack["error"]["code"], Value::from("INVALID_ARGUMENT"));
}
