//! `/chat` calls that would cost the server (or everyone else) without bound: typing bursts,
//! rooms with a thousand unasked members, room creation floods, invisible names and
//! contents, catch-up over a thousand rooms, history at a huge offset.

use std::time::Duration;

use parley_edge::event_limits::EventLimitArgs;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{
    SioClient, TestSystem,
    acks::{data, error_code},
    system::{EdgeAuth, Timing},
    tokens::Person,
};

/// People with a `/chat` socket each.
async fn people(system: &TestSystem, names: &[&str]) -> (Vec<Person>, Vec<SioClient>) {
    let people: Vec<Person> = names.iter().map(|name| Person::new(name)).collect();
    let mut sockets = Vec::new();
    for person in &people {
        sockets.push(system.connect(person, "/chat").await);
    }
    (people, sockets)
}

async fn create_group(socket: &SioClient, members: &[&Person]) -> Value {
    let ids: Vec<_> = members.iter().map(|person| person.id).collect();
    socket
        .call(
            "create-room",
            json!({ "name": "team", "isGroup": true, "memberIds": ids }),
        )
        .await
}

fn strangers(n: usize) -> Vec<String> {
    (0..n).map(|_| Uuid::new_v4().to_string()).collect()
}

/// The `retryAfterMs` of a `RATE_LIMITED` ack.
fn retry_after(ack: &Value) -> u64 {
    assert_eq!(error_code(ack), "RATE_LIMITED");
    ack["error"]["retryAfterMs"].as_u64().unwrap()
}

#[tokio::test]
async fn a_burst_of_typing_toggles_reaches_the_others_a_few_times_ending_on_the_last_state() {
    // The edge's own typing limit would cut the burst short: chat-svc's relay is tested.
    let system = TestSystem::spawn_with_timing(
        EdgeAuth::default(),
        Timing {
            edge_limits: EventLimitArgs {
                typing: 0,
                ..EventLimitArgs::default()
            },
            ..Timing::default()
        },
    )
    .await;
    let (people, mut sockets) = people(&system, &["alice", "bob"]).await;
    let room = data(create_group(&sockets[0], &[&people[1]]).await)["room"].clone();
    sockets[1].next_event("room-created").await;
    // 500 toggles, the last one a false; without acks, as fast as the client can emit.
    let started = tokio::time::Instant::now();
    for n in 0..500 {
        sockets[0]
            .emit(
                "typing",
                json!({ "roomId": room["id"], "isTyping": n % 2 == 0 }),
            )
            .await;
    }
    // The edge handles a socket's events concurrently: a late toggle of the burst could
    // land after a stop (on a loaded machine, even 300 ms after it), not after the third
    // one a second apart. The final state is then out within the 1 s window.
    for _ in 0..3 {
        data(
            sockets[0]
                .call("typing-stop", json!({ "roomId": room["id"] }))
                .await,
        );
        tokio::time::sleep(Duration::from_millis(1000)).await;
    }
    let mut heard = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_millis(2500);
    while let Ok((event, payload)) =
        tokio::time::timeout_at(deadline, sockets[1].next_any_event()).await
    {
        if event == "user-typing" {
            heard.push(payload["isTyping"].clone());
        }
    }
    // At most one a second reaches the others, plus the first change at once.
    let seconds = started.elapsed().as_secs() as usize;
    assert!(
        (1..=seconds + 2).contains(&heard.len()),
        "{} user-typing events in {seconds} s",
        heard.len()
    );
    assert_eq!(
        heard.last(),
        Some(&json!(false)),
        "the final state: {heard:?}"
    );
}

#[tokio::test]
async fn a_room_cannot_be_made_with_a_thousand_members_in_one_call() {
    let system = TestSystem::spawn().await;
    let (people, sockets) = people(&system, &["alice", "bob"]).await;
    for count in [999, 101] {
        let ack = sockets[0]
            .call(
                "create-room",
                json!({ "name": "spam", "isGroup": true, "memberIds": strangers(count) }),
            )
            .await;
        assert_eq!(error_code(&ack), "INVALID_ARGUMENT", "{count}: {ack}");
        assert!(
            ack["error"]["message"]
                .as_str()
                .unwrap()
                .contains("memberIds")
        );
    }
    let room = data(create_group(&sockets[0], &[&people[1]]).await)["room"].clone();
    let ack = sockets[0]
        .call(
            "add-members",
            json!({ "roomId": room["id"], "userIds": strangers(101) }),
        )
        .await;
    assert_eq!(error_code(&ack), "INVALID_ARGUMENT", "{ack}");
    assert!(
        ack["error"]["message"]
            .as_str()
            .unwrap()
            .contains("userIds")
    );
    // The connection is fine: the room is still there, with its two members.
    let room = data(
        sockets[0]
            .call("get-room", json!({ "roomId": room["id"] }))
            .await,
    );
    assert_eq!(room["room"]["members"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn room_creation_and_additions_past_their_per_minute_limits_are_rate_limited() {
    let system = TestSystem::spawn_with_timing(
        EdgeAuth::default(),
        Timing {
            rooms_per_minute: 3,
            members_added_per_minute: 4,
            ..Timing::default()
        },
    )
    .await;
    let (people, sockets) = people(&system, &["alice", "bob", "carol", "dave", "erin"]).await;
    let everyone: Vec<&Person> = people.iter().skip(1).collect();
    // Three rooms of one member each: 3 rooms, 3 members added.
    let mut rooms = Vec::new();
    for member in everyone.iter().take(3) {
        rooms.push(data(create_group(&sockets[0], &[member]).await)["room"].clone());
    }
    let wait = retry_after(&create_group(&sockets[0], &[]).await);
    assert!((1..=60_000).contains(&wait), "{wait}");
    // One member left of the minute's 4: adding two is refused, adding one passes.
    let two = sockets[0]
        .call(
            "add-members",
            json!({ "roomId": rooms[0]["id"], "userIds": [people[3].id, people[4].id] }),
        )
        .await;
    assert!(retry_after(&two) > 0);
    data(
        sockets[0]
            .call(
                "add-members",
                json!({ "roomId": rooms[0]["id"], "userIds": [people[3].id] }),
            )
            .await,
    );
    // Per user: bob still creates rooms.
    data(create_group(&sockets[1], &[&people[2]]).await);
}

#[tokio::test]
async fn a_room_name_or_a_message_made_only_of_invisible_characters_is_refused() {
    let system = TestSystem::spawn().await;
    let (people, sockets) = people(&system, &["alice", "bob"]).await;
    let invisible = "\u{200B}\u{200D}\u{2060}\u{FEFF}";
    let ack = sockets[0]
        .call(
            "create-room",
            json!({ "name": invisible, "isGroup": true, "memberIds": [people[1].id] }),
        )
        .await;
    assert_eq!(error_code(&ack), "INVALID_ARGUMENT", "{ack}");
    assert!(ack["error"]["message"].as_str().unwrap().contains("name"));
    let room = data(create_group(&sockets[0], &[&people[1]]).await)["room"].clone();
    let sent = sockets[0]
        .call(
            "send-message",
            json!({ "chatRoomId": room["id"], "content": invisible }),
        )
        .await;
    assert_eq!(error_code(&sent), "INVALID_ARGUMENT", "{sent}");
    let visible = format!("{invisible}hi");
    let message = data(
        sockets[0]
            .call(
                "send-message",
                json!({ "chatRoomId": room["id"], "content": visible }),
            )
            .await,
    )["message"]
        .clone();
    let edited = sockets[0]
        .call(
            "edit-message",
            json!({ "messageId": message["id"], "content": invisible }),
        )
        .await;
    assert_eq!(error_code(&edited), "INVALID_ARGUMENT", "{edited}");
}

#[tokio::test]
async fn a_sync_over_a_thousand_unknown_rooms_is_refused_and_unknown_rooms_are_left_out() {
    let system = TestSystem::spawn().await;
    let (people, sockets) = people(&system, &["alice", "bob"]).await;
    let room = data(create_group(&sockets[0], &[&people[1]]).await)["room"].clone();
    data(
        sockets[0]
            .call(
                "send-message",
                json!({ "chatRoomId": room["id"], "content": "hello" }),
            )
            .await,
    );
    let rooms_of = |ids: Vec<String>| -> Value {
        Value::Object(ids.into_iter().map(|id| (id, json!(0))).collect())
    };
    let too_many = sockets[0]
        .call("sync", json!({ "rooms": rooms_of(strangers(1000)) }))
        .await;
    assert_eq!(error_code(&too_many), "INVALID_ARGUMENT", "{too_many}");
    assert!(
        too_many["error"]["message"]
            .as_str()
            .unwrap()
            .contains("rooms")
    );
    // 99 unknown rooms and a real one: the real one only.
    let mut ids = strangers(99);
    ids.push(room["id"].as_str().unwrap().to_owned());
    let synced = data(
        sockets[0]
            .call("sync", json!({ "rooms": rooms_of(ids) }))
            .await,
    );
    let synced = synced["rooms"].as_array().unwrap();
    assert_eq!(synced.len(), 1, "{synced:?}");
    assert_eq!(synced[0]["roomId"], room["id"]);
    assert_eq!(synced[0]["messages"][0]["content"], "hello");
}

#[tokio::test]
async fn history_at_a_huge_offset_is_refused() {
    let system = TestSystem::spawn().await;
    let (people, sockets) = people(&system, &["alice", "bob"]).await;
    let room = data(create_group(&sockets[0], &[&people[1]]).await)["room"].clone();
    let huge = sockets[0]
        .call(
            "get-history",
            json!({ "roomId": room["id"], "offset": 4_000_000_000u32 }),
        )
        .await;
    assert_eq!(error_code(&huge), "INVALID_ARGUMENT", "{huge}");
    assert!(
        huge["error"]["message"]
            .as_str()
            .unwrap()
            .contains("offset")
    );
    let largest = data(
        sockets[0]
            .call(
                "get-history",
                json!({ "roomId": room["id"], "offset": 10_000 }),
            )
            .await,
    );
    assert_eq!(largest["messages"], json!([]));
}
