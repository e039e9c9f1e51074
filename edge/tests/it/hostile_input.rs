//! Thousands of random and malformed payloads over a real socket: each gets `INVALID_ARGUMENT`,
//! the connection stays up, and the process keeps serving.

use serde_json::{Map, Value, json};

use parley_edge::event_limits::EventLimitArgs;

use crate::{
    official_client::run_script,
    support::{
        SioClient, TestSystem,
        system::{EdgeAuth, Timing},
        tokens::{Person, claims, hs256},
    },
};

/// Payloads per event and shape; with every event of the four namespaces, about 4 300 calls.
const PAYLOADS_PER_SHAPE: usize = 40;

/// A small deterministic generator (xorshift64*), so that a failure can be replayed.
struct Junk(u64);

impl Junk {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn string(&mut self) -> String {
        const PIECES: [&str; 8] = ["a", "Z", "9", "-", " ", "é", "\u{1F600}", "\"{}"];
        let len = match self.below(10) {
            0 => 5000 + self.below(3000) as usize,
            _ => self.below(40) as usize,
        };
        (0..len)
            .map(|_| PIECES[self.below(PIECES.len() as u64) as usize])
            .collect()
    }

    /// Any JSON value but a string.
    fn not_string(&mut self, depth: u32) -> Value {
        match self.below(if depth > 2 { 3 } else { 5 }) {
            0 => json!(self.next() as i64),
            1 => json!((self.next() as f64) / 7.0 - 1e15),
            2 => json!(self.below(2) == 0),
            3 => Value::Array((0..self.below(4)).map(|_| self.any(depth + 1)).collect()),
            _ => {
                let mut object = Map::new();
                for _ in 0..self.below(4) {
                    object.insert(self.string(), self.any(depth + 1));
                }
                Value::Object(object)
            }
        }
    }

    fn any(&mut self, depth: u32) -> Value {
        if self.below(3) == 0 {
            Value::String(self.string())
        } else {
            self.not_string(depth)
        }
    }

    /// Anything but an object (and but null, which means "no payload").
    fn not_object(&mut self) -> Value {
        loop {
            let value = self.any(0);
            if !value.is_object() {
                return value;
            }
        }
    }

    /// A wrong value for a field of `kind`: no UUID for an id, no string for text, no bool
    /// for a flag, no object for a map.
    fn wrong(&mut self, kind: Kind) -> Value {
        match kind {
            Kind::Id => self.any(0),
            Kind::Text | Kind::Status => self.not_string(0),
            Kind::Flag => loop {
                let value = self.any(0);
                if !value.is_boolean() {
                    return value;
                }
            },
            Kind::Map => self.not_object(),
        }
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Id,
    Text,
    Flag,
    Status,
    Map,
}

/// Namespace, event, the field its payload must have, and the rest of a valid payload.
type Case = (
    &'static str,
    &'static str,
    Option<(&'static str, Kind)>,
    Value,
);

/// Every client event of docs/API.md, by namespace, with the field its payload must have
/// (and the rest of a payload that would otherwise be valid).
fn events() -> Vec<Case> {
    let room = json!({ "roomId": "00000000-0000-4000-8000-000000000001" });
    let offer = json!({ "type": "offer", "sdp": "v=0" });
    vec![
        (
            "/chat",
            "create-room",
            Some(("isGroup", Kind::Flag)),
            json!({ "memberIds": [] }),
        ),
        ("/chat", "list-rooms", None, json!({})),
        ("/chat", "get-room", Some(("roomId", Kind::Id)), json!({})),
        (
            "/chat",
            "add-members",
            Some(("roomId", Kind::Id)),
            json!({ "userIds": [] }),
        ),
        (
            "/chat",
            "remove-member",
            Some(("roomId", Kind::Id)),
            json!({}),
        ),
        ("/chat", "join-room", Some(("roomId", Kind::Id)), json!({})),
        ("/chat", "join-user", Some(("roomId", Kind::Id)), json!({})),
        ("/chat", "leave-room", Some(("roomId", Kind::Id)), json!({})),
        ("/chat", "leave-user", Some(("roomId", Kind::Id)), json!({})),
        (
            "/chat",
            "send-message",
            Some(("content", Kind::Text)),
            room.clone(),
        ),
        (
            "/chat",
            "get-history",
            Some(("roomId", Kind::Id)),
            json!({}),
        ),
        ("/chat", "mark-read", Some(("roomId", Kind::Id)), json!({})),
        (
            "/chat",
            "typing",
            Some(("roomId", Kind::Id)),
            json!({ "isTyping": true }),
        ),
        (
            "/chat",
            "typing-start",
            Some(("roomId", Kind::Id)),
            json!({}),
        ),
        (
            "/chat",
            "typing-stop",
            Some(("roomId", Kind::Id)),
            json!({}),
        ),
        (
            "/chat",
            "edit-message",
            Some(("messageId", Kind::Id)),
            json!({ "content": "x" }),
        ),
        (
            "/chat",
            "delete-message",
            Some(("messageId", Kind::Id)),
            json!({}),
        ),
        ("/chat", "sync", Some(("rooms", Kind::Map)), json!({})),
        ("/chat", "get-media-config", None, json!({})),
        (
            "/chat",
            "create-upload",
            Some(("name", Kind::Text)),
            json!({ "chatRoomId": "00000000-0000-4000-8000-000000000001", "size": 1 }),
        ),
        (
            "/chat",
            "complete-upload",
            Some(("uploadId", Kind::Id)),
            json!({}),
        ),
        (
            "/chat",
            "cancel-upload",
            Some(("uploadId", Kind::Id)),
            json!({}),
        ),
        (
            "/chat",
            "get-attachment-urls",
            Some(("roomId", Kind::Id)),
            json!({ "attachmentIds": ["00000000-0000-4000-8000-000000000002"] }),
        ),
        (
            "/chat",
            "list-attachments",
            Some(("roomId", Kind::Id)),
            json!({}),
        ),
        (
            "/status",
            "update-status",
            Some(("status", Kind::Status)),
            json!({}),
        ),
        ("/status", "get-friends-status", None, json!({})),
        ("/status", "heartbeat", None, json!({})),
        (
            "/friends",
            "send-friend-request",
            Some(("userId", Kind::Id)),
            json!({}),
        ),
        (
            "/friends",
            "accept-friend-request",
            Some(("requestId", Kind::Id)),
            json!({}),
        ),
        (
            "/friends",
            "decline-friend-request",
            Some(("requestId", Kind::Id)),
            json!({}),
        ),
        (
            "/friends",
            "cancel-friend-request",
            Some(("requestId", Kind::Id)),
            json!({}),
        ),
        (
            "/friends",
            "remove-friend",
            Some(("userId", Kind::Id)),
            json!({}),
        ),
        (
            "/friends",
            "block-user",
            Some(("userId", Kind::Id)),
            json!({}),
        ),
        (
            "/friends",
            "unblock-user",
            Some(("userId", Kind::Id)),
            json!({}),
        ),
        ("/friends", "list-friends", None, json!({})),
        ("/friends", "list-friend-requests", None, json!({})),
        ("/friends", "list-blocked", None, json!({})),
        (
            "/friends",
            "search-users",
            Some(("query", Kind::Text)),
            json!({}),
        ),
        ("/calls", "get-ice-servers", None, json!({})),
        (
            "/calls",
            "call-invite",
            Some(("receiverId", Kind::Id)),
            json!({ "media": "AUDIO", "offer": offer }),
        ),
        (
            "/calls",
            "call-accept",
            Some(("callId", Kind::Id)),
            json!({ "answer": { "type": "answer", "sdp": "v=0" } }),
        ),
        (
            "/calls",
            "call-decline",
            Some(("callId", Kind::Id)),
            json!({}),
        ),
        (
            "/calls",
            "call-ice",
            Some(("callId", Kind::Id)),
            json!({ "candidates": [{ "candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host" }] }),
        ),
        (
            "/calls",
            "call-negotiate",
            Some(("callId", Kind::Id)),
            json!({ "description": offer }),
        ),
        (
            "/calls",
            "call-connected",
            Some(("callId", Kind::Id)),
            json!({}),
        ),
        (
            "/calls",
            "call-hangup",
            Some(("callId", Kind::Id)),
            json!({}),
        ),
        (
            "/calls",
            "call-resume",
            Some(("callId", Kind::Id)),
            json!({}),
        ),
        ("/calls", "list-calls", None, json!({})),
    ]
}

#[tokio::test]
async fn random_and_malformed_payloads_each_get_invalid_argument_and_hurt_nothing() {
    // Thousands of calls from one user: the per-class limits, tested below, are off here.
    let system = TestSystem::spawn_with_timing(
        EdgeAuth::default(),
        Timing {
            edge_limits: EventLimitArgs::off(),
            ..Timing::default()
        },
    )
    .await;
    let token = hs256(&claims("mallory"));
    let mut clients = Vec::new();
    for namespace in ["/chat", "/status", "/friends", "/calls"] {
        let client = SioClient::connect(&system.edge_url(), namespace, Some(&token))
            .await
            .unwrap();
        clients.push((namespace, client));
    }
    let client_of = |namespace: &str| {
        clients
            .iter()
            .find(|(n, _)| *n == namespace)
            .map(|(_, client)| client)
            .unwrap()
    };

    let mut junk = Junk(0x5eed_1234_abcd_0042);
    let mut calls = 0;
    for (namespace, event, field, rest) in events() {
        let client = client_of(namespace);
        for round in 0..PAYLOADS_PER_SHAPE * 2 {
            // Half the payloads are not objects at all; half are the right object with the
            // required field wrong (events without one get a second non-object).
            let payload = match (round % 2, field) {
                (1, Some((name, kind))) => {
                    let mut object = rest.clone();
                    object[name] = junk.wrong(kind);
                    object
                }
                _ => junk.not_object(),
            };
            let ack = client.call(event, payload.clone()).await;
            calls += 1;
            assert_eq!(
                ack["ok"],
                json!(false),
                "{namespace} {event} accepted {payload}"
            );
            assert_eq!(
                ack["error"]["code"],
                json!("INVALID_ARGUMENT"),
                "{namespace} {event} with {payload}: {ack}"
            );
        }
    }
    assert!(calls >= 2_500, "{calls} calls");

    // Every connection still answers, and the edge still serves newcomers.
    let heartbeat = client_of("/status").call("heartbeat", json!({})).await;
    assert_eq!(heartbeat["ok"], json!(true), "{heartbeat}");
    let friends = client_of("/friends").call("list-friends", json!({})).await;
    assert_eq!(friends["ok"], json!(true), "{friends}");
    let rooms = client_of("/chat").call("list-rooms", json!({})).await;
    assert_eq!(rooms["ok"], json!(true), "{rooms}");
    let newcomer = SioClient::connect(&system.edge_url(), "/chat", Some(&hs256(&claims("nina"))))
        .await
        .unwrap();
    assert_eq!(
        newcomer.call("list-rooms", json!({})).await["ok"],
        json!(true)
    );
}

#[tokio::test]
async fn a_flood_of_one_event_class_is_rate_limited_without_starving_other_classes_or_users() {
    let system = TestSystem::spawn().await;
    let (mallory, nina) = (Person::new("mallory"), Person::new("nina"));
    let friends = system.connect(&mallory, "/friends").await;
    let chat = system.connect(&mallory, "/chat").await;
    let per_minute = EventLimitArgs::default().friend_lists as usize;

    let mut refused = None;
    for call in 0..per_minute * 2 {
        let ack = friends.call("list-blocked", json!({})).await;
        if ack["ok"] == json!(false) {
            refused = Some((call, ack));
            break;
        }
    }
    let (call, ack) = refused.expect("the flood is refused at some point");
    assert_eq!(call, per_minute, "the burst is the minute's allowance");
    assert_eq!(ack["error"]["code"], "RATE_LIMITED", "{ack}");
    assert!(
        ack["error"]["retryAfterMs"]
            .as_u64()
            .is_some_and(|ms| ms > 0),
        "{ack}"
    );
    // The same user's other classes, and other users, are not held back.
    assert_eq!(chat.call("list-rooms", json!({})).await["ok"], true);
    let other = system.connect(&nina, "/friends").await;
    assert_eq!(other.call("list-blocked", json!({})).await["ok"], true);
}

#[tokio::test]
async fn namespace_connect_churn_on_one_connection_is_cut_off() {
    let system = TestSystem::spawn().await;
    let mallory = Person::new("mallory");
    let plan = json!({
        "url": system.edge_url(),
        "scenario": "churn",
        "token": mallory.token,
        "connects": 40,
    });

    let report = run_script("door.mjs", plan).await;

    let outcomes: Vec<&str> = report["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|outcome| outcome.as_str().unwrap())
        .collect();
    // The /chat socket that keeps the connection open took one connect of the allowance.
    let admitted = outcomes.iter().take_while(|o| **o == "connected").count();
    assert_eq!(admitted, 29, "{report}");
    assert!(
        outcomes[admitted..].iter().all(|o| *o == "RATE_LIMITED"),
        "{report}"
    );
    // The connection itself is unharmed.
    assert_eq!(report["anchorAck"]["ok"], true, "{report}");
}

#[tokio::test]
async fn a_binary_packet_is_refused_at_the_door_and_the_edge_serves_on() {
    let system = TestSystem::spawn().await;
    let mallory = Person::new("mallory");
    let plan = json!({
        "url": system.edge_url(),
        "scenario": "binary",
        "token": mallory.token,
    });

    let report = run_script("door.mjs", plan).await;

    assert_eq!(report["before"]["ok"], true, "{report}");
    // The packet announces an attachment: the edge closes the transport before buffering it,
    // as it does for any packet it cannot parse.
    assert_eq!(report["outcome"]["event"], "disconnect", "{report}");
    assert_eq!(report["after"]["ok"], true, "{report}");
}
