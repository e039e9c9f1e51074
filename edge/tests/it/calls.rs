//! `/calls` on the edge (docs/API.md "`/calls`"): the handshake's `deviceId`, the checks
//! every payload passes before calls-svc sees it, the per-user limits, and a deployment
//! without calls-svc.

use std::time::Duration;

use serde_json::{Value, json};
use uuid::Uuid;

use parley_edge::event_limits::EventLimitArgs;

use crate::support::{
    SioClient, TestSystem,
    acks::{befriend, data, error_code},
    system::{Backends, EdgeAuth, Timing, start_killable_edge},
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

// --- With a real calls-svc (and chat-svc, friends-svc): the flows of docs/API.md "/calls".

/// How long a test waits for a CALL message or a block to be heard of.
const SLOW: Duration = Duration::from_secs(10);

async fn calls_system() -> TestSystem {
    TestSystem::spawn_with_calls(Timing::default(), &[]).await
}

/// A `/calls` socket of `person` on device `device`, past its `calls-state`.
async fn device(system: &TestSystem, person: &Person, device: &str) -> SioClient {
    let mut socket = connect_device(system, person, json!(device)).await.unwrap();
    let state = socket.next_event("calls-state").await;
    assert!(state["calls"].is_array(), "{state}");
    socket
}

async fn invite(caller: &SioClient, callee: &Person) -> Value {
    data(
        caller
            .call(
                "call-invite",
                json!({ "receiverId": callee.id, "media": "AUDIO", "offer": offer() }),
            )
            .await,
    )
}

fn answer() -> Value {
    json!({ "type": "answer", "sdp": "v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\n" })
}

/// The next `event` about call `id`, skipping the others.
async fn next_about(socket: &mut SioClient, event: &str, id: &Value) -> Value {
    let deadline = tokio::time::Instant::now() + SLOW;
    loop {
        let payload = tokio::time::timeout_at(deadline, socket.next_event(event))
            .await
            .unwrap_or_else(|_| panic!("no {event} about {id}"));
        let about = payload.get("callId").or_else(|| payload["call"].get("id"));
        if about == Some(id) {
            return payload;
        }
    }
}

/// The CALL messages of `room`, once there is one (chat-svc writes it after the call ends).
async fn call_messages(chat: &SioClient, room: &Value) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + SLOW;
    loop {
        let history = data(chat.call("get-history", json!({ "roomId": room })).await);
        let calls: Vec<Value> = history["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|message| message["messageType"] == "CALL")
            .cloned()
            .collect();
        if !calls.is_empty() || tokio::time::Instant::now() > deadline {
            return calls;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn every_device_rings_the_first_accept_wins_and_the_call_ends_in_one_call_message() {
    let system = calls_system().await;
    let (alice, bob) = (Person::new("alice"), Person::new("bob"));
    befriend(&system, &alice, &bob).await;
    let mut a = device(&system, &alice, "a-phone").await;
    let mut b1 = device(&system, &bob, "b-phone").await;
    let mut b2 = device(&system, &bob, "b-laptop").await;

    let placed = invite(&a, &bob).await;
    let call = &placed["call"];
    let id = call["id"].clone();
    assert_eq!(call["state"], "RINGING", "{placed}");
    assert_eq!(call["caller"]["userId"], json!(alice.id.to_string()));
    assert_eq!(call["caller"]["deviceId"], "a-phone");
    assert_eq!(call["calleeId"], json!(bob.id.to_string()));
    assert_eq!(placed["merged"], false);
    assert!(
        !placed["iceServers"].as_array().unwrap().is_empty(),
        "{placed}"
    );
    for ringing in [&mut b1, &mut b2] {
        let incoming = next_about(ringing, "call-incoming", &id).await;
        assert_eq!(incoming["offer"], offer(), "{incoming}");
        let left = incoming["ringRemainingMs"].as_u64().unwrap();
        assert!(left > 50_000 && left <= 60_000, "{incoming}");
    }

    // Candidates before the answer reach every ringing device, and the one that answers.
    assert_eq!(
        data(
            a.call(
                "call-ice",
                json!({ "callId": id, "candidates": [candidate()] })
            )
            .await
        ),
        json!({})
    );
    for ringing in [&mut b1, &mut b2] {
        let ice = next_about(ringing, "call-ice", &id).await;
        assert_eq!(ice["candidates"], json!([candidate()]), "{ice}");
        assert_eq!(ice["from"]["deviceId"], "a-phone", "{ice}");
    }
    let accepted = data(
        b2.call("call-accept", json!({ "callId": id, "answer": answer() }))
            .await,
    );
    assert_eq!(accepted["call"]["state"], "CONNECTING", "{accepted}");
    assert_eq!(
        accepted["call"]["answeredBy"]["deviceId"], "b-laptop",
        "{accepted}"
    );
    assert_eq!(accepted["candidates"], json!([candidate()]), "{accepted}");
    let answered = next_about(&mut a, "call-answered", &id).await;
    assert_eq!(answered["answer"], answer(), "{answered}");
    assert_eq!(answered["by"]["deviceId"], "b-laptop", "{answered}");
    let dismissed = next_about(&mut b1, "call-dismissed", &id).await;
    assert_eq!(dismissed["reason"], "ANSWERED_ELSEWHERE", "{dismissed}");
    let late = b1
        .call("call-accept", json!({ "callId": id, "answer": answer() }))
        .await;
    assert_eq!(error_code(&late), "FAILED_PRECONDITION", "{late}");

    // After the answer, relays go to the answering device only.
    data(
        b2.call(
            "call-ice",
            json!({ "callId": id, "candidates": [candidate()], "end": true }),
        )
        .await,
    );
    let ice = next_about(&mut a, "call-ice", &id).await;
    assert_eq!(ice["end"], true, "{ice}");
    assert_eq!(ice["from"]["deviceId"], "b-laptop", "{ice}");

    let connected = data(a.call("call-connected", json!({ "callId": id })).await);
    assert_eq!(connected["call"]["state"], "ACTIVE", "{connected}");
    for socket in [&mut a, &mut b2] {
        loop {
            let updated = next_about(socket, "call-updated", &id).await;
            if updated["call"]["state"] == "ACTIVE" {
                break;
            }
        }
    }

    let mut chat = system.connect(&alice, "/chat").await;
    let hung_up = data(b2.call("call-hangup", json!({ "callId": id })).await);
    assert_eq!(hung_up["call"]["state"], "ENDED", "{hung_up}");
    assert_eq!(hung_up["call"]["endReason"], "HANGUP", "{hung_up}");
    assert!(hung_up["call"]["durationMs"].is_u64(), "{hung_up}");
    for socket in [&mut a, &mut b1, &mut b2] {
        let ended = next_about(socket, "call-ended", &id).await;
        assert_eq!(ended["call"]["endReason"], "HANGUP", "{ended}");
    }
    // The CALL message reaches the chat live, as any message of the room does.
    let live_message = tokio::time::timeout(SLOW, async {
        loop {
            let (event, message) = chat.next_any_event().await;
            if event.starts_with("new-") && message["messageType"] == "CALL" {
                return message;
            }
        }
    })
    .await
    .expect("a live CALL message");
    assert_eq!(live_message["roomId"], call["roomId"], "{live_message}");
    let logged = call_messages(&chat, &call["roomId"]).await;
    assert_eq!(logged.len(), 1, "{logged:?}");
    assert_eq!(logged[0]["id"], live_message["id"], "{logged:?}");
    // Hanging up again answers the ended call and writes nothing more.
    let again = data(a.call("call-hangup", json!({ "callId": id })).await);
    assert_eq!(again["call"]["state"], "ENDED", "{again}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(call_messages(&chat, &call["roomId"]).await.len(), 1);
    let live = data(a.call("list-calls", json!({})).await);
    assert_eq!(live["calls"], json!([]), "{live}");
}

#[tokio::test]
async fn a_decline_from_any_device_ends_the_call_everywhere() {
    let system = calls_system().await;
    let (alice, bob) = (Person::new("alice"), Person::new("bob"));
    befriend(&system, &alice, &bob).await;
    let mut a = device(&system, &alice, "a-phone").await;
    let mut b1 = device(&system, &bob, "b-phone").await;
    let mut b2 = device(&system, &bob, "b-laptop").await;
    let id = invite(&a, &bob).await["call"]["id"].clone();
    next_about(&mut b1, "call-incoming", &id).await;

    assert_eq!(
        data(b1.call("call-decline", json!({ "callId": id })).await),
        json!({})
    );
    for socket in [&mut a, &mut b1, &mut b2] {
        let ended = next_about(socket, "call-ended", &id).await;
        assert_eq!(ended["call"]["endReason"], "DECLINED", "{ended}");
    }
    // The caller cannot decline its own call.
    let id = invite(&a, &bob).await["call"]["id"].clone();
    let own = a.call("call-decline", json!({ "callId": id })).await;
    assert_eq!(error_code(&own), "PERMISSION_DENIED", "{own}");
}

#[tokio::test]
async fn a_callee_in_a_call_is_busy_and_does_not_ring() {
    let system = calls_system().await;
    let (alice, bob, carol) = (
        Person::new("alice"),
        Person::new("bob"),
        Person::new("carol"),
    );
    befriend(&system, &alice, &bob).await;
    befriend(&system, &carol, &bob).await;
    let a = device(&system, &alice, "a-phone").await;
    let mut b = device(&system, &bob, "b-phone").await;
    let c = device(&system, &carol, "c-phone").await;
    let first = invite(&a, &bob).await["call"]["id"].clone();
    next_about(&mut b, "call-incoming", &first).await;
    data(
        b.call(
            "call-accept",
            json!({ "callId": first, "answer": answer() }),
        )
        .await,
    );

    let busy = invite(&c, &bob).await;
    assert_eq!(busy["call"]["state"], "ENDED", "{busy}");
    assert_eq!(busy["call"]["endReason"], "BUSY", "{busy}");
    b.no_event("call-incoming", Duration::from_millis(500))
        .await;
}

#[tokio::test]
async fn two_users_calling_each_other_at_once_get_one_merged_call() {
    let system = calls_system().await;
    let (alice, bob) = (Person::new("alice"), Person::new("bob"));
    befriend(&system, &alice, &bob).await;
    let a = device(&system, &alice, "a-phone").await;
    let b = device(&system, &bob, "b-phone").await;
    let first = invite(&a, &bob).await;
    let crossing = invite(&b, &alice).await;
    assert_eq!(crossing["merged"], true, "{crossing}");
    assert_eq!(crossing["call"]["id"], first["call"]["id"], "{crossing}");
    assert_eq!(crossing["offer"], offer(), "{crossing}");
    assert!(crossing["candidates"].is_array(), "{crossing}");
    // One call between them, which the second caller accepts.
    let id = first["call"]["id"].clone();
    let accepted = data(
        b.call("call-accept", json!({ "callId": id, "answer": answer() }))
            .await,
    );
    assert_eq!(accepted["call"]["state"], "CONNECTING", "{accepted}");
    let live = data(a.call("list-calls", json!({})).await);
    assert_eq!(live["calls"].as_array().unwrap().len(), 1, "{live}");
}

#[tokio::test]
async fn outsiders_strangers_groups_and_blocks_are_refused() {
    let system = calls_system().await;
    let (alice, bob, carol) = (
        Person::new("alice"),
        Person::new("bob"),
        Person::new("carol"),
    );
    befriend(&system, &alice, &bob).await;
    let a = device(&system, &alice, "a-phone").await;
    let mut b = device(&system, &bob, "b-phone").await;
    let c = device(&system, &carol, "c-phone").await;

    let id = invite(&a, &bob).await["call"]["id"].clone();
    for (event, payload) in [
        ("call-hangup", json!({ "callId": id })),
        ("call-accept", json!({ "callId": id, "answer": answer() })),
        (
            "call-ice",
            json!({ "callId": id, "candidates": [candidate()] }),
        ),
        ("call-resume", json!({ "callId": id })),
    ] {
        let ack = c.call(event, payload).await;
        assert_eq!(error_code(&ack), "NOT_FOUND", "{event}: {ack}");
    }
    let stranger = c
        .call(
            "call-invite",
            json!({ "receiverId": alice.id, "media": "VIDEO", "offer": offer() }),
        )
        .await;
    assert_eq!(error_code(&stranger), "PERMISSION_DENIED", "{stranger}");

    let chat = system.connect(&alice, "/chat").await;
    let group = data(
        chat.call(
            "create-room",
            json!({ "name": "trio", "isGroup": true, "memberIds": [bob.id, carol.id] }),
        )
        .await,
    )["room"]["id"]
        .clone();
    let to_group = a
        .call(
            "call-invite",
            json!({ "roomId": group, "media": "AUDIO", "offer": offer() }),
        )
        .await;
    assert_eq!(error_code(&to_group), "FAILED_PRECONDITION", "{to_group}");

    // A block ends the live call between them.
    next_about(&mut b, "call-incoming", &id).await;
    data(
        b.call("call-accept", json!({ "callId": id, "answer": answer() }))
            .await,
    );
    let friends = system.connect(&alice, "/friends").await;
    data(
        friends
            .call("block-user", json!({ "userId": bob.id }))
            .await,
    );
    let ended = next_about(&mut b, "call-ended", &id).await;
    assert_eq!(ended["call"]["state"], "ENDED", "{ended}");
    let again = a
        .call(
            "call-invite",
            json!({ "receiverId": bob.id, "media": "AUDIO", "offer": offer() }),
        )
        .await;
    assert_eq!(error_code(&again), "PERMISSION_DENIED", "{again}");
}

#[tokio::test]
async fn a_device_that_connects_mid_ring_gets_the_call_with_the_time_left() {
    let system = calls_system().await;
    let (alice, bob) = (Person::new("alice"), Person::new("bob"));
    befriend(&system, &alice, &bob).await;
    let a = device(&system, &alice, "a-phone").await;
    let id = invite(&a, &bob).await["call"]["id"].clone();
    tokio::time::sleep(Duration::from_millis(1_500)).await;

    let mut late = connect_device(&system, &bob, json!("b-tablet"))
        .await
        .unwrap();
    let state = late.next_event("calls-state").await;
    let calls = state["calls"].as_array().unwrap();
    assert_eq!(calls.len(), 1, "{state}");
    assert_eq!(calls[0]["id"], id);
    assert_eq!(calls[0]["state"], "RINGING");
    let incoming = next_about(&mut late, "call-incoming", &id).await;
    let left = incoming["ringRemainingMs"].as_u64().unwrap();
    assert!(left < 60_000 - 1_000, "{incoming}");
    assert_eq!(incoming["offer"], offer(), "{incoming}");

    // Once the call ended, a new device no longer rings.
    data(a.call("call-hangup", json!({ "callId": id })).await);
    let mut later = connect_device(&system, &bob, json!("b-watch"))
        .await
        .unwrap();
    let state = later.next_event("calls-state").await;
    assert_eq!(state["calls"], json!([]), "{state}");
    later
        .no_event("call-incoming", Duration::from_millis(500))
        .await;
}

#[tokio::test]
async fn ice_servers_carry_time_limited_turn_credentials() {
    let system = calls_system().await;
    let alice = Person::new("alice");
    let a = device(&system, &alice, "a-phone").await;
    let servers = data(a.call("get-ice-servers", json!({})).await);
    assert!(servers["expiresAt"].is_string(), "{servers}");
    let turn = servers["iceServers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|server| server["username"].is_string())
        .cloned()
        .unwrap_or_else(|| panic!("no TURN server with credentials: {servers}"));
    let username = turn["username"].as_str().unwrap();
    assert!(username.ends_with(&format!(":{}", alice.id)), "{turn}");
    assert!(turn["credential"].is_string(), "{turn}");
}

#[tokio::test]
async fn a_caller_whose_socket_goes_mid_ring_cancels_and_a_party_resumes_after_a_reconnect() {
    let system =
        TestSystem::spawn_with_calls(Timing::default(), &[("--call-caller-grace", "1s")]).await;
    let (alice, bob) = (Person::new("alice"), Person::new("bob"));
    befriend(&system, &alice, &bob).await;
    let a = device(&system, &alice, "a-phone").await;
    let mut b = device(&system, &bob, "b-phone").await;

    // The edge tells calls-svc the calling device went: the ringing ends CANCELED.
    let id = invite(&a, &bob).await["call"]["id"].clone();
    next_about(&mut b, "call-incoming", &id).await;
    a.disconnect().await;
    let ended = next_about(&mut b, "call-ended", &id).await;
    assert_eq!(ended["call"]["endReason"], "CANCELED", "{ended}");

    // Answered, then the caller reconnects (same device, new socket) and resumes.
    let a = device(&system, &alice, "a-phone").await;
    let id = invite(&a, &bob).await["call"]["id"].clone();
    next_about(&mut b, "call-incoming", &id).await;
    data(
        b.call("call-accept", json!({ "callId": id, "answer": answer() }))
            .await,
    );
    data(
        b.call(
            "call-ice",
            json!({ "callId": id, "candidates": [candidate()] }),
        )
        .await,
    );
    a.disconnect().await;
    let mut a = device(&system, &alice, "a-phone").await;
    let resumed = data(a.call("call-resume", json!({ "callId": id })).await);
    assert_eq!(resumed["call"]["state"], "CONNECTING", "{resumed}");
    assert_eq!(resumed["peer"]["deviceId"], "b-phone", "{resumed}");
    assert_eq!(resumed["candidates"], json!([candidate()]), "{resumed}");
    // The resumed device is in the call again: the peer's relays reach it.
    data(
        b.call(
            "call-negotiate",
            json!({ "callId": id, "description": offer() }),
        )
        .await,
    );
    let negotiate = next_about(&mut a, "call-negotiate", &id).await;
    assert_eq!(negotiate["description"], offer(), "{negotiate}");
    assert_eq!(negotiate["from"]["deviceId"], "b-phone", "{negotiate}");
    // A device that is not in the call cannot resume it.
    let other = device(&system, &alice, "a-tablet").await;
    let refused = other.call("call-resume", json!({ "callId": id })).await;
    assert_eq!(error_code(&refused), "PERMISSION_DENIED", "{refused}");
}

#[tokio::test]
async fn a_caller_whose_edge_dies_mid_ring_cancels_once_the_calls_lease_lapses() {
    // A short calls lease (the edge renews every 200 ms, a lease lasts 1 s) and caller grace.
    let timing = Timing {
        lease_interval: Duration::from_millis(200),
        lease_ttl: Duration::from_secs(1),
        ..Timing::default()
    };
    let system = TestSystem::spawn_with_calls(timing, &[("--call-caller-grace", "1s")]).await;
    let url = |addr: std::net::SocketAddr| format!("http://{addr}");
    let backends = Backends {
        chat: url(system.chat.addr),
        presence: url(system.presence.addr),
        friends: url(system.friends.addr),
        media: String::new(),
        calls: url(system.calls.as_ref().unwrap().addr),
    };
    let mut doomed = start_killable_edge(backends, timing).await;
    let (alice, bob) = (Person::new("alice"), Person::new("bob"));
    befriend(&system, &alice, &bob).await;
    let auth = json!({ "token": alice.token, "deviceId": "a-phone" });
    let mut a = SioClient::connect_with_auth(&url(doomed.addr), "/calls", auth)
        .await
        .unwrap();
    a.next_event("calls-state").await;
    let mut b = device(&system, &bob, "b-phone").await;
    let id = invite(&a, &bob).await["call"]["id"].clone();
    next_about(&mut b, "call-incoming", &id).await;

    // Killed: no CloseDevice, no more renewals. Only the lapsed lease tells calls-svc.
    let killed = tokio::time::Instant::now();
    doomed.kill().await;
    let ended = next_about(&mut b, "call-ended", &id).await;
    assert_eq!(ended["call"]["endReason"], "CANCELED", "{ended}");
    assert!(
        killed.elapsed() < Duration::from_secs(8),
        "{:?}",
        killed.elapsed()
    );
}
