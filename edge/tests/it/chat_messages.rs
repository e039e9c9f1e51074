//! `/chat` messages end to end: delivery with consecutive seqs, history, read state,
//! typing, edits and deletes, DMs, catch-up, idempotency, limits and refusals.

use serde_json::{Value, json};
use sqlx::Connection;

use crate::support::{
    SioClient, TestSystem,
    acks::{data, error_code},
    system::{EdgeAuth, Timing},
    tokens::Person,
};

struct Group {
    room: Value,
    sockets: Vec<SioClient>,
    people: Vec<Person>,
}

/// Three people in a group room, each with a `/chat` socket; the creation events consumed.
async fn group(system: &TestSystem) -> Group {
    let people = vec![
        Person::new("alice"),
        Person::new("bob"),
        Person::new("carol"),
    ];
    let mut sockets = Vec::new();
    for person in &people {
        sockets.push(system.connect(person, "/chat").await);
    }
    let ids: Vec<_> = people.iter().skip(1).map(|person| person.id).collect();
    let room = data(
        sockets[0]
            .call(
                "create-room",
                json!({ "name": "trio", "isGroup": true, "memberIds": ids }),
            )
            .await,
    )["room"]
        .clone();
    for socket in sockets.iter_mut().skip(1) {
        socket.next_event("room-created").await;
    }
    Group {
        room,
        sockets,
        people,
    }
}

async fn send(socket: &SioClient, room: &Value, content: &str) -> Value {
    data(
        socket
            .call(
                "send-message",
                json!({ "chatRoomId": room["id"], "content": content }),
            )
            .await,
    )["message"]
        .clone()
}

#[tokio::test]
async fn every_member_receives_each_message_with_consecutive_seqs() {
    let system = TestSystem::spawn().await;
    let mut group = group(&system).await;
    for (n, sender) in [0, 1, 2, 0].into_iter().enumerate() {
        let sent = send(&group.sockets[sender], &group.room, &format!("hello {n}")).await;
        assert_eq!(sent["seq"], json!(n + 1));
        assert_eq!(sent["sender"]["username"], json!(group.people[sender].name));
        assert!(sent["timestamp"].as_str().unwrap().ends_with('Z'));
        for socket in group.sockets.iter_mut() {
            let received = socket.next_event("new-message").await;
            assert_eq!(received["id"], sent["id"]);
            assert_eq!(received["seq"], json!(n + 1));
            assert_eq!(received["content"], json!(format!("hello {n}")));
        }
    }
}

#[tokio::test]
async fn history_pages_back_and_forth() {
    let system = TestSystem::spawn().await;
    let group = group(&system).await;
    let mut sent = Vec::new();
    for n in 1..=7 {
        sent.push(send(&group.sockets[0], &group.room, &format!("m{n}")).await);
    }
    let seqs = |page: &Value| -> Vec<u64> {
        page["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["seq"].as_u64().unwrap())
            .collect()
    };
    let newest = data(
        group.sockets[1]
            .call(
                "get-history",
                json!({ "roomId": group.room["id"], "limit": 3 }),
            )
            .await,
    );
    assert_eq!(seqs(&newest), vec![7, 6, 5]);
    assert_eq!(newest["hasMore"], json!(true));
    let before = data(
        group.sockets[1]
            .call(
                "get-history",
                json!({ "roomId": group.room["id"], "limit": 3, "before": sent[4]["id"] }),
            )
            .await,
    );
    assert_eq!(seqs(&before), vec![4, 3, 2]);
    let after = data(
        group.sockets[1]
            .call(
                "get-history",
                json!({ "roomId": group.room["id"], "limit": 3, "after": sent[4]["id"] }),
            )
            .await,
    );
    assert_eq!(seqs(&after), vec![6, 7], "oldest first after a message");
    assert_eq!(after["hasMore"], json!(false));
    let offset = data(
        group.sockets[1]
            .call(
                "get-history",
                json!({ "roomId": group.room["id"], "limit": 2, "offset": 5 }),
            )
            .await,
    );
    assert_eq!(seqs(&offset), vec![2, 1]);
    let too_many = group.sockets[1]
        .call(
            "get-history",
            json!({ "roomId": group.room["id"], "limit": 101 }),
        )
        .await;
    assert_eq!(error_code(&too_many), "INVALID_ARGUMENT");
}

#[tokio::test]
async fn marking_read_lowers_unread_counts_and_tells_the_room() {
    let system = TestSystem::spawn().await;
    let mut group = group(&system).await;
    let mut last = Value::Null;
    for n in 0..3 {
        last = send(&group.sockets[0], &group.room, &format!("m{n}")).await;
    }
    let unread = |rooms: &Value| rooms["rooms"][0]["unreadCount"].clone();
    let before = data(group.sockets[1].call("list-rooms", json!({})).await);
    assert_eq!(unread(&before), json!(3));
    assert_eq!(before["rooms"][0]["lastMessage"]["id"], last["id"]);
    let own = data(group.sockets[0].call("list-rooms", json!({})).await);
    assert_eq!(unread(&own), json!(0), "a sender has read what they sent");

    let first_id = data(
        group.sockets[1]
            .call(
                "get-history",
                json!({ "roomId": group.room["id"], "after": null }),
            )
            .await,
    )["messages"][2]["id"]
        .clone();
    let partial = data(
        group.sockets[1]
            .call(
                "mark-read",
                json!({ "roomId": group.room["id"], "messageId": first_id }),
            )
            .await,
    );
    assert_eq!(partial["unreadCount"], json!(2));
    let all = data(
        group.sockets[1]
            .call("mark-read", json!({ "roomId": group.room["id"] }))
            .await,
    );
    assert_eq!(all["unreadCount"], json!(0));
    assert_eq!(all["messageId"], last["id"]);
    let told = group.sockets[2].next_event("messages-read").await;
    assert_eq!(told["userId"], json!(group.people[1].id));
    assert_eq!(
        unread(&data(group.sockets[1].call("list-rooms", json!({})).await)),
        json!(0)
    );
}

#[tokio::test]
async fn typing_reaches_the_other_members_only() {
    let system = TestSystem::spawn().await;
    let mut group = group(&system).await;
    data(
        group.sockets[0]
            .call(
                "typing",
                json!({ "roomId": group.room["id"], "isTyping": true }),
            )
            .await,
    );
    for socket in group.sockets.iter_mut().skip(1) {
        let typing = socket.next_event("user-typing").await;
        assert_eq!(typing["userId"], json!(group.people[0].id));
        assert_eq!(typing["username"], "alice");
        assert_eq!(typing["isTyping"], json!(true));
    }
    data(
        group.sockets[0]
            .call("typing-stop", json!({ "roomId": group.room["id"] }))
            .await,
    );
    let stopped = group.sockets[1].next_event("user-typing").await;
    assert_eq!(stopped["isTyping"], json!(false));
    group.sockets[0]
        .no_event("user-typing", std::time::Duration::from_millis(300))
        .await;
}

#[tokio::test]
async fn authors_edit_and_delete_and_a_deleted_message_stays_as_a_tombstone() {
    let system = TestSystem::spawn().await;
    let mut group = group(&system).await;
    let sent = send(&group.sockets[1], &group.room, "typo").await;
    group.sockets[2].next_event("new-message").await;

    let not_author = group.sockets[2]
        .call(
            "edit-message",
            json!({ "messageId": sent["id"], "content": "x" }),
        )
        .await;
    assert_eq!(error_code(&not_author), "PERMISSION_DENIED");
    let edited = data(
        group.sockets[1]
            .call(
                "edit-message",
                json!({ "messageId": sent["id"], "content": "fixed" }),
            )
            .await,
    );
    assert_eq!(edited["message"]["content"], "fixed");
    assert!(edited["message"]["editedAt"].is_string());
    let updated = group.sockets[2].next_event("message-updated").await;
    assert_eq!(updated["message"]["content"], "fixed");

    let not_allowed = group.sockets[2]
        .call("delete-message", json!({ "messageId": sent["id"] }))
        .await;
    assert_eq!(error_code(&not_allowed), "PERMISSION_DENIED");
    // The owner (an admin) may delete anyone's message.
    data(
        group.sockets[0]
            .call("delete-message", json!({ "messageId": sent["id"] }))
            .await,
    );
    let deleted = group.sockets[2].next_event("message-deleted").await;
    assert_eq!(deleted["messageId"], sent["id"]);
    let history = data(
        group.sockets[2]
            .call("get-history", json!({ "roomId": group.room["id"] }))
            .await,
    );
    let tombstone = &history["messages"][0];
    assert_eq!(tombstone["deleted"], json!(true));
    assert_eq!(tombstone["content"], "");
    assert_eq!(tombstone["seq"], json!(1));
}

#[tokio::test]
async fn a_dm_by_receiver_reaches_the_receiver_and_the_senders_other_devices() {
    let system = TestSystem::spawn().await;
    let (alice, bob) = (Person::new("alice"), Person::new("bob"));
    let mut alice_phone = system.connect(&alice, "/chat").await;
    let mut alice_laptop = system.connect(&alice, "/chat").await;
    let mut bob_chat = system.connect(&bob, "/chat").await;

    let sent = data(
        alice_phone
            .call(
                "send-message",
                json!({ "receiverId": bob.id, "content": "hi bob" }),
            )
            .await,
    )["message"]
        .clone();
    assert_eq!(sent["receiverId"], json!(bob.id));
    assert_eq!(sent["seq"], json!(1));
    for socket in [&mut bob_chat, &mut alice_laptop] {
        let received = socket.next_event("new-private-message").await;
        assert_eq!(received["id"], sent["id"]);
        assert_eq!(received["content"], "hi bob");
    }
    alice_phone
        .no_event("new-private-message", std::time::Duration::from_millis(300))
        .await;

    let again = data(
        alice_phone
            .call(
                "send-message",
                json!({ "receiverId": bob.id, "content": "again" }),
            )
            .await,
    );
    assert_eq!(
        again["message"]["roomId"], sent["roomId"],
        "one DM room per pair"
    );
    assert_eq!(again["message"]["seq"], json!(2));
}

#[tokio::test]
async fn a_client_that_reconnects_gets_exactly_what_it_missed() {
    let system = TestSystem::spawn().await;
    let mut group = group(&system).await;
    send(&group.sockets[0], &group.room, "seen").await;
    let seen = group.sockets[2].next_event("new-message").await;
    let carol = group.people[2].clone();
    group.sockets.pop().unwrap().disconnect().await;

    for n in 0..3 {
        send(&group.sockets[0], &group.room, &format!("missed {n}")).await;
    }
    let back = system.connect(&carol, "/chat").await;
    let room_id = group.room["id"].as_str().unwrap().to_owned();
    let synced = data(
        back.call("sync", json!({ "rooms": { room_id.clone(): seen["seq"] } }))
            .await,
    );
    let room = &synced["rooms"][0];
    assert_eq!(room["roomId"], json!(room_id));
    let contents: Vec<&str> = room["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(contents, vec!["missed 0", "missed 1", "missed 2"]);
    assert_eq!(room["hasMore"], json!(false));
}

#[tokio::test]
async fn a_retried_client_msg_id_is_stored_once_and_announced_once() {
    let system = TestSystem::spawn().await;
    let mut group = group(&system).await;
    let payload =
        json!({ "chatRoomId": group.room["id"], "content": "once", "clientMsgId": "c-1" });
    let (first, second) = tokio::join!(
        group.sockets[0].call("send-message", payload.clone()),
        group.sockets[0].call("send-message", payload.clone())
    );
    let third = group.sockets[0].call("send-message", payload).await;
    let id = data(first)["message"]["id"].clone();
    assert_eq!(data(second)["message"]["id"], id);
    assert_eq!(data(third)["message"]["id"], id);
    group.sockets[1].next_event("new-message").await;
    group.sockets[1]
        .no_event("new-message", std::time::Duration::from_millis(300))
        .await;
    let next = send(&group.sockets[0], &group.room, "next").await;
    assert_eq!(next["seq"], json!(2), "no seq was spent on the retries");
}

#[tokio::test]
async fn concurrent_senders_leave_no_gap_in_seq() {
    let system = TestSystem::spawn().await;
    let group = group(&system).await;
    let acks = concurrent_sends(&system, &group, 4).await;
    assert_eq!(acked_seqs(&acks), (1..=60).collect::<Vec<u64>>());
}

#[tokio::test]
async fn non_members_are_refused_everything() {
    let system = TestSystem::spawn().await;
    let group = group(&system).await;
    let message = send(&group.sockets[0], &group.room, "private").await;
    let eve = Person::new("eve");
    let eve_chat = system.connect(&eve, "/chat").await;
    let room = &group.room["id"];
    let attempts = [
        (
            "send-message",
            json!({ "chatRoomId": room, "content": "hi" }),
        ),
        ("get-history", json!({ "roomId": room })),
        ("mark-read", json!({ "roomId": room })),
        ("typing", json!({ "roomId": room, "isTyping": true })),
        ("get-room", json!({ "roomId": room })),
        ("leave-room", json!({ "roomId": room })),
        (
            "add-members",
            json!({ "roomId": room, "userIds": [eve.id] }),
        ),
    ];
    for (event, payload) in attempts {
        let ack = eve_chat.call(event, payload).await;
        assert_eq!(error_code(&ack), "PERMISSION_DENIED", "{event}: {ack}");
    }
    for (event, payload) in [
        (
            "edit-message",
            json!({ "messageId": message["id"], "content": "x" }),
        ),
        ("delete-message", json!({ "messageId": message["id"] })),
    ] {
        let ack = eve_chat.call(event, payload).await;
        assert_eq!(
            error_code(&ack),
            "NOT_FOUND",
            "{event}: nothing about it leaks"
        );
    }
    let synced = data(
        eve_chat
            .call("sync", json!({ "rooms": { room.as_str().unwrap(): 0 } }))
            .await,
    );
    assert_eq!(synced["rooms"], json!([]));
}

#[tokio::test]
async fn a_client_cannot_forge_a_call_log() {
    let system = TestSystem::spawn().await;
    let group = group(&system).await;
    let room = group.room["id"].clone();
    let forged = json!({ "chatRoomId": room, "content": "missed call", "messageType": "CALL" });
    let ack = group.sockets[0].call("send-message", forged).await;
    assert_eq!(error_code(&ack), "INVALID_ARGUMENT", "{ack}");
    assert_eq!(
        ack["error"]["message"],
        "messageType: CALL messages come from the server"
    );
    let history = data(
        group.sockets[1]
            .call("get-history", json!({ "roomId": room }))
            .await,
    );
    assert_eq!(history["messages"], json!([]), "nothing was stored");
}

#[tokio::test]
async fn a_call_log_reaches_the_dm_room_with_its_details_and_a_client_cannot_post_one() {
    use parley_proto::{
        calls::v1::{CallLog, CallOutcome, EndReason, Media},
        chat::v1::{AppendCallMessageRequest, chat_service_client::ChatServiceClient},
    };
    let system = TestSystem::spawn().await;
    let (alice, bob) = (Person::new("alice"), Person::new("bob"));
    let alice_chat = system.connect(&alice, "/chat").await;
    let mut bob_chat = system.connect(&bob, "/chat").await;
    let hello = data(
        alice_chat
            .call(
                "send-message",
                json!({ "receiverId": bob.id, "content": "hi" }),
            )
            .await,
    )["message"]
        .clone();
    bob_chat.next_event("new-private-message").await;

    // By receiver too, the type is the server's.
    let forged = json!({ "receiverId": bob.id, "content": "missed call", "messageType": "CALL" });
    let ack = alice_chat.call("send-message", forged).await;
    assert_eq!(error_code(&ack), "INVALID_ARGUMENT", "{ack}");

    // calls-svc logs a missed call, as it does when a call ends.
    let call_id = uuid::Uuid::new_v4().to_string();
    let mut chat = ChatServiceClient::connect(format!("http://{}", system.chat.addr))
        .await
        .unwrap();
    chat.append_call_message(AppendCallMessageRequest {
        room_id: hello["roomId"].as_str().unwrap().to_owned(),
        call: Some(CallLog {
            call_id: call_id.clone(),
            media: Media::Audio.into(),
            outcome: CallOutcome::Missed.into(),
            end_reason: EndReason::Missed.into(),
            caller_id: alice.id.to_string(),
            callee_id: bob.id.to_string(),
            started_at: Some(prost_types::Timestamp {
                seconds: 1_764_093_845,
                nanos: 0,
            }),
            connected_at: None,
            ended_at: Some(prost_types::Timestamp {
                seconds: 1_764_093_905,
                nanos: 0,
            }),
            duration_ms: 0,
        }),
        content: "Missed voice call".to_owned(),
        read_by_user_ids: vec![alice.id.to_string()],
    })
    .await
    .unwrap();
    let expected = json!({
        "callId": call_id,
        "media": "AUDIO",
        "outcome": "MISSED",
        "endReason": "MISSED",
        "callerId": alice.id,
        "calleeId": bob.id,
        "startedAt": "2025-11-25T18:04:05.000Z",
        "endedAt": "2025-11-25T18:05:05.000Z",
        "durationMs": 0,
    });
    let live = bob_chat.next_event("new-message").await;
    assert_eq!(live["messageType"], "CALL");
    assert_eq!(live["content"], "Missed voice call");
    assert_eq!(live["call"], expected);

    let history = data(
        bob_chat
            .call("get-history", json!({ "roomId": hello["roomId"] }))
            .await,
    );
    assert_eq!(history["messages"][0]["call"], expected);
    assert!(
        history["messages"][1].get("call").is_none(),
        "a text has none"
    );
    let rooms = data(bob_chat.call("list-rooms", json!({})).await);
    assert_eq!(
        rooms["rooms"][0]["unreadCount"], 2,
        "the text and the missed call"
    );
    assert_eq!(rooms["rooms"][0]["lastMessage"]["call"], expected);
}

#[tokio::test]
async fn bad_messages_are_refused_and_a_failed_send_without_ack_says_so() {
    let system = TestSystem::spawn().await;
    let mut group = group(&system).await;
    let other = data(
        group.sockets[0]
            .call("create-room", json!({ "isGroup": true, "memberIds": [] }))
            .await,
    )["room"]
        .clone();
    let foreign = send(&group.sockets[0], &other, "elsewhere").await;
    let room = group.room["id"].clone();
    let cases = [
        (json!({ "chatRoomId": room, "content": "" }), "content"),
        (
            json!({ "chatRoomId": room, "content": "x".repeat(4001) }),
            "content",
        ),
        (
            json!({ "chatRoomId": room, "content": "x", "messageType": "SYSTEM" }),
            "messageType",
        ),
        (
            json!({ "chatRoomId": room, "content": "x", "messageType": "VIDEO" }),
            "messageType",
        ),
        (
            json!({ "chatRoomId": room, "content": "x", "replyToId": foreign["id"] }),
            "replyToId",
        ),
        (json!({ "content": "x" }), "chatRoomId"),
    ];
    for (payload, field) in cases {
        let ack = group.sockets[0].call("send-message", payload.clone()).await;
        assert_eq!(error_code(&ack), "INVALID_ARGUMENT", "{payload}");
        assert!(
            ack["error"]["message"].as_str().unwrap().contains(field),
            "{ack}"
        );
    }
    group.sockets[0]
        .emit(
            "send-message",
            json!({ "chatRoomId": room, "content": "", "clientMsgId": "c-9" }),
        )
        .await;
    let failed = group.sockets[0].next_event("message-error").await;
    assert_eq!(failed["code"], "INVALID_ARGUMENT");
    assert_eq!(failed["clientMsgId"], "c-9");
    let error = group.sockets[0].next_event("error").await;
    assert_eq!(error["event"], "send-message");
}

#[tokio::test]
async fn sends_past_the_per_minute_limit_are_rate_limited() {
    // A limit of 10 a minute refills one send every 6 s: the burst below cannot outrun it.
    let system = TestSystem::spawn_with_timing(
        EdgeAuth::default(),
        Timing {
            message_rate_per_minute: 10,
            ..Timing::default()
        },
    )
    .await;
    let group = group(&system).await;
    for n in 0..10 {
        send(&group.sockets[0], &group.room, &format!("m{n}")).await;
    }
    let limited = group.sockets[0]
        .call(
            "send-message",
            json!({ "chatRoomId": group.room["id"], "content": "one too many" }),
        )
        .await;
    assert_eq!(error_code(&limited), "RATE_LIMITED");
    assert!(limited["error"]["retryAfterMs"].as_u64().unwrap() > 0);
    send(&group.sockets[1], &group.room, "others still send").await;
}

#[tokio::test]
async fn a_block_stops_direct_messages_at_once_both_ways() {
    let system = TestSystem::spawn().await;
    let (alice, bob) = (Person::new("alice"), Person::new("bob"));
    let alice_chat = system.connect(&alice, "/chat").await;
    let bob_chat = system.connect(&bob, "/chat").await;
    let bob_friends = system.connect(&bob, "/friends").await;
    let first = data(
        alice_chat
            .call(
                "send-message",
                json!({ "receiverId": bob.id, "content": "hi" }),
            )
            .await,
    );

    data(
        bob_friends
            .call("block-user", json!({ "userId": alice.id }))
            .await,
    );
    // The block reaches chat-svc's cache through friends-svc's graph stream.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let by_receiver = alice_chat
        .call(
            "send-message",
            json!({ "receiverId": bob.id, "content": "hi?" }),
        )
        .await;
    assert_eq!(error_code(&by_receiver), "PERMISSION_DENIED");
    let by_room = bob_chat
        .call(
            "send-message",
            json!({ "chatRoomId": first["message"]["roomId"], "content": "no" }),
        )
        .await;
    assert_eq!(
        error_code(&by_room),
        "PERMISSION_DENIED",
        "the blocker cannot write either"
    );
}

#[tokio::test]
async fn read_pointers_only_move_forward() {
    let system = TestSystem::spawn().await;
    let mut group = group(&system).await;
    let first = send(&group.sockets[0], &group.room, "one").await;
    send(&group.sockets[0], &group.room, "two").await;
    let all = data(
        group.sockets[1]
            .call("mark-read", json!({ "roomId": group.room["id"] }))
            .await,
    );
    group.sockets[2].next_event("messages-read").await;
    let back = data(
        group.sockets[1]
            .call(
                "mark-read",
                json!({ "roomId": group.room["id"], "messageId": first["id"] }),
            )
            .await,
    );
    assert_eq!(
        back["messageId"], all["messageId"],
        "the pointer stays on the newest"
    );
    assert_eq!(back["unreadCount"], json!(0));
    group.sockets[2]
        .no_event("messages-read", std::time::Duration::from_millis(300))
        .await;
}

#[tokio::test]
async fn a_removed_member_can_no_longer_write() {
    let system = TestSystem::spawn().await;
    let group = group(&system).await;
    send(&group.sockets[2], &group.room, "still here").await;
    data(
        group.sockets[0]
            .call(
                "remove-member",
                json!({ "roomId": group.room["id"], "userId": group.people[2].id }),
            )
            .await,
    );
    let refused = group.sockets[2]
        .call(
            "send-message",
            json!({ "chatRoomId": group.room["id"], "content": "and now?" }),
        )
        .await;
    assert_eq!(error_code(&refused), "PERMISSION_DENIED");
}

#[tokio::test]
async fn a_retry_is_answered_even_past_the_rate_limit() {
    let system = TestSystem::spawn_with_timing(
        EdgeAuth::default(),
        Timing {
            message_rate_per_minute: 3,
            ..Timing::default()
        },
    )
    .await;
    let group = group(&system).await;
    let room = &group.room["id"];
    let mut first = Value::Null;
    for n in 0..3 {
        let ack = data(
            group.sockets[0]
                .call(
                    "send-message",
                    json!({ "chatRoomId": room, "content": "x", "clientMsgId": format!("k{n}") }),
                )
                .await,
        );
        if n == 0 {
            first = ack["message"].clone();
        }
    }
    let retry = data(
        group.sockets[0]
            .call(
                "send-message",
                json!({ "chatRoomId": room, "content": "x", "clientMsgId": "k0" }),
            )
            .await,
    );
    assert_eq!(retry["message"]["id"], first["id"]);
    let fresh = group.sockets[0]
        .call(
            "send-message",
            json!({ "chatRoomId": room, "content": "x", "clientMsgId": "k3" }),
        )
        .await;
    assert_eq!(error_code(&fresh), "RATE_LIMITED");
}

/// Fifteen sockets of the group's members, each sending `per_socket` messages one at a time
/// into the room (rust_socketio draws ack ids from 0..999 per socket, so one socket must not
/// have many acks in flight); returns every ack.
async fn concurrent_sends(system: &TestSystem, group: &Group, per_socket: usize) -> Vec<Value> {
    let mut senders = Vec::new();
    for person in &group.people {
        for _ in 0..5 {
            senders.push(system.connect(person, "/chat").await);
        }
    }
    let room = &group.room["id"];
    let bursts = senders.iter().map(|socket| async move {
        let mut acks = Vec::new();
        for n in 0..per_socket {
            let payload = json!({ "chatRoomId": room, "content": format!("load {n}") });
            acks.push(socket.call("send-message", payload).await);
        }
        acks
    });
    futures_util::future::join_all(bursts).await.concat()
}

/// The seqs of successful acks, sorted.
fn acked_seqs(acks: &[Value]) -> Vec<u64> {
    let mut seqs: Vec<u64> = acks
        .iter()
        .map(|ack| data(ack.clone())["message"]["seq"].as_u64().unwrap())
        .collect();
    seqs.sort_unstable();
    seqs
}

#[tokio::test]
async fn nul_in_a_message_is_refused_and_hurts_no_concurrent_message() {
    let system = TestSystem::spawn().await;
    let group = group(&system).await;
    let room = &group.room["id"];
    let nul = async {
        let mut refusals = Vec::new();
        for n in 0..5 {
            tokio::time::sleep(std::time::Duration::from_millis(5 * n)).await;
            refusals.push(
                group.sockets[0]
                    .call(
                        "send-message",
                        json!({ "chatRoomId": room, "content": "bad\u{0}byte", "clientMsgId": format!("n{n}\u{0}") }),
                    )
                    .await,
            );
        }
        refusals
    };
    let (refusals, acks) = tokio::join!(nul, concurrent_sends(&system, &group, 4));
    for refused in &refusals {
        assert_eq!(error_code(refused), "INVALID_ARGUMENT");
        let message = refused["error"]["message"].as_str().unwrap();
        assert!(
            message.starts_with("content: ") || message.starts_with("clientMsgId: "),
            "{message}"
        );
        assert!(message.contains("NUL"), "{message}");
    }
    assert_eq!(acked_seqs(&acks), (1..=60).collect::<Vec<u64>>());

    // Every other text field is held to the same rule.
    let refused = group.sockets[0]
        .call(
            "create-room",
            json!({ "name": "a\u{0}b", "isGroup": true, "memberIds": [] }),
        )
        .await;
    assert_eq!(
        refused["error"]["message"],
        "name: must not contain NUL (U+0000)"
    );
}

#[tokio::test]
async fn a_row_postgres_refuses_fails_alone_and_the_rest_of_its_batch_is_stored() {
    let system = TestSystem::spawn().await;
    let group = group(&system).await;
    // A stand-in for any row Postgres refuses that validation let through (a constraint or
    // trigger added later, a value it cannot store): a trigger that refuses one content.
    let mut db = sqlx::PgConnection::connect(&system.database.url)
        .await
        .unwrap();
    sqlx::raw_sql(
        "CREATE FUNCTION chat.refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             IF NEW.content = 'poison' THEN RAISE EXCEPTION 'refused by the test'; END IF;
             RETURN NEW;
         END $$;
         CREATE TRIGGER refuse_poison BEFORE INSERT ON chat.messages
             FOR EACH ROW EXECUTE FUNCTION chat.refuse_poison();",
    )
    .execute(&mut db)
    .await
    .unwrap();
    let room = &group.room["id"];
    // The poison goes while the load is in full flow, so it shares a batch with others.
    let poison = async {
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
        group.sockets[1]
            .call(
                "send-message",
                json!({ "chatRoomId": room, "content": "poison" }),
            )
            .await
    };
    let (poisoned, acks) = tokio::join!(poison, concurrent_sends(&system, &group, 8));
    assert_eq!(error_code(&poisoned), "INTERNAL");
    // Every other send was stored, and the refused one spent no seq.
    assert_eq!(acked_seqs(&acks), (1..=120).collect::<Vec<u64>>());
    let after = send(&group.sockets[1], &group.room, "after").await;
    assert_eq!(after["seq"], json!(121));
}

#[tokio::test]
async fn the_same_client_msg_id_in_another_room_is_another_message() {
    let system = TestSystem::spawn().await;
    let first = group(&system).await;
    let ids: Vec<_> = first
        .people
        .iter()
        .skip(1)
        .map(|person| person.id)
        .collect();
    let second_room = data(
        first.sockets[0]
            .call(
                "create-room",
                json!({ "name": "other", "isGroup": true, "memberIds": ids }),
            )
            .await,
    )["room"]
        .clone();
    let send_keyed = |room: &Value| {
        first.sockets[0].call(
            "send-message",
            json!({ "chatRoomId": room["id"], "content": "same key", "clientMsgId": "k-1" }),
        )
    };
    let in_first = data(send_keyed(&first.room).await)["message"].clone();
    let in_second = data(send_keyed(&second_room).await)["message"].clone();
    assert_ne!(in_second["id"], in_first["id"]);
    assert_eq!(in_second["roomId"], second_room["id"]);
    assert_eq!(in_second["seq"], json!(1));
    // Each is stored, and a retry in either room is answered with that room's message.
    let history = data(
        first.sockets[1]
            .call("get-history", json!({ "roomId": second_room["id"] }))
            .await,
    );
    assert_eq!(history["messages"][0]["id"], in_second["id"]);
    assert_eq!(
        data(send_keyed(&first.room).await)["message"]["id"],
        in_first["id"]
    );
    assert_eq!(
        data(send_keyed(&second_room).await)["message"]["id"],
        in_second["id"]
    );
}
