//! presence-svc's replicas each hold a share of the users, by shard (docs/decisions/0016):
//! when one dies, the others take its shards once its leases expire, and the edges' renewals
//! (sent to every replica) rebuild its users' sessions there; when it returns, it takes its
//! share back. A failover must not take the users of a live edge OFFLINE, and must still take
//! those of a dead edge OFFLINE. A replica "dies" as a process killed with SIGKILL does: its
//! own tokio runtime is shut down, every task and socket at once, with no graceful step (see
//! `Killable`).

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

/// Waits until `holds` is true, for at most 20 s.
async fn until(what: &str, holds: impl Fn() -> bool) {
    for _ in 0..200 {
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

/// `get-friends-status` of `watcher`, retried while a call finds the dead replica or a
/// shard not taken over yet (for some seconds).
async fn friends_status(watcher: &SioClient) -> Value {
    let mut ack = Value::Null;
    for _ in 0..20 {
        ack = watcher.call("get-friends-status", json!({})).await;
        if ack["ok"] == true || error_code(&ack) != "UNAVAILABLE" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
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
    let mut first = start_killable_presence(config.clone()).await;
    let second = start_killable_presence(config.clone()).await;
    let backends = || Backends {
        chat: format!("http://{}", chat.addr),
        presence: format!("http://{},http://{}", first.addr, second.addr),
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
    until("the replicas hold the three sessions between them", || {
        first.handle.session_count() + second.handle.session_count() == 3
            && first.handle.held_shards().len() + second.handle.held_shards().len() == 1024
    })
    .await;

    // The first replica dies: the second takes its shards, and the edges' renewals bring
    // their sessions there...
    first.kill().await;
    until("the second holds all three sessions", || {
        second.handle.session_count() == 3
    })
    .await;
    // ... until it comes back, empty, on its address, and takes its share back.
    let mut restarted = config.clone();
    restarted.listen_addr = first.addr;
    let first = start_killable_presence(restarted).await;
    until(
        "the replicas share the shards and the sessions again",
        || {
            !first.handle.held_shards().is_empty()
                && first.handle.held_shards().len() + second.handle.held_shards().len() == 1024
                && first.handle.session_count() + second.handle.session_count() == 3
        },
    )
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
    until("carol's session is gone from both", || {
        first.handle.session_count() + second.handle.session_count() == 2
    })
    .await;
}

/// Which of `replicas` holds `person`'s shard now.
fn holder_of(
    replicas: &[&std::sync::Arc<parley_presence_svc::service::Presence>],
    person: &Person,
) -> Option<usize> {
    let shard = parley_presence_svc::shards::shard_of(parley_common::ids::UserId(person.id));
    replicas
        .iter()
        .position(|replica| replica.held_shards().contains(&shard))
}

#[tokio::test]
async fn a_friend_stays_online_while_the_replica_that_held_them_stays_dead() {
    let _heavy = crate::support::heavy().await;
    // Renewals further apart than a failed replica rests (2 s): each would find the dead
    // replica again, were a failed renewal not retried on its own.
    let timing = short_leases(Duration::from_millis(2500));
    let database = TestDatabase::create().await;
    let friends = start_friends(&database).await;
    let friends_url = format!("http://{}", friends.addr);
    let chat = start_chat(&database, &friends_url, 600).await;
    let config = presence_config(&database, &friends_url, timing);
    let mut replicas = Vec::new();
    for _ in 0..3 {
        replicas.push(start_killable_presence(config.clone()).await);
    }
    let urls: Vec<String> = replicas
        .iter()
        .map(|replica| format!("http://{}", replica.addr))
        .collect();
    let edge = start_edge(
        Backends {
            chat: format!("http://{}", chat.addr),
            presence: urls.join(","),
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
    let handles: Vec<_> = replicas
        .iter()
        .map(|replica| replica.handle.clone())
        .collect();
    until("the three replicas share the shards", || {
        handles
            .iter()
            .all(|handle| !handle.held_shards().is_empty())
            && handles
                .iter()
                .map(|handle| handle.held_shards().len())
                .sum::<usize>()
                == 1024
    })
    .await;
    // Alice and bob on different replicas, so that her replica asks bob's.
    let alice = Person::new("alice");
    let held = |person: &Person| holder_of(&handles.iter().collect::<Vec<_>>(), person);
    let mut bob = Person::new("bob");
    while held(&bob) == held(&alice) {
        bob = Person::new("bob");
    }
    befriend(&url, &alice, &bob).await;
    let mut alice_watch = connect(&url, &alice, "/status").await;
    let _bob_online = connect(&url, &bob, "/status").await;
    until("the replicas hold both sessions", || {
        handles
            .iter()
            .map(|handle| handle.session_count())
            .sum::<usize>()
            == 2
    })
    .await;
    assert_eq!(friends_status(&alice_watch).await[0]["status"], "ONLINE");

    // Bob's replica dies. Nobody calls meanwhile but the edge's renewals; then alice looks.
    let dead = held(&bob).unwrap();
    replicas[dead].kill().await;
    let heard = offline_within(&mut alice_watch, timing.lease_ttl * 2).await;
    assert!(!heard.contains(&bob.id.to_string()), "{heard:?}");
    let survivors: Vec<_> = (0..3)
        .filter(|index| *index != dead)
        .map(|index| &handles[index])
        .collect();
    until("the survivors hold every shard and both sessions", || {
        survivors
            .iter()
            .map(|handle| handle.held_shards().len())
            .sum::<usize>()
            == 1024
            && survivors
                .iter()
                .map(|handle| handle.session_count())
                .sum::<usize>()
                == 2
    })
    .await;
    let listed = friends_status(&alice_watch).await;
    assert_eq!(listed[0]["userId"], json!(bob.id), "{listed}");
    assert_eq!(listed[0]["status"], "ONLINE", "{listed}");
    let heard = offline_within(&mut alice_watch, Duration::from_secs(2)).await;
    assert!(!heard.contains(&bob.id.to_string()), "{heard:?}");
}
