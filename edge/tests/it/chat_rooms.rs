//! `/chat` rooms and membership end to end: groups, direct rooms, roles, public rooms, and
//! the events that follow each change.

use serde_json::{Value, json};

use crate::support::{
    SioClient, TestSystem,
    acks::{data, error_code},
    tokens::Person,
};

async fn create_group(owner: &SioClient, members: &[&Person], public: bool) -> Value {
    let ids: Vec<_> = members.iter().map(|person| person.id).collect();
    data(
        owner
            .call(
                "create-room",
                json!({ "name": "team", "isGroup": true, "memberIds": ids, "isPublic": public }),
            )
            .await,
    )["room"]
        .clone()
}

fn member_ids(room: &Value) -> Vec<String> {
    let mut ids: Vec<String> = room["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|member| member["user"]["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn a_group_is_announced_to_every_member_with_roles() {
    let system = TestSystem::spawn().await;
    let (alice, bob, carol) = (
        Person::new("alice"),
        Person::new("bob"),
        Person::new("carol"),
    );
    let alice_chat = system.connect(&alice, "/chat").await;
    let mut bob_chat = system.connect(&bob, "/chat").await;
    let mut carol_chat = system.connect(&carol, "/chat").await;

    let room = create_group(&alice_chat, &[&bob, &carol], false).await;
    assert_eq!(room["name"], "team");
    assert_eq!(room["isGroup"], json!(true));
    let owner = room["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|member| member["role"] == "OWNER")
        .unwrap();
    assert_eq!(owner["user"]["id"], json!(alice.id));
    assert_eq!(owner["user"]["username"], "alice");

    for socket in [&mut bob_chat, &mut carol_chat] {
        let created = socket.next_event("room-created").await;
        assert_eq!(created["room"]["id"], room["id"]);
    }
    let listed = data(bob_chat.call("list-rooms", json!({})).await);
    assert_eq!(listed["rooms"][0]["id"], room["id"]);
    assert_eq!(listed["rooms"][0]["unreadCount"], json!(0));
    let fetched = data(
        carol_chat
            .call("get-room", json!({ "roomId": room["id"] }))
            .await,
    );
    assert_eq!(member_ids(&fetched["room"]), member_ids(&room));
}

#[tokio::test]
async fn a_direct_room_is_one_per_pair_even_when_both_create_it_at_once() {
    let system = TestSystem::spawn().await;
    let (alice, bob) = (Person::new("alice"), Person::new("bob"));
    let alice_chat = system.connect(&alice, "/chat").await;
    let bob_chat = system.connect(&bob, "/chat").await;

    let (from_alice, from_bob) = tokio::join!(
        alice_chat.call(
            "create-room",
            json!({ "isGroup": false, "memberIds": [bob.id] })
        ),
        bob_chat.call(
            "create-room",
            json!({ "isGroup": false, "memberIds": [alice.id] })
        ),
    );
    let (from_alice, from_bob) = (data(from_alice), data(from_bob));
    assert_eq!(from_alice["room"]["id"], from_bob["room"]["id"]);
    let again = data(
        alice_chat
            .call(
                "create-room",
                json!({ "isGroup": false, "memberIds": [bob.id] }),
            )
            .await,
    );
    assert_eq!(again["room"]["id"], from_alice["room"]["id"]);

    let leave = alice_chat
        .call("leave-room", json!({ "roomId": again["room"]["id"] }))
        .await;
    assert_eq!(error_code(&leave), "FAILED_PRECONDITION");
    let add = alice_chat
        .call(
            "add-members",
            json!({ "roomId": again["room"]["id"], "userIds": [] }),
        )
        .await;
    assert_eq!(
        error_code(&add),
        "FAILED_PRECONDITION",
        "a DM's members never change"
    );
    let two = alice_chat
        .call(
            "create-room",
            json!({ "isGroup": false, "memberIds": [bob.id, uuid::Uuid::new_v4()] }),
        )
        .await;
    assert_eq!(error_code(&two), "INVALID_ARGUMENT");
}

#[tokio::test]
async fn a_direct_room_is_refused_across_a_block() {
    let system = TestSystem::spawn().await;
    let (alice, bob) = (Person::new("alice"), Person::new("bob"));
    let bob_friends = system.connect(&bob, "/friends").await;
    let alice_chat = system.connect(&alice, "/chat").await;
    data(
        bob_friends
            .call("block-user", json!({ "userId": alice.id }))
            .await,
    );

    let refused = alice_chat
        .call(
            "create-room",
            json!({ "isGroup": false, "memberIds": [bob.id] }),
        )
        .await;
    assert_eq!(error_code(&refused), "PERMISSION_DENIED");
}

#[tokio::test]
async fn admins_add_and_remove_members_and_everyone_hears_of_it() {
    let system = TestSystem::spawn().await;
    let (alice, bob, dave) = (
        Person::new("alice"),
        Person::new("bob"),
        Person::new("dave"),
    );
    let alice_chat = system.connect(&alice, "/chat").await;
    let mut bob_chat = system.connect(&bob, "/chat").await;
    let mut dave_chat = system.connect(&dave, "/chat").await;
    let room = create_group(&alice_chat, &[&bob], false).await;
    bob_chat.next_event("room-created").await;

    let not_admin = bob_chat
        .call(
            "add-members",
            json!({ "roomId": room["id"], "userIds": [dave.id] }),
        )
        .await;
    assert_eq!(error_code(&not_admin), "PERMISSION_DENIED");

    let added = data(
        alice_chat
            .call(
                "add-members",
                json!({ "roomId": room["id"], "userIds": [dave.id] }),
            )
            .await,
    );
    assert_eq!(member_ids(&added["room"]).len(), 3);
    for socket in [&mut bob_chat, &mut dave_chat] {
        let joined = socket.next_event("user-joined").await;
        assert_eq!(joined["roomId"], room["id"]);
        assert_eq!(joined["user"]["id"], json!(dave.id));
    }

    data(
        alice_chat
            .call(
                "remove-member",
                json!({ "roomId": room["id"], "userId": dave.id }),
            )
            .await,
    );
    for socket in [&mut bob_chat, &mut dave_chat] {
        let left = socket.next_event("user-left").await;
        assert_eq!(left["userId"], json!(dave.id));
    }
    data(
        alice_chat
            .call(
                "send-message",
                json!({ "chatRoomId": room["id"], "content": "after dave" }),
            )
            .await,
    );
    bob_chat.next_event("new-message").await;
    dave_chat
        .no_event("new-message", std::time::Duration::from_millis(300))
        .await;
    let outsider = dave_chat
        .call("get-room", json!({ "roomId": room["id"] }))
        .await;
    assert_eq!(
        error_code(&outsider),
        "PERMISSION_DENIED",
        "a removed member is refused"
    );
    let owner = bob_chat
        .call(
            "remove-member",
            json!({ "roomId": room["id"], "userId": alice.id }),
        )
        .await;
    assert_eq!(error_code(&owner), "PERMISSION_DENIED");
}

#[tokio::test]
async fn public_rooms_can_be_joined_private_ones_cannot() {
    let system = TestSystem::spawn().await;
    let (alice, eve) = (Person::new("alice"), Person::new("eve"));
    let alice_chat = system.connect(&alice, "/chat").await;
    let eve_chat = system.connect(&eve, "/chat").await;
    let public = create_group(&alice_chat, &[], true).await;
    let private = create_group(&alice_chat, &[], false).await;

    let refused = eve_chat
        .call("join-room", json!({ "roomId": private["id"] }))
        .await;
    assert_eq!(error_code(&refused), "PERMISSION_DENIED");
    let unknown = eve_chat
        .call("join-room", json!({ "roomId": uuid::Uuid::new_v4() }))
        .await;
    assert_eq!(error_code(&unknown), "NOT_FOUND");

    let joined = data(
        eve_chat
            .call("join-user", json!({ "roomId": public["id"] }))
            .await,
    );
    assert!(member_ids(&joined["room"]).contains(&eve.id.to_string()));
    let again = data(
        eve_chat
            .call("join-room", json!({ "roomId": public["id"] }))
            .await,
    );
    assert_eq!(
        member_ids(&again["room"]).len(),
        2,
        "joining twice changes nothing"
    );
}

#[tokio::test]
async fn an_owner_who_leaves_hands_ownership_to_an_admin_or_the_longest_member() {
    let system = TestSystem::spawn().await;
    let (alice, bob, carol) = (
        Person::new("alice"),
        Person::new("bob"),
        Person::new("carol"),
    );
    let alice_chat = system.connect(&alice, "/chat").await;
    let mut bob_chat = system.connect(&bob, "/chat").await;
    // Users become known when they first connect.
    let _carol_chat = system.connect(&carol, "/chat").await;
    let room = create_group(&alice_chat, &[&bob, &carol], false).await;

    data(
        alice_chat
            .call("leave-room", json!({ "roomId": room["id"] }))
            .await,
    );
    let left = bob_chat.next_event("user-left").await;
    assert_eq!(left["userId"], json!(alice.id));
    let after = data(
        bob_chat
            .call("get-room", json!({ "roomId": room["id"] }))
            .await,
    );
    let owners: Vec<&Value> = after["room"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|member| member["role"] == "OWNER")
        .collect();
    assert_eq!(owners.len(), 1);
    assert_ne!(owners[0]["user"]["id"], json!(alice.id));
    let gone = alice_chat
        .call("get-room", json!({ "roomId": room["id"] }))
        .await;
    assert_eq!(error_code(&gone), "PERMISSION_DENIED");
}

#[tokio::test]
async fn a_room_cannot_include_someone_who_never_connected() {
    let system = TestSystem::spawn().await;
    let alice = Person::new("alice");
    let chat = system.connect(&alice, "/chat").await;
    let stranger = Person::new("never-connected");
    let ack = chat
        .call(
            "create-room",
            json!({ "isGroup": true, "memberIds": [stranger.id] }),
        )
        .await;
    assert_eq!(error_code(&ack), "NOT_FOUND");
}

#[tokio::test]
async fn room_payloads_are_validated_naming_the_field() {
    let system = TestSystem::spawn().await;
    let alice = Person::new("alice");
    let chat = system.connect(&alice, "/chat").await;
    let cases = [
        ("create-room", json!({ "memberIds": [] }), "isGroup"),
        (
            "create-room",
            json!({ "isGroup": true, "name": "" }),
            "name",
        ),
        (
            "create-room",
            json!({ "isGroup": true, "memberIds": ["x"] }),
            "memberIds",
        ),
        ("get-room", json!({ "roomId": 7 }), "roomId"),
        ("list-rooms", json!({ "limit": 0 }), "limit"),
        ("list-rooms", json!({ "cursor": "nope" }), "cursor"),
    ];
    for (event, payload, field) in cases {
        let ack = chat.call(event, payload.clone()).await;
        assert_eq!(error_code(&ack), "INVALID_ARGUMENT", "{event} {payload}");
        assert!(
            ack["error"]["message"].as_str().unwrap().contains(field),
            "{ack}"
        );
    }
}
