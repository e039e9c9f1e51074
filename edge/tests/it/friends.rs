//! `/friends` end to end: two people find each other, become friends, block and unblock, with
//! every refusal the rules call for.

use std::{collections::HashSet, time::Duration};

use serde_json::{Value, json};

use crate::support::{
    SioClient, TestSystem,
    acks::{befriend_on, data, error_code},
    tokens::Person,
};

async fn friends_of(client: &SioClient) -> Vec<String> {
    let listed = data(client.call("list-friends", json!({})).await);
    listed["friends"]
        .as_array()
        .unwrap()
        .iter()
        .map(|friend| friend["user"]["username"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn two_people_find_each_other_and_become_friends_on_every_device() {
    let system = TestSystem::spawn().await;
    let (alice, bob) = (Person::new("alice"), Person::new("Bob"));
    let mut alice_phone = system.connect(&alice, "/friends").await;
    let mut bob_phone = system.connect(&bob, "/friends").await;
    let mut bob_laptop = system.connect(&bob, "/friends").await;

    let found = data(
        alice_phone
            .call("search-users", json!({ "query": "bO" }))
            .await,
    );
    assert_eq!(
        found["users"],
        json!([{ "id": bob.id, "username": "Bob", "avatar": null }])
    );

    let sent = data(
        alice_phone
            .call("send-friend-request", json!({ "userId": bob.id }))
            .await,
    );
    let request = &sent["request"];
    assert_eq!(request["from"]["id"], json!(alice.id));
    assert_eq!(request["to"]["id"], json!(bob.id));
    assert!(request["createdAt"].as_str().unwrap().ends_with('Z'));

    for device in [&mut bob_phone, &mut bob_laptop] {
        let received = device.next_event("friend-request-received").await;
        assert_eq!(received["request"]["id"], request["id"]);
        assert_eq!(received["request"]["from"]["username"], "alice");
    }
    let listed = data(bob_phone.call("list-friend-requests", json!({})).await);
    assert_eq!(listed["incoming"][0]["id"], request["id"]);
    assert_eq!(listed["outgoing"], json!([]));

    let accepted = data(
        bob_phone
            .call(
                "accept-friend-request",
                json!({ "requestId": request["id"] }),
            )
            .await,
    );
    assert_eq!(accepted["friend"]["user"]["id"], json!(alice.id));

    let told = alice_phone.next_event("friend-request-accepted").await;
    assert_eq!(told["requestId"], request["id"]);
    assert_eq!(
        told["friend"]["user"]["id"],
        json!(bob.id),
        "alice hears about bob"
    );
    let told = bob_laptop.next_event("friend-request-accepted").await;
    assert_eq!(
        told["friend"]["user"]["id"],
        json!(alice.id),
        "bob hears about alice"
    );

    assert_eq!(friends_of(&alice_phone).await, vec!["Bob"]);
    assert_eq!(friends_of(&bob_laptop).await, vec!["alice"]);
}

#[tokio::test]
async fn requests_by_username_ignore_case_and_crossing_requests_make_friends_at_once() {
    let system = TestSystem::spawn().await;
    let (alice, bob) = (Person::new("alice"), Person::new("bob"));
    let mut alice_socket = system.connect(&alice, "/friends").await;
    let mut bob_socket = system.connect(&bob, "/friends").await;

    data(
        alice_socket
            .call("send-friend-request", json!({ "username": "BOB" }))
            .await,
    );
    bob_socket.next_event("friend-request-received").await;
    let back = data(
        bob_socket
            .call("send-friend-request", json!({ "username": "Alice" }))
            .await,
    );
    assert_eq!(
        back["request"]["from"]["id"],
        json!(alice.id),
        "bob accepted alice's request"
    );

    for socket in [&mut alice_socket, &mut bob_socket] {
        socket.next_event("friend-request-accepted").await;
    }
    assert_eq!(friends_of(&alice_socket).await, vec!["bob"]);
}

#[tokio::test]
async fn every_rule_of_friend_requests_refuses_with_its_code() {
    let system = TestSystem::spawn().await;
    let (alice, bob, eve) = (Person::new("alice"), Person::new("bob"), Person::new("eve"));
    let alice_socket = system.connect(&alice, "/friends").await;
    let bob_socket = system.connect(&bob, "/friends").await;
    let eve_socket = system.connect(&eve, "/friends").await;

    let to_self = alice_socket
        .call("send-friend-request", json!({ "userId": alice.id }))
        .await;
    assert_eq!(error_code(&to_self), "INVALID_ARGUMENT");
    let nobody = alice_socket
        .call(
            "send-friend-request",
            json!({ "userId": uuid::Uuid::new_v4() }),
        )
        .await;
    assert_eq!(error_code(&nobody), "NOT_FOUND");
    let no_target = alice_socket.call("send-friend-request", json!({})).await;
    assert_eq!(error_code(&no_target), "INVALID_ARGUMENT");

    let request = data(
        alice_socket
            .call("send-friend-request", json!({ "userId": bob.id }))
            .await,
    )["request"]["id"]
        .clone();
    let again = alice_socket
        .call("send-friend-request", json!({ "userId": bob.id }))
        .await;
    assert_eq!(error_code(&again), "ALREADY_EXISTS");

    let by_sender = alice_socket
        .call("accept-friend-request", json!({ "requestId": request }))
        .await;
    assert_eq!(error_code(&by_sender), "PERMISSION_DENIED");
    let declined_by_sender = alice_socket
        .call("decline-friend-request", json!({ "requestId": request }))
        .await;
    assert_eq!(error_code(&declined_by_sender), "PERMISSION_DENIED");
    let cancelled_by_receiver = bob_socket
        .call("cancel-friend-request", json!({ "requestId": request }))
        .await;
    assert_eq!(error_code(&cancelled_by_receiver), "PERMISSION_DENIED");
    let by_stranger = eve_socket
        .call("accept-friend-request", json!({ "requestId": request }))
        .await;
    assert_eq!(
        error_code(&by_stranger),
        "NOT_FOUND",
        "a stranger learns nothing"
    );

    data(
        bob_socket
            .call("accept-friend-request", json!({ "requestId": request }))
            .await,
    );
    let friends_already = alice_socket
        .call("send-friend-request", json!({ "userId": bob.id }))
        .await;
    assert_eq!(error_code(&friends_already), "ALREADY_EXISTS");
    let gone = bob_socket
        .call("accept-friend-request", json!({ "requestId": request }))
        .await;
    assert_eq!(error_code(&gone), "NOT_FOUND");
}

#[tokio::test]
async fn malformed_payloads_are_refused_naming_the_field() {
    let system = TestSystem::spawn().await;
    let alice = Person::new("alice");
    let socket = system.connect(&alice, "/friends").await;

    let cases = [
        ("send-friend-request", json!({ "userId": 5 }), "userId"),
        (
            "send-friend-request",
            json!({ "userId": "not-a-uuid" }),
            "userId",
        ),
        ("accept-friend-request", json!({}), "requestId"),
        ("remove-friend", json!({ "userId": null }), "userId"),
        ("search-users", json!({ "query": 1 }), "query"),
        (
            "search-users",
            json!({ "query": "a", "limit": 51 }),
            "limit",
        ),
        (
            "search-users",
            json!({ "query": "a", "limit": -1 }),
            "limit",
        ),
        ("search-users", json!({ "query": "" }), "query"),
        ("block-user", json!("bob"), "payload"),
    ];
    for (event, payload, field) in cases {
        let ack = socket.call(event, payload.clone()).await;
        assert_eq!(error_code(&ack), "INVALID_ARGUMENT", "{event} {payload}");
        let message = ack["error"]["message"].as_str().unwrap();
        assert!(message.contains(field), "{event} {payload}: {message}");
    }
    // Still connected and served.
    assert_eq!(friends_of(&socket).await, Vec::<String>::new());
}

#[tokio::test]
async fn cancelling_tells_the_receiver_and_declining_tells_nobody() {
    let system = TestSystem::spawn().await;
    let (alice, bob) = (Person::new("alice"), Person::new("bob"));
    let mut alice_socket = system.connect(&alice, "/friends").await;
    let mut bob_socket = system.connect(&bob, "/friends").await;

    let first = data(
        alice_socket
            .call("send-friend-request", json!({ "userId": bob.id }))
            .await,
    );
    bob_socket.next_event("friend-request-received").await;
    data(
        alice_socket
            .call(
                "cancel-friend-request",
                json!({ "requestId": first["request"]["id"] }),
            )
            .await,
    );
    let cancelled = bob_socket.next_event("friend-request-cancelled").await;
    assert_eq!(cancelled["requestId"], first["request"]["id"]);

    // Bob may ask back at once (the cooldown after a cancel holds alice only).
    let second = data(
        bob_socket
            .call("send-friend-request", json!({ "userId": alice.id }))
            .await,
    );
    alice_socket.next_event("friend-request-received").await;
    data(
        alice_socket
            .call(
                "decline-friend-request",
                json!({ "requestId": second["request"]["id"] }),
            )
            .await,
    );
    // The next event bob gets is carol's request: nothing was sent about the decline.
    let carol = Person::new("carol");
    let carol_socket = system.connect(&carol, "/friends").await;
    data(
        carol_socket
            .call("send-friend-request", json!({ "userId": bob.id }))
            .await,
    );
    let (event, _) = bob_socket.next_any_event().await;
    assert_eq!(event, "friend-request-received");
}

#[tokio::test]
async fn removing_a_friend_tells_the_other() {
    let system = TestSystem::spawn().await;
    let (alice, bob) = (Person::new("alice"), Person::new("bob"));
    let alice_socket = system.connect(&alice, "/friends").await;
    let mut bob_socket = system.connect(&bob, "/friends").await;
    befriend_on(&alice_socket, &bob_socket, &bob).await;

    data(
        alice_socket
            .call("remove-friend", json!({ "userId": bob.id }))
            .await,
    );
    let removed = bob_socket.next_event("friend-removed").await;
    assert_eq!(removed["userId"], json!(alice.id));
    assert_eq!(friends_of(&bob_socket).await, Vec::<String>::new());
    let again = alice_socket
        .call("remove-friend", json!({ "userId": bob.id }))
        .await;
    assert_eq!(error_code(&again), "NOT_FOUND");
}

#[tokio::test]
async fn blocking_ends_everything_between_two_people_and_unblocking_restores_nothing() {
    let system = TestSystem::spawn().await;
    let (alice, bob) = (Person::new("alice"), Person::new("bob"));
    let alice_socket = system.connect(&alice, "/friends").await;
    let mut bob_socket = system.connect(&bob, "/friends").await;
    befriend_on(&alice_socket, &bob_socket, &bob).await;

    data(
        alice_socket
            .call("block-user", json!({ "userId": bob.id }))
            .await,
    );
    let removed = bob_socket.next_event("friend-removed").await;
    assert_eq!(removed["userId"], json!(alice.id));
    assert_eq!(friends_of(&alice_socket).await, Vec::<String>::new());
    let blocked = data(alice_socket.call("list-blocked", json!({})).await);
    assert_eq!(blocked["users"][0]["id"], json!(bob.id));

    let refused = bob_socket
        .call("send-friend-request", json!({ "userId": alice.id }))
        .await;
    assert_eq!(error_code(&refused), "PERMISSION_DENIED");
    let search = data(
        bob_socket
            .call("search-users", json!({ "query": "ali" }))
            .await,
    );
    assert_eq!(
        search["users"],
        json!([]),
        "the blocker is hidden from the blocked"
    );
    let own = alice_socket
        .call("send-friend-request", json!({ "userId": bob.id }))
        .await;
    assert_eq!(error_code(&own), "FAILED_PRECONDITION", "unblock first");

    data(
        alice_socket
            .call("unblock-user", json!({ "userId": bob.id }))
            .await,
    );
    assert_eq!(
        friends_of(&alice_socket).await,
        Vec::<String>::new(),
        "no friendship comes back"
    );
    assert_eq!(
        data(alice_socket.call("list-blocked", json!({})).await)["users"],
        json!([])
    );
    data(
        bob_socket
            .call("send-friend-request", json!({ "userId": alice.id }))
            .await,
    );
}

#[tokio::test]
async fn blocking_removes_pending_requests_in_both_directions() {
    let system = TestSystem::spawn().await;
    let (alice, bob, carol) = (
        Person::new("alice"),
        Person::new("bob"),
        Person::new("carol"),
    );
    let alice_socket = system.connect(&alice, "/friends").await;
    let mut bob_socket = system.connect(&bob, "/friends").await;
    let carol_socket = system.connect(&carol, "/friends").await;

    data(
        alice_socket
            .call("send-friend-request", json!({ "userId": bob.id }))
            .await,
    );
    bob_socket.next_event("friend-request-received").await;
    data(
        alice_socket
            .call("block-user", json!({ "userId": bob.id }))
            .await,
    );
    let cancelled = bob_socket.next_event("friend-request-cancelled").await;
    assert!(cancelled["requestId"].is_string());

    data(
        carol_socket
            .call("send-friend-request", json!({ "userId": alice.id }))
            .await,
    );
    data(
        alice_socket
            .call("block-user", json!({ "userId": carol.id }))
            .await,
    );
    let requests = data(alice_socket.call("list-friend-requests", json!({})).await);
    assert_eq!(
        requests,
        json!({ "incoming": [], "outgoing": [], "nextCursor": null })
    );
    let requests = data(bob_socket.call("list-friend-requests", json!({})).await);
    assert_eq!(
        requests,
        json!({ "incoming": [], "outgoing": [], "nextCursor": null })
    );
}

// --- hardening (docs/decisions/0008-friends-hardening.md) ---

#[tokio::test]
async fn a_look_alike_of_a_held_name_connects_with_a_suffix_and_cannot_pass_for_its_holder() {
    let system = TestSystem::spawn().await;
    let (alice, bob) = (Person::new("alice"), Person::new("bob"));
    let _alice_socket = system.connect(&alice, "/friends").await;
    let mut bob_socket = system.connect(&bob, "/friends").await;
    // Cyrillic а (U+0430), then a right-to-left override: both still connect.
    let impostor = Person::new("\u{0430}lice");
    let impostor_socket = system.connect(&impostor, "/friends").await;
    let reversed = Person::new("\u{202E}eve");
    let reversed_socket = system.connect(&reversed, "/friends").await;

    for socket in [&impostor_socket, &reversed_socket] {
        data(
            socket
                .call("send-friend-request", json!({ "userId": bob.id }))
                .await,
        );
    }
    let suffix: String = impostor.id.simple().to_string().chars().take(4).collect();
    let mut seen = HashSet::new();
    for _ in 0..2 {
        let received = bob_socket.next_event("friend-request-received").await;
        seen.insert(
            received["request"]["from"]["username"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(
        seen,
        HashSet::from([format!("\u{0430}lice-{suffix}"), "eve".to_owned()])
    );
}

/// Every page of `event` with `limit`, following `nextCursor` until it is null; the items of
/// `key` (and of `also`, when the answer holds two lists) by their `pick`ed id.
async fn every_page(
    client: &SioClient,
    event: &str,
    limit: u32,
    keys: &[&str],
    pick: fn(&Value) -> String,
) -> (Vec<String>, usize) {
    let mut seen = Vec::new();
    let mut cursor = Value::Null;
    let mut pages = 0;
    loop {
        let page = data(
            client
                .call(event, json!({ "limit": limit, "cursor": cursor }))
                .await,
        );
        pages += 1;
        for key in keys {
            let items = page[*key].as_array().unwrap();
            assert!(items.len() <= limit as usize, "{event} {key}: {page}");
            seen.extend(items.iter().map(pick));
        }
        cursor = page["nextCursor"].clone();
        if cursor.is_null() {
            return (seen, pages);
        }
        assert!(pages < 20, "{event} never ends");
    }
}

fn assert_each_once(seen: &[String], expected: &[String]) {
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "none twice: {seen:?}");
    assert_eq!(unique, expected.iter().collect(), "none missing");
}

#[tokio::test]
async fn a_user_with_more_friends_than_a_page_gets_every_one_of_them_once_by_paging() {
    let system = TestSystem::spawn().await;
    let alice = Person::new("alice");
    let alice_socket = system.connect(&alice, "/friends").await;
    let mut friend_ids = Vec::new();
    for n in 0..7 {
        let friend = Person::new(&format!("friend{n}"));
        let socket = system.connect(&friend, "/friends").await;
        befriend_on(&socket, &alice_socket, &alice).await;
        friend_ids.push(friend.id.to_string());
    }
    let (seen, pages) = every_page(&alice_socket, "list-friends", 3, &["friends"], |f| {
        f["user"]["id"].as_str().unwrap().to_owned()
    })
    .await;
    assert_each_once(&seen, &friend_ids);
    assert_eq!(pages, 3, "3 + 3 + 1, and the last page says it is the last");

    // Four ask alice, she asks two and blocks four: the other lists page the same way.
    let mut incoming = Vec::new();
    for n in 0..4 {
        let asker = Person::new(&format!("asker{n}"));
        let socket = system.connect(&asker, "/friends").await;
        let sent = data(
            socket
                .call("send-friend-request", json!({ "userId": alice.id }))
                .await,
        );
        incoming.push(sent["request"]["id"].as_str().unwrap().to_owned());
    }
    let mut outgoing = Vec::new();
    let mut blocked = Vec::new();
    for n in 0..6 {
        let other = Person::new(&format!("other{n}"));
        let _socket = system.connect(&other, "/friends").await;
        if n < 2 {
            let sent = data(
                alice_socket
                    .call("send-friend-request", json!({ "userId": other.id }))
                    .await,
            );
            outgoing.push(sent["request"]["id"].as_str().unwrap().to_owned());
        } else {
            data(
                alice_socket
                    .call("block-user", json!({ "userId": other.id }))
                    .await,
            );
            blocked.push(other.id.to_string());
        }
    }
    let (seen, _) = every_page(
        &alice_socket,
        "list-friend-requests",
        3,
        &["incoming", "outgoing"],
        |r| r["id"].as_str().unwrap().to_owned(),
    )
    .await;
    let requests: Vec<String> = incoming.iter().chain(&outgoing).cloned().collect();
    assert_each_once(&seen, &requests);
    let (seen, _) = every_page(&alice_socket, "list-blocked", 3, &["users"], |u| {
        u["id"].as_str().unwrap().to_owned()
    })
    .await;
    assert_each_once(&seen, &blocked);

    // Without a limit, one page holds them all (the default is larger) and says it is the last.
    let all = data(alice_socket.call("list-friends", json!({})).await);
    assert_eq!(all["friends"].as_array().unwrap().len(), 7);
    assert_eq!(all["nextCursor"], Value::Null);
}

#[tokio::test]
async fn a_forged_cursor_or_limit_on_the_friends_lists_is_invalid_argument() {
    let system = TestSystem::spawn().await;
    let alice = Person::new("alice");
    let socket = system.connect(&alice, "/friends").await;
    for event in ["list-friends", "list-friend-requests", "list-blocked"] {
        for payload in [
            json!({ "cursor": "not a cursor" }),
            json!({ "cursor": "x".repeat(2000) }),
            json!({ "cursor": 5 }),
            json!({ "limit": 0 }),
            json!({ "limit": 100_000 }),
        ] {
            let ack = socket.call(event, payload.clone()).await;
            assert_eq!(error_code(&ack), "INVALID_ARGUMENT", "{event} {payload}");
        }
    }
    assert_eq!(
        friends_of(&socket).await,
        Vec::<String>::new(),
        "still served"
    );
}

/// The `retryAfterMs` of a `RATE_LIMITED` ack.
fn retry_after_ms(ack: &Value) -> u64 {
    assert_eq!(error_code(ack), "RATE_LIMITED", "{ack}");
    ack["error"]["retryAfterMs"].as_u64().unwrap()
}

#[tokio::test]
async fn a_declined_requester_cannot_send_again_at_once_and_the_target_hears_nothing() {
    let system = TestSystem::spawn().await;
    let (alice, bob) = (Person::new("alice"), Person::new("bob"));
    let mut alice_socket = system.connect(&alice, "/friends").await;
    let mut bob_socket = system.connect(&bob, "/friends").await;
    let sent = data(
        alice_socket
            .call("send-friend-request", json!({ "userId": bob.id }))
            .await,
    );
    bob_socket.next_event("friend-request-received").await;
    data(
        bob_socket
            .call(
                "decline-friend-request",
                json!({ "requestId": sent["request"]["id"] }),
            )
            .await,
    );

    for target in [json!({ "userId": bob.id }), json!({ "username": "BOB" })] {
        let again = alice_socket.call("send-friend-request", target).await;
        let wait = retry_after_ms(&again);
        assert!(wait > 0 && wait <= 3_600_000, "{again}");
    }
    bob_socket
        .no_event("friend-request-received", Duration::from_millis(300))
        .await;
    assert_eq!(
        data(bob_socket.call("list-friend-requests", json!({})).await)["incoming"],
        json!([])
    );

    // Bob changes his mind: asking back works, and alice can accept.
    let back = data(
        bob_socket
            .call("send-friend-request", json!({ "userId": alice.id }))
            .await,
    );
    alice_socket.next_event("friend-request-received").await;
    data(
        alice_socket
            .call(
                "accept-friend-request",
                json!({ "requestId": back["request"]["id"] }),
            )
            .await,
    );
    assert_eq!(friends_of(&alice_socket).await, vec!["bob"]);
}

#[tokio::test]
async fn a_request_and_cancel_loop_rings_the_target_once() {
    let system = TestSystem::spawn().await;
    let (alice, bob) = (Person::new("alice"), Person::new("bob"));
    let alice_socket = system.connect(&alice, "/friends").await;
    let mut bob_socket = system.connect(&bob, "/friends").await;
    let sent = data(
        alice_socket
            .call("send-friend-request", json!({ "userId": bob.id }))
            .await,
    );
    data(
        alice_socket
            .call(
                "cancel-friend-request",
                json!({ "requestId": sent["request"]["id"] }),
            )
            .await,
    );
    for _ in 0..3 {
        let again = alice_socket
            .call("send-friend-request", json!({ "userId": bob.id }))
            .await;
        assert!(retry_after_ms(&again) > 0);
    }
    bob_socket.next_event("friend-request-received").await;
    bob_socket.next_event("friend-request-cancelled").await;
    bob_socket
        .no_event("friend-request-received", Duration::from_millis(300))
        .await;
}
