//! `/calls` on the edge (docs/API.md "`/calls`"): the handshake's `deviceId`, the checks
//! every payload passes before calls-svc sees it, the per-user limits, and a deployment
//! without calls-svc.

use std::time::Duration;

use serde_json::{Value, json};
use uuid::Uuid;

use parley_edge::event_limits::EventLimitArgs;

use crate::support::{
    SioClient, TestSystem,
    acks::error_code,
    system::{EdgeAuth, Timing},
    tokens::Person,
};

fn offer() -> Value {
    json!({ "type": "offer", "sdp": "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n" })
}

fn candidate() -> Value {
    json!({
        "candidate": "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host",
        "sdpMid": "0",
        "sdpMLineIndex": 0,
    })
}

async fn connect_device(
    system: &TestSystem,
    person: &Person,
    device: Value,
) -> Result<SioClient, String> {
    let auth = json!({ "token": person.token, "deviceId": device });
    SioClient::connect_with_auth(&system.edge_url(), "/calls", auth).await
}

#[tokio::test]
async fn a_device_id_outside_the_grammar_refuses_the_connect_with_invalid_argument() {
    let system = TestSystem::spawn().await;
    let alice = Person::new("alice");
    for bad in [
        json!(""),
        json!("a b"),
        json!("x".repeat(65)),
        json!(42),
        json!("ü"),
    ] {
        let refusal = connect_device(&system, &alice, bad.clone()).await.err();
        assert_eq!(refusal.as_deref(), Some("INVALID_ARGUMENT"), "{bad}");
    }
    // The token is checked first: a bad token with a bad device is UNAUTHENTICATED.
    let auth = json!({ "token": "nope", "deviceId": "" });
    let refusal = SioClient::connect_with_auth(&system.edge_url(), "/calls", auth).await;
    assert_eq!(refusal.err().as_deref(), Some("UNAUTHENTICATED"));
    // Only `/calls` reads the device: the other namespaces ignore it.
    let auth = json!({ "token": alice.token, "deviceId": "a b" });
    assert!(
        SioClient::connect_with_auth(&system.edge_url(), "/chat", auth)
            .await
            .is_ok()
    );
    // A good device, and none at all, are let in.
    assert!(
        connect_device(&system, &alice, json!("laptop-1.a_b~c"))
            .await
            .is_ok()
    );
    assert!(connect_device(&system, &alice, Value::Null).await.is_ok());
}

#[tokio::test]
async fn without_calls_svc_every_call_event_is_unavailable_and_readyz_does_not_wait_for_it() {
    let system = TestSystem::spawn().await;
    let alice = Person::new("alice");
    let mut calls = connect_device(&system, &alice, json!("phone"))
        .await
        .unwrap();
    // No calls-svc: no `calls-state` either.
    calls
        .no_event("calls-state", Duration::from_millis(300))
        .await;
    for (event, payload) in [
        ("get-ice-servers", json!({})),
        ("list-calls", json!({})),
        (
            "call-invite",
            json!({ "receiverId": Uuid::new_v4(), "media": "AUDIO", "offer": offer() }),
        ),
        ("call-hangup", json!({ "callId": Uuid::new_v4() })),
    ] {
        let ack = calls.call(event, payload).await;
        assert_eq!(error_code(&ack), "UNAVAILABLE", "{event}: {ack}");
    }
    let readiness: Value = reqwest::get(format!("{}/readyz", system.edge_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(readiness["ready"], json!(true), "{readiness}");
    assert!(readiness["backends"].get("calls").is_none(), "{readiness}");
}

#[tokio::test]
async fn malformed_call_payloads_are_invalid_argument_and_the_socket_stays_healthy() {
    // More invites than a minute allows: the limits, tested below, are off here.
    let timing = Timing {
        edge_limits: EventLimitArgs::off(),
        ..Timing::default()
    };
    let system = TestSystem::spawn_with_timing(EdgeAuth::default(), timing).await;
    let alice = Person::new("alice");
    let calls = connect_device(&system, &alice, json!("phone"))
        .await
        .unwrap();
    let call_id = Uuid::new_v4();
    let receiver = Uuid::new_v4();
    let big_sdp = json!({ "type": "offer", "sdp": "a".repeat(32 * 1024 + 1) });
    let big_candidate = json!({ "candidate": "c".repeat(1025) });
    let cases = [
        ("call-invite", json!({ "media": "AUDIO", "offer": offer() })),
        (
            "call-invite",
            json!({ "receiverId": receiver, "roomId": receiver, "media": "AUDIO", "offer": offer() }),
        ),
        (
            "call-invite",
            json!({ "receiverId": "not-a-uuid", "media": "AUDIO", "offer": offer() }),
        ),
        (
            "call-invite",
            json!({ "receiverId": receiver, "media": "SCREEN", "offer": offer() }),
        ),
        (
            "call-invite",
            json!({ "receiverId": receiver, "media": "AUDIO", "offer": { "type": "answer", "sdp": "v=0" } }),
        ),
        (
            "call-invite",
            json!({ "receiverId": receiver, "media": "AUDIO", "offer": big_sdp }),
        ),
        (
            "call-invite",
            json!({ "receiverId": receiver, "media": "AUDIO" }),
        ),
        ("call-invite", json!("hello")),
        (
            "call-accept",
            json!({ "callId": call_id, "answer": { "type": "offer", "sdp": "v=0" } }),
        ),
        ("call-accept", json!({ "callId": call_id })),
        ("call-decline", json!({ "callId": 5 })),
        ("call-ice", json!({ "callId": call_id, "candidates": [] })),
        (
            "call-ice",
            json!({ "callId": call_id, "candidates": vec![candidate(); 21] }),
        ),
        (
            "call-ice",
            json!({ "callId": call_id, "candidates": [big_candidate] }),
        ),
        (
            "call-ice",
            json!({ "callId": call_id, "candidates": [{ "sdpMid": "0" }] }),
        ),
        (
            "call-negotiate",
            json!({ "callId": call_id, "description": { "type": "pranswer", "sdp": "v=0" } }),
        ),
        (
            "call-negotiate",
            json!({ "callId": call_id, "description": { "type": "offer", "sdp": "" } }),
        ),
        ("call-connected", json!({})),
        (
            "call-hangup",
            json!({ "callId": call_id, "reason": "BUSY" }),
        ),
        ("call-resume", json!({ "callId": [] })),
    ];
    for (event, payload) in cases {
        let ack = calls.call(event, payload.clone()).await;
        assert_eq!(
            error_code(&ack),
            "INVALID_ARGUMENT",
            "{event} {payload}: {ack}"
        );
    }
    // Without an ack callback the failure comes as `error`, naming the event.
    let mut calls = calls;
    calls.emit("call-hangup", json!({ "callId": "x" })).await;
    let error = calls.next_event("error").await;
    assert_eq!(error["event"], "call-hangup", "{error}");
    assert_eq!(error["code"], "INVALID_ARGUMENT", "{error}");
    // Still connected and answered (no calls-svc here, so UNAVAILABLE).
    let ack = calls.call("list-calls", json!({})).await;
    assert_eq!(error_code(&ack), "UNAVAILABLE", "{ack}");
}

#[tokio::test]
async fn the_seventh_invite_within_a_minute_is_rate_limited_with_retry_after_ms() {
    let system = TestSystem::spawn().await;
    let alice = Person::new("alice");
    let calls = connect_device(&system, &alice, json!("phone"))
        .await
        .unwrap();
    let invite = json!({ "receiverId": Uuid::new_v4(), "media": "AUDIO", "offer": offer() });
    for attempt in 0..6 {
        let ack = calls.call("call-invite", invite.clone()).await;
        // The edge let it through to calls-svc, which this system does not have.
        assert_eq!(error_code(&ack), "UNAVAILABLE", "invite {attempt}: {ack}");
    }
    let ack = calls.call("call-invite", invite).await;
    assert_eq!(error_code(&ack), "RATE_LIMITED", "{ack}");
    assert!(
        ack["error"]["retryAfterMs"]
            .as_u64()
            .is_some_and(|ms| ms > 0),
        "{ack}"
    );
    // Other call events have their own allowance.
    let ack = calls
        .call("call-hangup", json!({ "callId": Uuid::new_v4() }))
        .await;
    assert_eq!(error_code(&ack), "UNAVAILABLE", "{ack}");
}
