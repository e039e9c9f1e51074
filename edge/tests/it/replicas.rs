//! Several edges and replicas on one database: what one replica commits reaches the sockets
//! of every edge exactly once, whichever replica each edge follows, and a membership change
//! made on one replica binds the others.

use std::time::Duration;

use parley_common::testing::TestDatabase;
use serde_json::{Value, json};

use crate::support::{
    SioClient,
    acks::{data, error_code},
    system::{
        Backends, EdgeAuth, EdgeSettings, InProcess, Timing, start_chat, start_edge, start_friends,
        start_presence_for,
    },
    tokens::Person,
};

/// Two friends-svc and two chat-svc replicas, one presence-svc, and two edges: edge `a`
/// follows and calls chat replica 0 only, edge `b` replica 1 only, so every event one edge
/// relays for the other's calls crossed replicas through Postgres.
struct TwoOfEach {
    _database: TestDatabase,
    _parts: Vec<InProcess>,
    edge_a: String,
    edge_b: String,
}

impl TwoOfEach {
    async fn spawn() -> Self {
        let database = TestDatabase::create().await;
        let friends = [
            start_friends(&database).await,
            start_friends(&database).await,
        ];
        let friends_urls = friends
            .iter()
            .map(|part| format!("http://{}", part.addr))
            .collect::<Vec<_>>()
            .join(",");
        let presence = start_presence_for(&database, &friends_urls).await;
        let chat = [
            start_chat(&database, &friends_urls, 600).await,
            start_chat(&database, &friends_urls, 600).await,
        ];
        let edge = |chat: &InProcess| Backends {
            chat: format!("http://{}", chat.addr),
            presence: format!("http://{}", presence.addr),
            friends: friends_urls.clone(),
            media: String::new(),
            calls: String::new(),
        };
        let edge_a = start_edge(
            edge(&chat[0]),
            EdgeAuth::default(),
            Timing::default(),
            EdgeSettings::default(),
        )
        .await;
        let edge_b = start_edge(
            edge(&chat[1]),
            EdgeAuth::default(),
            Timing::default(),
            EdgeSettings::default(),
        )
        .await;
        let (edge_a_url, edge_b_url) = (
            format!("http://{}", edge_a.addr),
            format!("http://{}", edge_b.addr),
        );
        let [friends_0, friends_1] = friends;
        let [chat_0, chat_1] = chat;
        Self {
            _database: database,
            _parts: vec![
                friends_0, friends_1, presence, chat_0, chat_1, edge_a, edge_b,
            ],
            edge_a: edge_a_url,
            edge_b: edge_b_url,
        }
    }

    async fn connect(&self, url: &str, person: &Person) -> SioClient {
        SioClient::connect(url, "/chat", Some(&person.token))
            .await
            .unwrap_or_else(|refusal| panic!("{} refused: {refusal}", person.name))
    }
}

/// The ids of `new-message` events that arrive within `wait`.
async fn messages_within(socket: &mut SioClient, wait: Duration) -> Vec<String> {
    let mut ids = Vec::new();
    let deadline = tokio::time::Instant::now() + wait;
    while let Ok((name, payload)) = tokio::time::timeout_at(deadline, socket.next_any_event()).await
    {
        if name == "new-message" {
            ids.push(payload["id"].as_str().unwrap().to_owned());
        }
    }
    ids
}

#[tokio::test]
async fn a_message_committed_on_one_replica_reaches_every_edge_once() {
    let system = TwoOfEach::spawn().await;
    let (alice, bob) = (Person::new("alice"), Person::new("bob"));
    let mut alice_on_a = system.connect(&system.edge_a, &alice).await;
    let mut alice_on_b = system.connect(&system.edge_b, &alice).await;
    let mut bob_on_b = system.connect(&system.edge_b, &bob).await;

    let room = data(
        alice_on_a
            .call(
                "create-room",
                json!({ "name": "across", "isGroup": true, "memberIds": [bob.id] }),
            )
            .await,
    )["room"]["id"]
        .clone();
    // Made on replica 0, announced on edge b by replica 1.
    bob_on_b.next_event("room-created").await;
    alice_on_b.next_event("room-created").await;

    let mut sent = Vec::new();
    for n in 0..5 {
        let (socket, text) = if n % 2 == 0 {
            (&alice_on_a, "from edge a")
        } else {
            (&bob_on_b, "from edge b")
        };
        let ack = socket
            .call(
                "send-message",
                json!({ "chatRoomId": room, "content": format!("{text} #{n}") }),
            )
            .await;
        sent.push(data(ack)["message"]["id"].as_str().unwrap().to_owned());
    }

    for socket in [&mut alice_on_a, &mut alice_on_b, &mut bob_on_b] {
        let received = messages_within(socket, Duration::from_millis(1500)).await;
        assert_eq!(received, sent, "every message once, in order");
    }
}

#[tokio::test]
async fn a_member_removed_on_one_replica_is_refused_by_the_other() {
    let system = TwoOfEach::spawn().await;
    let (alice, bob) = (Person::new("alice"), Person::new("bob"));
    let alice_on_a = system.connect(&system.edge_a, &alice).await;
    let mut bob_on_b = system.connect(&system.edge_b, &bob).await;
    let room: Value = data(
        alice_on_a
            .call(
                "create-room",
                json!({ "name": "club", "isGroup": true, "memberIds": [bob.id] }),
            )
            .await,
    )["room"]["id"]
        .clone();
    bob_on_b.next_event("room-created").await;
    // Replica 1 now knows bob as a member.
    let ack = bob_on_b
        .call(
            "send-message",
            json!({ "chatRoomId": room, "content": "hello" }),
        )
        .await;
    assert_eq!(ack["ok"], true, "{ack}");

    let ack = alice_on_a
        .call("remove-member", json!({ "roomId": room, "userId": bob.id }))
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    bob_on_b.next_event("user-left").await;

    // The removal's events reach replica 1 through Postgres and drop its cached members;
    // bob's socket hears of it about when replica 1 does, so allow it a moment.
    let mut refused = Value::Null;
    for _ in 0..20 {
        refused = bob_on_b
            .call("get-history", json!({ "roomId": room }))
            .await;
        if refused["ok"] == false {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(error_code(&refused), "PERMISSION_DENIED", "{refused}");
    let ack = bob_on_b
        .call(
            "send-message",
            json!({ "chatRoomId": room, "content": "still here?" }),
        )
        .await;
    assert_eq!(error_code(&ack), "PERMISSION_DENIED", "{ack}");
}

#[tokio::test]
async fn calls_go_to_the_replicas_that_answer() {
    let database = TestDatabase::create().await;
    let friends = start_friends(&database).await;
    let friends_url = format!("http://{}", friends.addr);
    let presence = start_presence_for(&database, &friends_url).await;
    let chat = start_chat(&database, &friends_url, 600).await;
    // The first replica of each list is gone (nothing listens there): every call still works.
    let gone = format!(
        "http://127.0.0.1:{}",
        crate::support::processes::free_port()
    );
    let edge = start_edge(
        Backends {
            chat: format!("{gone},http://{}", chat.addr),
            presence: format!("{gone},http://{}", presence.addr),
            friends: format!("{gone},{friends_url}"),
            media: String::new(),
            calls: String::new(),
        },
        EdgeAuth::default(),
        Timing::default(),
        EdgeSettings::default(),
    )
    .await;
    let url = format!("http://{}", edge.addr);
    let (alice, bob) = (Person::new("alice"), Person::new("bob"));
    let mut outcomes = Vec::new();
    for _ in 0..3 {
        // A call may find a dead replica (UNAVAILABLE, to be retried); it then rests.
        let status = SioClient::connect(&url, "/status", Some(&alice.token)).await;
        let chat_socket = SioClient::connect(&url, "/chat", Some(&bob.token)).await;
        if let (Ok(status), Ok(chat_socket)) = (status, chat_socket) {
            let set = status
                .call("update-status", json!({ "status": "AWAY" }))
                .await;
            let rooms = chat_socket.call("list-rooms", json!({})).await;
            outcomes.push((set["ok"].clone(), rooms["ok"].clone()));
        }
    }
    assert_eq!(
        outcomes.last(),
        Some(&(json!(true), json!(true))),
        "{outcomes:?}"
    );
    let ready: Value = reqwest::get(format!("{url}/readyz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["ready"], true, "one replica of each serves: {ready}");
    assert!(
        ready["replicas"][&gone]
            .as_str()
            .is_some_and(|state| state.starts_with("UNAVAILABLE")),
        "the dead replica is named: {ready}"
    );
}

#[tokio::test]
async fn a_user_s_message_rate_holds_across_three_chat_replicas() {
    let database = TestDatabase::create().await;
    let friends = start_friends(&database).await;
    let friends_url = format!("http://{}", friends.addr);
    let presence = start_presence_for(&database, &friends_url).await;
    // Five messages per user per minute, kept in each replica's memory.
    let mut chat = Vec::new();
    for _ in 0..3 {
        chat.push(start_chat(&database, &friends_url, 5).await);
    }
    let chat_urls = chat
        .iter()
        .map(|part| format!("http://{}", part.addr))
        .collect::<Vec<_>>()
        .join(",");
    let edge = start_edge(
        Backends {
            chat: chat_urls,
            presence: format!("http://{}", presence.addr),
            friends: friends_url,
            media: String::new(),
            calls: String::new(),
        },
        EdgeAuth::default(),
        Timing::default(),
        EdgeSettings::default(),
    )
    .await;
    let url = format!("http://{}", edge.addr);
    let (alice, bob) = (Person::new("alice"), Person::new("bob"));
    let alice_socket = SioClient::connect(&url, "/chat", Some(&alice.token))
        .await
        .unwrap();
    // Connecting makes bob a user whom rooms may name.
    let _bob_socket = SioClient::connect(&url, "/chat", Some(&bob.token))
        .await
        .unwrap();
    let room = data(
        alice_socket
            .call(
                "create-room",
                json!({ "name": "limits", "isGroup": true, "memberIds": [bob.id] }),
            )
            .await,
    )["room"]["id"]
        .clone();

    // Spread in turn, each replica would see two of the six and refuse none.
    let mut outcomes = Vec::new();
    for n in 0..6 {
        let ack = alice_socket
            .call(
                "send-message",
                json!({ "chatRoomId": room, "content": format!("#{n}") }),
            )
            .await;
        outcomes.push(if ack["ok"] == true {
            "ok".to_owned()
        } else {
            error_code(&ack).to_owned()
        });
    }
    assert_eq!(
        outcomes,
        ["ok", "ok", "ok", "ok", "ok", "RATE_LIMITED"],
        "one replica counts all of a user's sends"
    );
}
