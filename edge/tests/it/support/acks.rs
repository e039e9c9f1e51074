//! Reading acks, and the friendship most scenarios start from.

use serde_json::{Value, json};

use super::{SioClient, TestSystem, tokens::Person};

/// The `data` of a successful ack; fails the test on an error ack.
pub fn data(ack: Value) -> Value {
    assert_eq!(ack["ok"], json!(true), "{ack}");
    ack["data"].clone()
}

/// The code of a failed ack; fails the test on a successful one.
pub fn error_code(ack: &Value) -> &str {
    assert_eq!(ack["ok"], json!(false), "{ack}");
    ack["error"]["code"].as_str().unwrap_or_default()
}

/// `a` asks, `b` accepts, on their `/friends` sockets.
pub async fn befriend_on(a: &SioClient, b: &SioClient, b_person: &Person) {
    let sent = data(
        a.call("send-friend-request", json!({ "userId": b_person.id }))
            .await,
    );
    data(
        b.call(
            "accept-friend-request",
            json!({ "requestId": sent["request"]["id"] }),
        )
        .await,
    );
}

/// Makes `a` and `b` friends through sockets of their own.
pub async fn befriend(system: &TestSystem, a: &Person, b: &Person) {
    let a_socket = system.connect(a, "/friends").await;
    let b_socket = system.connect(b, "/friends").await;
    befriend_on(&a_socket, &b_socket, b).await;
}
