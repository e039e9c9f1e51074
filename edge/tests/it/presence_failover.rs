//! presence-svc's replicas are active and standby (docs/decisions/0005): when the active one
//! dies, edges renew their leases with the standby, and go back when it returns. A failover
//! must not take the users of a live edge OFFLINE, and must still take those of a dead edge
//! OFFLINE. A replica "dies" as a process killed with SIGKILL does: its own tokio runtime is
//! shut down, every task and socket at once, with no graceful step (see `Killable`).

use std::time::Duration;

use parley_common::testing::TestDatabase;
use serde_json::{Value, json};

use crate::support::{
    SioClient,
    acks::{befriend_on, error_code},
    system::{
        Backends, EdgeAuth, EdgeSettings, InProcess, Timing, presence_config, start_chat,
        start_edge, start_friends, start_killable_edge, start_killable_presence,
    },
    tokens::Person,
};

/// Short leases, so that a lapse comes within seconds.
fn short_leases(lease_interval: Duration) -> Timing {
    Timing {
        lease_interval,
        lease_ttl: lease_interval * 3,
        ..Timing::default()
    }
}

async fn connect(edge: &str, person: &Person, namespace: &str) -> SioClient {
    SioClient::connect(edge, namespace, Some(&person.token))
        .await
        .unwrap_or_else(|refusal| panic!("{} refused on {namespace}: {refusal}", person.name))
}

/// Makes `a` and `b` friends through their `/friends` sockets on `edge`.
async fn befriend(edge: &str, a: &Person, b: &Person) {
    let a_socket = connect(edge, a, "/friends").await;
    let b_socket = connect(edge, b, "/friends").await;
    befriend_on(&a_socket, &b_socket, b).await;
}

/// Waits until `holds` is true, for at most 15 s.
async fn until(what: &str, holds: impl Fn() -> bool) {
    for _ in 0..150 {
        if holds() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("never: {what}");
}

/// The users `watcher` hears go OFFLINE within `wait`.
async fn offline_within(watcher: &mut SioClient, wait: Duration) -> Vec<String> {
    watcher
        .events_within(wait)
        .await
        .into_iter()
        .filter(|(name, payload)| name == "friend-status-changed" && payload["status"] == "OFFLINE")
        .map(|(_, payload)| payload["userId"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// `get-friends-status` of `watcher`, retried while a call finds the dead replica.
async fn friends_status(watcher: &SioClient) -> Value {
    let mut ack = Value::Null;
    for _ in 0..5 {
        ack = watcher.call("get-friends-status", json!({})).await;
        if ack["ok"] == true || error_code(&ack) != "UNAVAILABLE" {
            break;
        }
    }
    assert_eq!(ack["ok"], true, "{ack}");
    ack["data"].clone()
}

#[tokio::test]
async fn a_presence_failover_and_back_takes_offline_only_the_users_of_a_dead_edge() {
    let _heavy = crate::support::heavy().await;
    let timing = short_leases(Duration::from_secs(1));
    let database = TestDatabase::create().await;
    let friends = start_friends(&database).await;
    let friends_url = format!("http://{}", friends.addr);
    let chat = start_chat(&database, &friends_url, 600).await;
    let config = presence_config(&database, &friends_url, timing);
    let mut active = start_killable_presence(config.clone()).await;
    let standby = start_killable_presence(config.clone()).await;
    let backends = || Backends {
        chat: format!("http://{}", chat.addr),
        presence: format!("http://{},http://{}", active.addr, standby.addr),
        friends: friends_url.clone(),
        media: String::new(),
        calls: String::new(),
    };
    let live_edge: InProcess = start_edge(
        backends(),
        EdgeAuth::default(),
        timing,
        EdgeSettings::default(),
    )
    .await;
    let live = format!("http://{}", live_edge.addr);
    let mut dying_edge = start_killable_edge(backends(), timing).await;
    let dying = format!("http://{}", dying_edge.addr);

    let (alice, bob, carol) = (
        Person::new("alice"),
        Person::new("bob"),
        Person::new("carol"),
    );
    befriend(&live, &alice, &bob).await;
    befriend(&live, &alice, &carol).await;
    let mut alice_watch = connect(&live, &alice, "/status").await;
    let _bob_online = connect(&live, &bob, "/status").await;
    let _carol_online = connect(&dying, &carol, "/status").await;
    until("the active replica holds all three sessions", || {
        active.handle.session_count() == 3
    })
    .await;

    // The active replica dies: both edges renew with the standby...
    active.kill().await;
    until("the standby holds all three sessions", || {
        standby.handle.session_count() == 3
    })
    .await;
    // ... until it comes back, empty, on its address, and the edges return to it. The
    // standby still holds their sessions, under leases nobody renews there any more.
    let mut restarted = config.clone();
    restarted.listen_addr = active.addr;
    let active = start_killable_presence(restarted).await;
    until("the returned replica holds all three sessions", || {
        active.handle.session_count() == 3
    })
    .await;

    // Then carol's edge really dies.
    dying_edge.kill().await;

    // Within the lapse of every lease and a grace period: carol goes OFFLINE (the dead edge
    // renews nowhere), bob never does (his edge renews, with the other replica).
    let heard = offline_within(&mut alice_watch, timing.lease_ttl * 3).await;
    assert!(
        !heard.contains(&bob.id.to_string()),
        "bob, on a live edge, was announced OFFLINE: {heard:?}"
    );
    assert!(
        heard.contains(&carol.id.to_string()),
        "carol's edge died, yet she was not announced OFFLINE: {heard:?}"
    );
    let listed = friends_status(&alice_watch).await;
    let bob_listed = listed.as_array().and_then(|friends| {
        friends
            .iter()
            .find(|friend| friend["userId"] == json!(bob.id))
    });
    assert_eq!(
        bob_listed.map(|friend| friend["status"].clone()),
        Some(json!("ONLINE")),
        "{listed}"
    );
    until("the standby let go of every session", || {
        standby.handle.session_count() == 0
    })
    .await;
}

#[tokio::test]
async fn a_friend_stays_online_while_the_active_presence_replica_stays_dead() {
    let _heavy = crate::support::heavy().await;
    // Renewals further apart than a failed replica rests (2 s): each would find the dead
    // replica again, were a failed renewal not retried at once on the next one.
    let timing = short_leases(Duration::from_millis(2500));
    let database = TestDatabase::create().await;
    let friends = start_friends(&database).await;
    let friends_url = format!("http://{}", friends.addr);
    let chat = start_chat(&database, &friends_url, 600).await;
    let config = presence_config(&database, &friends_url, timing);
    let mut active = start_killable_presence(config.clone()).await;
    let standby = start_killable_presence(config).await;
    let edge = start_edge(
        Backends {
            chat: format!("http://{}", chat.addr),
            presence: format!("http://{},http://{}", active.addr, standby.addr),
            friends: friends_url.clone(),
            media: String::new(),
            calls: String::new(),
        },
        EdgeAuth::default(),
        timing,
        EdgeSettings::default(),
    )
    .await;
    let url = format!("http://{}", edge.addr);
    let (alice, bob) = (Person::new("alice"), Person::new("bob"));
    befriend(&url, &alice, &bob).await;
    let mut alice_watch = connect(&url, &alice, "/status").await;
    let _bob_online = connect(&url, &bob, "/status").await;
    until("the active replica holds both sessions", || {
        active.handle.session_count() == 2
    })
    .await;

    active.kill().await;
    // Nobody calls meanwhile but the edge's renewals; then alice looks, at the standby.
    let heard = offline_within(&mut alice_watch, timing.lease_ttl).await;
    assert!(!heard.contains(&bob.id.to_string()), "{heard:?}");
    let listed = friends_status(&alice_watch).await;
    assert_eq!(listed[0]["userId"], json!(bob.id), "{listed}");
    assert_eq!(listed[0]["status"], "ONLINE", "{listed}");
    assert_eq!(
        standby.handle.session_count(),
        2,
        "the standby holds the edge's sessions"
    );
}
