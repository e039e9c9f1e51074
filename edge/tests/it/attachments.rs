//! `/chat`'s attachment events at the edge while media-svc is down or not deployed: they
//! answer `UNAVAILABLE`, the socket and the rest of the system serve on, and `/readyz` says
//! which backend is missing. (With a running media-svc they are tested end to end elsewhere.)

use parley_edge::event_limits::EventLimitArgs;
use serde_json::{Value, json};

use crate::support::{
    SioClient, TestSystem,
    acks::{data, error_code},
    processes::free_port,
    system::{EdgeAuth, Timing},
    tokens::Person,
};

/// A payload of each event that goes to media-svc, valid for the edge.
fn media_calls(room: &Value) -> Vec<(&'static str, Value)> {
    let upload = json!({ "uploadId": "00000000-0000-4000-8000-0000000000aa" });
    vec![
        ("get-media-config", json!({})),
        (
            "create-upload",
            json!({ "chatRoomId": room, "name": "cat.png", "size": 1024, "contentType": "image/png" }),
        ),
        ("complete-upload", upload.clone()),
        ("cancel-upload", upload),
    ]
}

/// alice's `/chat` socket in a group room of her own; the room's id.
async fn alice_in_a_room(system: &TestSystem) -> (SioClient, Value) {
    let alice = system.connect(&Person::new("alice"), "/chat").await;
    let created = alice
        .call(
            "create-room",
            json!({ "name": "album", "isGroup": true, "memberIds": [] }),
        )
        .await;
    let room = data(created)["room"]["id"].clone();
    (alice, room)
}

async fn readiness(system: &TestSystem) -> (u16, Value) {
    let response = reqwest::get(format!("{}/readyz", system.edge_url()))
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn while_media_svc_is_down_uploads_answer_unavailable_and_the_socket_serves_on() {
    let system =
        TestSystem::spawn_with_media_at(&format!("http://127.0.0.1:{}", free_port())).await;
    let (mut alice, room) = alice_in_a_room(&system).await;

    for (event, payload) in media_calls(&room) {
        let ack = alice.call(event, payload).await;
        assert_eq!(error_code(&ack), "UNAVAILABLE", "{event}: {ack}");
    }
    // Without an ack callback the failure comes as the `error` event, naming the event.
    alice.emit("get-media-config", json!({})).await;
    let error = alice.next_event("error").await;
    assert_eq!(error["event"], "get-media-config", "{error}");
    assert_eq!(error["code"], "UNAVAILABLE", "{error}");

    // A malformed payload is refused before any backend is asked.
    let ack = alice
        .call(
            "create-upload",
            json!({ "chatRoomId": room, "name": "x", "size": -1 }),
        )
        .await;
    assert_eq!(error_code(&ack), "INVALID_ARGUMENT", "{ack}");
    assert!(
        ack["error"]["message"]
            .as_str()
            .is_some_and(|message| message.starts_with("size: ")),
        "{ack}"
    );

    // The same socket still chats.
    let sent = alice
        .call(
            "send-message",
            json!({ "chatRoomId": room, "content": "photos later" }),
        )
        .await;
    assert_eq!(data(sent)["message"]["content"], "photos later");
    let history = data(alice.call("get-history", json!({ "roomId": room })).await);
    assert_eq!(history["messages"][0]["content"], "photos later");
    assert!(
        history["messages"][0].get("attachments").is_none(),
        "a text message has no attachments: {history}"
    );

    let (status, body) = readiness(&system).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["backends"]["media"]
            .as_str()
            .is_some_and(|state| state.starts_with("UNAVAILABLE")),
        "{body}"
    );
    assert_eq!(body["backends"]["chat"], "SERVING", "{body}");
}

#[tokio::test]
async fn an_edge_without_media_svc_is_ready_and_answers_uploads_unavailable() {
    let system = TestSystem::spawn().await;
    let (alice, room) = alice_in_a_room(&system).await;

    for (event, payload) in media_calls(&room) {
        let ack = alice.call(event, payload).await;
        assert_eq!(error_code(&ack), "UNAVAILABLE", "{event}: {ack}");
    }

    let (status, body) = readiness(&system).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["backends"].get("media").is_none(), "{body}");
    let rooms = data(alice.call("list-rooms", json!({})).await);
    assert_eq!(rooms["rooms"][0]["id"], room);
}

#[tokio::test]
async fn uploads_have_a_rate_limit_of_their_own() {
    let system = TestSystem::spawn_with_timing(
        EdgeAuth::default(),
        Timing {
            edge_limits: EventLimitArgs {
                uploads: 3,
                ..EventLimitArgs::default()
            },
            ..Timing::default()
        },
    )
    .await;
    let (alice, room) = alice_in_a_room(&system).await;
    let upload = json!({ "uploadId": "00000000-0000-4000-8000-0000000000aa" });
    let mut codes = Vec::new();
    for event in [
        "create-upload",
        "complete-upload",
        "cancel-upload",
        "complete-upload",
    ] {
        let payload = match event {
            "create-upload" => json!({ "chatRoomId": room, "name": "a.txt", "size": 1 }),
            _ => upload.clone(),
        };
        codes.push(error_code(&alice.call(event, payload).await).to_owned());
    }
    // Three reach the (absent) media-svc; the fourth is stopped at the edge.
    assert_eq!(
        codes,
        ["UNAVAILABLE", "UNAVAILABLE", "UNAVAILABLE", "RATE_LIMITED"]
    );
    // Reading a room's attachments is not an upload: it is counted with history.
    let gallery = alice
        .call(
            "list-attachments",
            json!({ "roomId": room, "kind": "IMAGE" }),
        )
        .await;
    assert_ne!(gallery["error"]["code"], "RATE_LIMITED", "{gallery}");
}
