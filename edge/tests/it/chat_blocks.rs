//! Blocks in shared rooms: a user never hears a user they blocked live (messages, typing,
//! edits), in any room, while everyone else hears everything; what they read later marks
//! those messages `senderBlocked`.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{SioClient, TestSystem, acks::data, tokens::Person};

/// `blocker` blocks `blocked` on a `/friends` socket of their own.
async fn block(system: &TestSystem, blocker: &Person, blocked: &Person) {
    let friends = system.connect(blocker, "/friends").await;
    data(
        friends
            .call("block-user", json!({ "userId": blocked.id }))
            .await,
    );
    friends.disconnect().await;
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

/// `sender` sends, types, stops typing and edits in `room`, as a blocked user would to
/// reach the blocker; returns the message.
async fn speak_type_and_edit(sender: &SioClient, room: &Value) -> Value {
    let sent = send(sender, room, "can you hear me?").await;
    for event in ["typing-start", "typing-stop"] {
        data(sender.call(event, json!({ "roomId": room["id"] })).await);
    }
    data(
        sender
            .call(
                "edit-message",
                json!({ "messageId": sent["id"], "content": "can you hear me now?" }),
            )
            .await,
    );
    sent
}

/// Every event `socket` receives until the `new-message` with id `marker`.
async fn events_until(socket: &mut SioClient, marker: &Value) -> Vec<(String, Value)> {
    let mut seen = Vec::new();
    loop {
        let (event, payload) = socket.next_any_event().await;
        if event == "new-message" && payload["id"] == *marker {
            return seen;
        }
        seen.push((event, payload));
    }
}

/// Whether any of `events` comes from `user`: a message or edit they sent, their typing.
fn any_from(events: &[(String, Value)], user: &Person) -> Option<String> {
    let id = json!(user.id);
    events
        .iter()
        .find(|(_, payload)| {
            payload["sender"]["id"] == id
                || payload["userId"] == id
                || payload["message"]["sender"]["id"] == id
        })
        .map(|(event, payload)| format!("{event} {payload}"))
}

/// What `events` hold of `user`'s message, typing and edit: the third member's view.
fn heard_of(events: &[(String, Value)], user: &Person) -> Vec<String> {
    let id = json!(user.id);
    events
        .iter()
        .filter_map(|(event, payload)| match event.as_str() {
            "new-message" if payload["sender"]["id"] == id => Some(event.clone()),
            "user-typing" if payload["userId"] == id => {
                Some(format!("{event} {}", payload["isTyping"]))
            }
            "message-updated" if payload["message"]["sender"]["id"] == id => Some(event.clone()),
            _ => None,
        })
        .collect()
}

/// `bob`'s events as carol, who blocked nobody, hears them; alice hears none.
async fn only_the_blocker_misses_them(
    carol_chat: &mut SioClient,
    alice_chat: &mut SioClient,
    room: &Value,
    bob: &Person,
) {
    // Typing is relayed at most once a second, the last state at the end of the second:
    // the marker goes out once every event of bob's is out.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let marker = send(carol_chat, room, "marker").await;
    let carol_heard = events_until(carol_chat, &marker["id"]).await;
    let mut of_bob = heard_of(&carol_heard, bob);
    of_bob.sort();
    assert_eq!(
        of_bob,
        [
            "message-updated",
            "new-message",
            "user-typing false",
            "user-typing true"
        ],
        "carol hears everything"
    );
    let alice_heard = events_until(alice_chat, &marker["id"]).await;
    assert_eq!(any_from(&alice_heard, bob), None, "alice heard bob");
}

#[tokio::test]
async fn a_blocked_user_cannot_reach_the_blocker_through_a_group() {
    let system = TestSystem::spawn().await;
    let (alice, bob, carol) = (
        Person::new("alice"),
        Person::new("bob"),
        Person::new("carol"),
    );
    let mut alice_chat = system.connect(&alice, "/chat").await;
    let bob_chat = system.connect(&bob, "/chat").await;
    let mut carol_chat = system.connect(&carol, "/chat").await;
    block(&system, &alice, &bob).await;

    // A third user brings them together: neither of them made the room.
    let room = data(
        carol_chat
            .call(
                "create-room",
                json!({ "name": "trio", "isGroup": true, "memberIds": [alice.id, bob.id] }),
            )
            .await,
    )["room"]
        .clone();
    alice_chat.next_event("room-created").await;
    carol_chat.next_event("room-created").await;

    let sent = speak_type_and_edit(&bob_chat, &room).await;
    only_the_blocker_misses_them(&mut carol_chat, &mut alice_chat, &room, &bob).await;

    // Reads show bob's message, marked, so that alice's client can fold it.
    let history = data(
        alice_chat
            .call("get-history", json!({ "roomId": room["id"] }))
            .await,
    );
    let messages = history["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0]["content"], "marker");
    assert_eq!(
        messages[0].get("senderBlocked"),
        None,
        "carol is not blocked"
    );
    assert_eq!(messages[1]["id"], sent["id"]);
    assert_eq!(messages[1]["senderBlocked"], json!(true));
    let synced = data(
        alice_chat
            .call(
                "sync",
                json!({ "rooms": { room["id"].as_str().unwrap(): 0 } }),
            )
            .await,
    );
    let synced = &synced["rooms"][0]["messages"];
    assert_eq!(synced[0]["senderBlocked"], json!(true));
    assert_eq!(synced[1].get("senderBlocked"), None);
    // Carol blocked nobody: nothing is marked for her.
    let hers = data(
        carol_chat
            .call("get-history", json!({ "roomId": room["id"] }))
            .await,
    );
    assert!(
        hers["messages"]
            .as_array()
            .unwrap()
            .iter()
            .all(|message| message.get("senderBlocked").is_none()),
        "{hers}"
    );
    // Bob's message is the room's newest: list-rooms marks it for alice.
    send(&bob_chat, &room, "last word").await;
    let listed = data(alice_chat.call("list-rooms", json!({})).await);
    assert_eq!(
        listed["rooms"][0]["lastMessage"]["senderBlocked"],
        json!(true)
    );
}

#[tokio::test]
async fn a_blocked_user_cannot_reach_the_blocker_through_a_public_room() {
    let system = TestSystem::spawn().await;
    let (alice, bob, carol) = (
        Person::new("alice"),
        Person::new("bob"),
        Person::new("carol"),
    );
    let mut alice_chat = system.connect(&alice, "/chat").await;
    let bob_chat = system.connect(&bob, "/chat").await;
    let mut carol_chat = system.connect(&carol, "/chat").await;
    let room = data(
        alice_chat
            .call(
                "create-room",
                json!({ "name": "lobby", "isGroup": true, "memberIds": [], "isPublic": true }),
            )
            .await,
    )["room"]
        .clone();
    for socket in [&bob_chat, &carol_chat] {
        data(
            socket
                .call("join-room", json!({ "roomId": room["id"] }))
                .await,
        );
    }
    // Bob spoke before the block: his blocks are known to chat-svc, and the block must
    // reach it through friends-svc's graph stream.
    let before = send(&bob_chat, &room, "hello all").await;
    assert_eq!(
        alice_chat.next_event("new-message").await["id"],
        before["id"]
    );
    assert_eq!(
        carol_chat.next_event("new-message").await["id"],
        before["id"]
    );
    block(&system, &alice, &bob).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    speak_type_and_edit(&bob_chat, &room).await;
    only_the_blocker_misses_them(&mut carol_chat, &mut alice_chat, &room, &bob).await;

    // Alice still hears carol's typing: only the blocked user is left out.
    data(
        carol_chat
            .call("typing", json!({ "roomId": room["id"], "isTyping": true }))
            .await,
    );
    assert_eq!(
        alice_chat.next_event("user-typing").await["userId"],
        json!(carol.id)
    );
    // A block in a shared room refuses nothing: bob still writes, carol still reads.
    let still = send(&bob_chat, &room, "anyone?").await;
    assert_eq!(
        carol_chat.next_event("new-message").await["id"],
        still["id"]
    );
}
