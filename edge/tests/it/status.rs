//! `/status` end to end: friends see each other's status change once per change, whatever
//! the devices; strangers see nothing; last seen outlives presence-svc.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{
    SioClient, TestSystem,
    acks::{befriend, data},
    tokens::Person,
};

async fn status_of(watcher: &mut SioClient, who: &Person) -> Value {
    let changed = watcher.next_event("friend-status-changed").await;
    assert_eq!(changed["userId"], json!(who.id), "{changed}");
    changed
}

#[tokio::test]
async fn friends_see_online_away_invisible_and_offline_once_per_change() {
    let system = TestSystem::spawn().await;
    let (alice, bob, carol) = (
        Person::new("alice"),
        Person::new("bob"),
        Person::new("carol"),
    );
    befriend(&system, &alice, &bob).await;
    let mut bob_watch = system.connect(&bob, "/status").await;
    let mut carol_watch = system.connect(&carol, "/status").await;

    let phone = system.connect(&alice, "/status").await;
    assert_eq!(status_of(&mut bob_watch, &alice).await["status"], "ONLINE");
    let laptop = system.connect(&alice, "/status").await;

    let ack = data(
        phone
            .call("update-status", json!({ "status": "AWAY" }))
            .await,
    );
    assert_eq!(ack, json!({ "status": "AWAY" }));
    // The next change bob hears is AWAY: the laptop's arrival told him nothing.
    assert_eq!(status_of(&mut bob_watch, &alice).await["status"], "AWAY");

    data(
        laptop
            .call("update-status", json!({ "status": "INVISIBLE" }))
            .await,
    );
    assert_eq!(status_of(&mut bob_watch, &alice).await["status"], "OFFLINE");
    data(
        laptop
            .call("update-status", json!({ "status": "ONLINE" }))
            .await,
    );
    assert_eq!(status_of(&mut bob_watch, &alice).await["status"], "ONLINE");

    phone.disconnect().await;
    laptop.disconnect().await;
    let offline = status_of(&mut bob_watch, &alice).await;
    assert_eq!(offline["status"], "OFFLINE");
    assert!(offline["lastSeen"].as_str().unwrap().ends_with('Z'));
    bob_watch
        .no_event("friend-status-changed", Duration::from_millis(800))
        .await;

    carol_watch
        .no_event("friend-status-changed", Duration::from_millis(100))
        .await;
    let carol_sees = data(carol_watch.call("get-friends-status", json!({})).await);
    assert_eq!(carol_sees, json!([]), "a stranger sees nothing");
}

#[tokio::test]
async fn get_friends_status_answers_and_emits_the_same_list() {
    let system = TestSystem::spawn().await;
    let (alice, bob) = (Person::new("alice"), Person::new("bob"));
    befriend(&system, &alice, &bob).await;
    let _alice_online = system.connect(&alice, "/status").await;
    let mut bob_socket = system.connect(&bob, "/status").await;

    let listed = data(bob_socket.call("get-friends-status", json!({})).await);
    let emitted = bob_socket.next_event("friends-status").await;
    assert_eq!(listed, emitted);
    assert_eq!(listed[0]["userId"], json!(alice.id));
    assert_eq!(listed[0]["username"], "alice");
    assert_eq!(listed[0]["status"], "ONLINE");
    assert_eq!(listed[0]["isOnline"], json!(true));
}

#[tokio::test]
async fn a_heartbeat_is_acknowledged_twice() {
    let system = TestSystem::spawn().await;
    let alice = Person::new("alice");
    let mut socket = system.connect(&alice, "/status").await;
    let ack = data(socket.call("heartbeat", json!({})).await);
    let event = socket.next_event("heartbeat-ack").await;
    assert_eq!(ack, event);
    assert!(ack["serverTime"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test]
async fn only_the_four_chosen_statuses_are_accepted() {
    let system = TestSystem::spawn().await;
    let alice = Person::new("alice");
    let socket = system.connect(&alice, "/status").await;
    for payload in [
        json!({ "status": "OFFLINE" }),
        json!({ "status": 1 }),
        json!({}),
    ] {
        let ack = socket.call("update-status", payload.clone()).await;
        assert_eq!(ack["error"]["code"], "INVALID_ARGUMENT", "{payload}");
        assert!(
            ack["error"]["message"].as_str().unwrap().contains("status"),
            "{ack}"
        );
    }
}

#[tokio::test]
async fn last_seen_survives_a_restart_of_presence_svc() {
    let mut system = TestSystem::spawn().await;
    let (alice, bob) = (Person::new("alice"), Person::new("bob"));
    befriend(&system, &alice, &bob).await;
    let mut bob_watch = system.connect(&bob, "/status").await;
    let alice_socket = system.connect(&alice, "/status").await;
    status_of(&mut bob_watch, &alice).await;
    alice_socket.disconnect().await;
    let offline = status_of(&mut bob_watch, &alice).await;

    system.restart_presence().await;

    let listed = data(bob_watch.call("get-friends-status", json!({})).await);
    assert_eq!(listed[0]["status"], "OFFLINE");
    assert_eq!(listed[0]["lastSeen"], offline["lastSeen"]);
}
