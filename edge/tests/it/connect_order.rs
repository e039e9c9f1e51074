//! A `/chat` socket is in its rooms before its connect is acknowledged: a message committed
//! right after the `connect` reaches it live, so a client that runs `sync` on `connect` can
//! miss nothing between the two.

use serde_json::json;
use sqlx::{Connection, PgConnection};

use crate::{
    official_client::run_script,
    support::{TestSystem, acks::data, tokens::Person},
};

/// Connects tried.
const CONNECTS: usize = 10;

/// Rooms bob is also in, written straight into chat-svc's tables: listing them takes the
/// edge several pages (5 000 ids each), so that the joins take long enough for a message
/// sent at the acknowledgement to land while they are still going on, were they done after
/// it (as they were).
const FILLER_ROOMS: i64 = 40_000;

#[tokio::test]
async fn a_message_sent_the_moment_a_socket_connects_reaches_it_live() {
    let system = TestSystem::spawn().await;
    let (alice, bob) = (Person::new("alice"), Person::new("bob"));
    let alice_chat = system.connect(&alice, "/chat").await;
    drop(system.connect(&bob, "/chat").await);
    let room = data(
        alice_chat
            .call(
                "create-room",
                json!({ "name": "team", "isGroup": true, "memberIds": [bob.id] }),
            )
            .await,
    )["room"]["id"]
        .clone();
    let mut db = PgConnection::connect(&system.database.url).await.unwrap();
    sqlx::query(
        "WITH filler AS (
             INSERT INTO chat.rooms (id, name, is_group)
             SELECT gen_random_uuid(), 'filler', true FROM generate_series(1, $1)
             RETURNING id)
         INSERT INTO chat.members (room_id, user_id, role) SELECT id, $2, 'MEMBER' FROM filler",
    )
    .bind(FILLER_ROOMS)
    .bind(bob.id)
    .execute(&mut db)
    .await
    .unwrap();

    for attempt in 0..CONNECTS {
        let mut bob_chat = system.connect(&bob, "/chat").await;
        let content = format!("sent at connect {attempt}");
        data(
            alice_chat
                .call(
                    "send-message",
                    json!({ "chatRoomId": room, "content": content }),
                )
                .await,
        );
        let message = bob_chat.next_event("new-message").await;
        assert_eq!(message["content"], content.as_str(), "{message}");
        bob_chat.disconnect().await;
    }
}

#[tokio::test]
async fn a_chat_socket_whose_rooms_cannot_be_listed_is_closed_not_left_deaf() {
    let mut system = TestSystem::spawn().await;
    let alice = Person::new("alice");
    assert!(system.chat.stop().await, "chat-svc stops");
    let plan = json!({
        "url": system.edge_url(),
        "scenario": "deaf",
        "token": alice.token,
        "waitMs": 8000,
    });

    let report = run_script("door.mjs", plan).await;

    // Closed (after the retries), so that the official client would reconnect by itself.
    assert_eq!(report["reason"], "transport close", "{report}");
    assert_eq!(report["connectedAtEnd"], false, "{report}");
}
