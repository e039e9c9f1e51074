//! The authorization matrix: every client event of docs/API.md, sent by three kinds of
//! intruder against one target user: a stranger (no relation at all), a non-member of the
//! target's private room (who shares another room with the target), and a user the target
//! blocked (a former friend, with an old DM). Each is refused with docs/API.md's code, and
//! learns nothing of the target: not in the refusal, not in an event, not in the answers of
//! the events anyone may send (lists, search, status).
//!
//! Codes, as the services give them today:
//! - an event naming a room the actor is not in: `PERMISSION_DENIED` (docs/API.md: "not a
//!   member"); room ids are random, so this only tells someone who already holds the id that
//!   the room exists;
//! - an event naming a message (edit, delete) or a friend request the actor has no part in:
//!   `NOT_FOUND`, word for word the refusal of an id that does not exist;
//! - anything across a block (friend request, DM, a room naming the blocker, typing and
//!   edits in the pair's DM room, both ways): `PERMISSION_DENIED`, as docs/API.md says;
//! - `sync` leaves rooms the actor is not in out of its answer rather than failing.
//!
//! What anyone may do stays allowed, and is checked for what it shows: `list-*` answer with
//! the actor's own things only; `search-users` shows a stranger the target's public profile
//! (id, username, avatar: what a friend request needs), and hides the blocker from the user
//! they blocked. A stranger may also open a DM with the target or put them in a group: no
//! rule of docs/API.md asks for friendship first, so those are not refusals here.

use std::time::Duration;

use futures_util::future::join_all;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{
    SioClient, TestSystem,
    acks::{befriend_on, data, error_code},
    client::PATIENCE,
    tokens::Person,
};

const DENIED: &str = "PERMISSION_DENIED";
const NOT_FOUND: &str = "NOT_FOUND";
const INVALID: &str = "INVALID_ARGUMENT";

/// How long a socket must stay silent to have heard nothing: events of this in-process
/// system arrive within milliseconds.
const QUIET: Duration = Duration::from_millis(400);

const ROOM_NAME: &str = "secret-plans";
const ROOM_SECRET: &str = "launch code 0000-xyzzy";
const DM_SECRET: &str = "boris-was-here-plugh";

/// One person of the fixture with a socket on `/chat` and one on `/friends`.
struct Actor {
    person: Person,
    chat: SioClient,
    friends: SioClient,
}

impl Actor {
    async fn connect(system: &TestSystem, name: &str) -> Self {
        let person = Person::new(name);
        let chat = system.connect(&person, "/chat").await;
        let friends = system.connect(&person, "/friends").await;
        Self {
            person,
            chat,
            friends,
        }
    }

    fn id(&self) -> Uuid {
        self.person.id
    }

    fn name(&self) -> &str {
        &self.person.name
    }
}

/// The target, the people around them, and what the intruders must not reach.
struct World {
    /// Owns the private group room, its only admin.
    target: Actor,
    /// The target's friend and the room's other member: hears whatever the room hears.
    friend: Actor,
    /// In the target's other room ("lobby") and asked by the target to be friends, but not
    /// in the private room.
    non_member: Actor,
    /// A former friend who sent the target a DM; then the target blocked him.
    blocked: Actor,
    /// Known to the system, related to no one.
    stranger: Actor,
    /// The private group room and its one message.
    room: String,
    message: String,
    /// The DM room of the target and the blocked user, and his message in it.
    dm_room: String,
    dm_message: String,
    /// A group of the blocked user's own, with no one else in it.
    den: String,
    /// The target's pending friend request to the non-member.
    request: String,
    /// Last, so that the sockets close before the system stops.
    system: TestSystem,
}

impl World {
    /// The intruders of the room events.
    fn outsiders(&self) -> [&Actor; 3] {
        [&self.stranger, &self.non_member, &self.blocked]
    }

    /// What no refusal may contain: the room's name, its message, the DM, and who the
    /// target's people are.
    fn secrets(&self) -> Vec<String> {
        let mut secrets = vec![
            ROOM_NAME.to_owned(),
            ROOM_SECRET.to_owned(),
            DM_SECRET.to_owned(),
        ];
        for actor in [&self.target, &self.friend, &self.non_member] {
            secrets.push(actor.id().to_string());
            secrets.push(actor.name().to_owned());
        }
        secrets
    }
}

async fn create_group(owner: &SioClient, name: &str, members: &[&Person]) -> String {
    let ids: Vec<Uuid> = members.iter().map(|person| person.id).collect();
    let created = data(
        owner
            .call(
                "create-room",
                json!({ "name": name, "isGroup": true, "memberIds": ids }),
            )
            .await,
    );
    created["room"]["id"].as_str().unwrap().to_owned()
}

/// Drops whatever the socket received until it has been quiet for [`QUIET`].
async fn settle(socket: &mut SioClient) {
    while tokio::time::timeout(QUIET, socket.next_any_event())
        .await
        .is_ok()
    {}
}

/// Fails if the socket receives any event within [`QUIET`].
async fn hears_nothing(socket: &mut SioClient, who: &str) {
    if let Ok((event, payload)) = tokio::time::timeout(QUIET, socket.next_any_event()).await {
        panic!("{who} heard {event}: {payload}");
    }
}

/// Builds the fixture; every socket has received all it will of the setup.
async fn world() -> World {
    let system = TestSystem::spawn().await;
    let mut target = Actor::connect(&system, "target-tess").await;
    let mut friend = Actor::connect(&system, "friend-fred").await;
    let mut non_member = Actor::connect(&system, "outsider-nina").await;
    let mut blocked = Actor::connect(&system, "blocked-boris").await;
    let mut stranger = Actor::connect(&system, "stranger-sam").await;

    befriend_on(&target.friends, &friend.friends, &friend.person).await;
    befriend_on(&target.friends, &blocked.friends, &blocked.person).await;
    let room = create_group(&target.chat, ROOM_NAME, &[&friend.person]).await;
    create_group(&target.chat, "lobby", &[&non_member.person]).await;
    let den = create_group(&blocked.chat, "den", &[]).await;
    let message = data(
        target
            .chat
            .call(
                "send-message",
                json!({ "chatRoomId": room, "content": ROOM_SECRET }),
            )
            .await,
    )["message"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let dm = data(
        blocked
            .chat
            .call(
                "send-message",
                json!({ "receiverId": target.id(), "content": DM_SECRET }),
            )
            .await,
    )["message"]
        .clone();
    let request = data(
        target
            .friends
            .call("send-friend-request", json!({ "userId": non_member.id() }))
            .await,
    )["request"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    data(
        target
            .friends
            .call("block-user", json!({ "userId": blocked.id() }))
            .await,
    );

    // chat-svc hears of the block through friends-svc's graph stream. Asking for the pair's
    // DM room again changes nothing (it exists) until the block is known, then is refused.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let ack = blocked
            .chat
            .call(
                "create-room",
                json!({ "isGroup": false, "memberIds": [target.id()] }),
            )
            .await;
        if ack["ok"] == json!(false) {
            assert_eq!(error_code(&ack), DENIED, "{ack}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "chat-svc never heard of the block"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    join_all(
        [
            &mut target,
            &mut friend,
            &mut non_member,
            &mut blocked,
            &mut stranger,
        ]
        .into_iter()
        .flat_map(|actor| [&mut actor.chat, &mut actor.friends])
        .map(settle),
    )
    .await;

    World {
        target,
        friend,
        non_member,
        blocked,
        stranger,
        room,
        message,
        dm_room: dm["roomId"].as_str().unwrap().to_owned(),
        dm_message: dm["id"].as_str().unwrap().to_owned(),
        den,
        request,
        system,
    }
}

/// One row of the matrix: an event, its payload as the actor sends it, the code it gets.
struct Case {
    event: &'static str,
    payload: Value,
    code: &'static str,
}

fn case(event: &'static str, payload: Value, code: &'static str) -> Case {
    Case {
        event,
        payload,
        code,
    }
}

/// Sends the case and checks its refusal: the expected code, and no secret anywhere in the
/// error. Returns the error.
async fn refused(socket: &SioClient, case: &Case, who: &str, secrets: &[String]) -> Value {
    let ack = socket.call(case.event, case.payload.clone()).await;
    assert_eq!(
        error_code(&ack),
        case.code,
        "{who} {} {}: {ack}",
        case.event,
        case.payload
    );
    let error = ack["error"].to_string();
    for secret in secrets {
        assert!(
            !error.contains(secret.as_str()),
            "{who} {} leaks {secret}: {error}",
            case.event
        );
    }
    ack["error"].clone()
}

/// Every `/chat` event that names the private room or its message, as an outsider sends it.
fn room_cases(world: &World, actor: &Person) -> Vec<Case> {
    let (room, message) = (&world.room, &world.message);
    vec![
        case("get-room", json!({ "roomId": room }), DENIED),
        case(
            "add-members",
            json!({ "roomId": room, "userIds": [actor.id] }),
            DENIED,
        ),
        case(
            "remove-member",
            json!({ "roomId": room, "userId": world.friend.id() }),
            DENIED,
        ),
        case("join-room", json!({ "roomId": room }), DENIED),
        case("join-user", json!({ "roomId": room }), DENIED),
        case("leave-room", json!({ "roomId": room }), DENIED),
        case("leave-user", json!({ "roomId": room }), DENIED),
        case(
            "send-message",
            json!({ "chatRoomId": room, "content": "let me in" }),
            DENIED,
        ),
        case(
            "send-message",
            json!({ "chatRoomId": room, "content": "re", "replyToId": message }),
            DENIED,
        ),
        case("get-history", json!({ "roomId": room }), DENIED),
        case(
            "get-history",
            json!({ "roomId": room, "after": message }),
            DENIED,
        ),
        case("mark-read", json!({ "roomId": room }), DENIED),
        case(
            "mark-read",
            json!({ "roomId": room, "messageId": message }),
            DENIED,
        ),
        case(
            "typing",
            json!({ "roomId": room, "isTyping": true }),
            DENIED,
        ),
        case("typing-start", json!({ "roomId": room }), DENIED),
        case("typing-stop", json!({ "roomId": room }), DENIED),
        case(
            "edit-message",
            json!({ "messageId": message, "content": "defaced" }),
            NOT_FOUND,
        ),
        case("delete-message", json!({ "messageId": message }), NOT_FOUND),
    ]
}

#[tokio::test]
async fn outsiders_are_refused_every_chat_event_of_a_private_room() {
    let mut world = world().await;
    let secrets = world.secrets();
    for actor in world.outsiders() {
        for case in room_cases(&world, &actor.person) {
            refused(&actor.chat, &case, actor.name(), &secrets).await;
        }
        let synced = data(
            actor
                .chat
                .call("sync", json!({ "rooms": { world.room.clone(): 0 } }))
                .await,
        );
        assert_eq!(
            synced["rooms"],
            json!([]),
            "{}: sync leaves the room out",
            actor.name()
        );

        // A message of someone else's room is refused exactly like one that does not exist.
        let nowhere = Uuid::new_v4();
        for (event, real, made_up) in [
            (
                "edit-message",
                json!({ "messageId": world.message, "content": "x" }),
                json!({ "messageId": nowhere, "content": "x" }),
            ),
            (
                "delete-message",
                json!({ "messageId": world.message }),
                json!({ "messageId": nowhere }),
            ),
        ] {
            let real = actor.chat.call(event, real).await;
            let made_up = actor.chat.call(event, made_up).await;
            assert_eq!(
                real,
                made_up,
                "{}: {event} tells the two apart",
                actor.name()
            );
        }
    }

    // Nothing reached the room, and the message is as it was.
    hears_nothing(&mut world.target.chat, "the target").await;
    hears_nothing(&mut world.friend.chat, "the friend").await;
    let history = data(
        world
            .friend
            .chat
            .call("get-history", json!({ "roomId": world.room }))
            .await,
    );
    let messages = history["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1, "{history}");
    assert_eq!(messages[0]["content"], ROOM_SECRET);
    let room = data(
        world
            .target
            .chat
            .call("get-room", json!({ "roomId": world.room }))
            .await,
    );
    assert_eq!(
        room["room"]["members"].as_array().unwrap().len(),
        2,
        "{room}"
    );
}

#[tokio::test]
async fn a_block_closes_every_chat_path_between_the_two_both_ways() {
    let mut world = world().await;
    let secrets = world.secrets();
    let target = world.target.id();
    let dm_room = &world.dm_room;
    let by_blocked = [
        case(
            "create-room",
            json!({ "isGroup": false, "memberIds": [target] }),
            DENIED,
        ),
        case(
            "create-room",
            json!({ "name": "trap", "isGroup": true, "memberIds": [target, world.friend.id()] }),
            DENIED,
        ),
        case(
            "add-members",
            json!({ "roomId": world.den, "userIds": [target] }),
            DENIED,
        ),
        case(
            "send-message",
            json!({ "receiverId": target, "content": "unblock me" }),
            DENIED,
        ),
        case(
            "send-message",
            json!({ "chatRoomId": dm_room, "content": "unblock me" }),
            DENIED,
        ),
        // Typing and edits in the pair's DM room would reach the blocker as surely as a DM.
        case(
            "typing",
            json!({ "roomId": dm_room, "isTyping": true }),
            DENIED,
        ),
        case("typing-start", json!({ "roomId": dm_room }), DENIED),
        case(
            "edit-message",
            json!({ "messageId": world.dm_message, "content": "unblock me" }),
            DENIED,
        ),
    ];
    for case in &by_blocked {
        refused(&world.blocked.chat, case, "the blocked user", &secrets).await;
    }

    // The blocker's activity does not reach the blocked user either.
    let by_target = [
        case(
            "send-message",
            json!({ "receiverId": world.blocked.id(), "content": "hi" }),
            DENIED,
        ),
        case(
            "typing",
            json!({ "roomId": dm_room, "isTyping": true }),
            DENIED,
        ),
        case(
            "add-members",
            json!({ "roomId": world.room, "userIds": [world.blocked.id()] }),
            DENIED,
        ),
    ];
    for case in &by_target {
        refused(&world.target.chat, case, "the target", &[]).await;
    }

    hears_nothing(&mut world.target.chat, "the target").await;
    hears_nothing(&mut world.blocked.chat, "the blocked user").await;
    hears_nothing(&mut world.friend.chat, "the friend").await;
    // The DM is as he wrote it.
    let history = data(
        world
            .target
            .chat
            .call("get-history", json!({ "roomId": dm_room }))
            .await,
    );
    assert_eq!(history["messages"][0]["content"], DM_SECRET);
    assert!(history["messages"][0]["editedAt"].is_null(), "{history}");
}

#[tokio::test]
async fn outsiders_hear_nothing_of_a_room_they_are_not_in_and_their_answers_show_none_of_it() {
    let mut world = world().await;
    let (room, message) = (world.room.clone(), world.message.clone());

    // A refused join must not put a socket in the room.
    for actor in world.outsiders() {
        let ack = actor
            .chat
            .call("join-room", json!({ "roomId": room }))
            .await;
        assert_eq!(error_code(&ack), DENIED, "{}", actor.name());
    }

    // Everything a room can announce, while the outsiders listen.
    let later = data(
        world
            .target
            .chat
            .call(
                "send-message",
                json!({ "chatRoomId": room, "content": "more secrets" }),
            )
            .await,
    )["message"]["id"]
        .clone();
    data(
        world
            .target
            .chat
            .call("typing-start", json!({ "roomId": room }))
            .await,
    );
    data(
        world
            .target
            .chat
            .call("typing-stop", json!({ "roomId": room }))
            .await,
    );
    data(
        world
            .friend
            .chat
            .call("mark-read", json!({ "roomId": room }))
            .await,
    );
    data(
        world
            .target
            .chat
            .call(
                "edit-message",
                json!({ "messageId": later, "content": "edited secrets" }),
            )
            .await,
    );
    data(
        world
            .target
            .chat
            .call("delete-message", json!({ "messageId": later }))
            .await,
    );
    // The room did hear all of it: the outsiders' silence below means something. In any
    // order: the typing-stop comes at the end of typing's one-second window.
    let mut expected = vec![
        "new-message",
        "user-typing",
        "user-typing",
        "messages-read",
        "message-updated",
        "message-deleted",
    ];
    while !expected.is_empty() {
        let (event, _) = world.friend.chat.next_any_event().await;
        if let Some(at) = expected.iter().position(|wanted| *wanted == event) {
            expected.remove(at);
        }
    }
    let [stranger, non_member, blocked] = [
        &mut world.stranger,
        &mut world.non_member,
        &mut world.blocked,
    ];
    join_all([
        hears_nothing(&mut stranger.chat, "the stranger"),
        hears_nothing(&mut non_member.chat, "the non-member"),
        hears_nothing(&mut blocked.chat, "the blocked user"),
    ])
    .await;

    for actor in world.outsiders() {
        // Their lists hold their own rooms only.
        let own = create_group(&actor.chat, "mine", &[]).await;
        let listed = data(actor.chat.call("list-rooms", json!({})).await);
        let ids: Vec<&str> = listed["rooms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|room| room["id"].as_str().unwrap())
            .collect();
        assert!(ids.contains(&own.as_str()), "{listed}");
        assert!(!ids.contains(&room.as_str()), "{}: {listed}", actor.name());
        let text = listed.to_string();
        for secret in [ROOM_NAME, ROOM_SECRET, "more secrets"] {
            assert!(!text.contains(secret), "{}: {listed}", actor.name());
        }

        // The private room's message used from their own room is refused like an id that
        // does not exist.
        let nowhere = Uuid::new_v4();
        for (event, field, payload) in [
            (
                "get-history",
                "before",
                json!({ "roomId": own, "before": message }),
            ),
            (
                "mark-read",
                "messageId",
                json!({ "roomId": own, "messageId": message }),
            ),
            (
                "send-message",
                "replyToId",
                json!({ "chatRoomId": own, "content": "re", "replyToId": message }),
            ),
        ] {
            let real = actor.chat.call(event, payload.clone()).await;
            assert_eq!(error_code(&real), INVALID, "{}: {event}", actor.name());
            let mut made_up = payload;
            made_up[field] = json!(nowhere);
            let made_up = actor.chat.call(event, made_up).await;
            assert_eq!(
                real,
                made_up,
                "{}: {event} tells the two apart",
                actor.name()
            );
        }
    }
}

#[tokio::test]
async fn outsiders_cannot_touch_the_targets_friendships_and_their_lists_show_none_of_them() {
    let mut world = world().await;
    let secrets = world.secrets();
    let (target, request) = (&world.target, &world.request);

    // docs/API.md asks for PERMISSION_DENIED here, by id and by name alike, though search
    // hides the blocker: the refusal tells the blocked user no more than that the block
    // stands.
    for payload in [
        json!({ "userId": target.id() }),
        json!({ "username": target.name() }),
    ] {
        let case = case("send-friend-request", payload, DENIED);
        refused(&world.blocked.friends, &case, "the blocked user", &secrets).await;
    }

    // The non-member is a party to the request: only the stranger and the blocked user are
    // outsiders to it.
    for actor in [&world.stranger, &world.blocked] {
        for event in [
            "accept-friend-request",
            "decline-friend-request",
            "cancel-friend-request",
        ] {
            let case = case(event, json!({ "requestId": request }), NOT_FOUND);
            let real = refused(&actor.friends, &case, actor.name(), &secrets).await;
            let made_up = actor
                .friends
                .call(event, json!({ "requestId": Uuid::new_v4() }))
                .await;
            assert_eq!(
                real,
                made_up["error"],
                "{}: {event} tells the two apart",
                actor.name()
            );
        }
        let case = case("remove-friend", json!({ "userId": target.id() }), NOT_FOUND);
        refused(&actor.friends, &case, actor.name(), &secrets).await;

        // The blocked user was a friend: the block ended that. Neither sees the target's
        // friends, requests or blocks.
        let friends = data(actor.friends.call("list-friends", json!({})).await);
        assert_eq!(
            friends,
            json!({ "friends": [], "nextCursor": null }),
            "{}",
            actor.name()
        );
        let requests = data(actor.friends.call("list-friend-requests", json!({})).await);
        assert_eq!(
            requests,
            json!({ "incoming": [], "outgoing": [], "nextCursor": null }),
            "{}",
            actor.name()
        );
        // The blocked user's own list: it does not say who blocked him.
        let blocked = data(actor.friends.call("list-blocked", json!({})).await);
        assert_eq!(
            blocked,
            json!({ "users": [], "nextCursor": null }),
            "{}",
            actor.name()
        );
    }

    // Search shows a stranger the target's public profile and nothing more; the blocker is
    // hidden from the user they blocked.
    let query = json!({ "query": "target-" });
    let found = data(
        world
            .stranger
            .friends
            .call("search-users", query.clone())
            .await,
    );
    assert_eq!(
        found["users"],
        json!([{ "id": target.id(), "username": target.name(), "avatar": null }])
    );
    let found = data(world.blocked.friends.call("search-users", query).await);
    assert_eq!(found["users"], json!([]));

    // Unblocking the target lifts only a block of his own, of which there is none.
    data(
        world
            .blocked
            .friends
            .call("unblock-user", json!({ "userId": target.id() }))
            .await,
    );
    let still = world
        .blocked
        .friends
        .call("send-friend-request", json!({ "userId": target.id() }))
        .await;
    assert_eq!(error_code(&still), DENIED);

    // Anyone may block anyone; the one blocked is not told.
    data(
        world
            .stranger
            .friends
            .call("block-user", json!({ "userId": target.id() }))
            .await,
    );

    // The request stands, untouched, and none of the target's people heard a thing.
    let requests = data(
        world
            .non_member
            .friends
            .call("list-friend-requests", json!({}))
            .await,
    );
    assert_eq!(requests["incoming"][0]["id"], json!(request), "{requests}");
    let friends = data(world.target.friends.call("list-friends", json!({})).await);
    assert_eq!(
        friends["friends"][0]["user"]["id"],
        json!(world.friend.id())
    );
    assert_eq!(friends["friends"].as_array().unwrap().len(), 1, "{friends}");
    let [target, friend, non_member] =
        [&mut world.target, &mut world.friend, &mut world.non_member];
    join_all([
        hears_nothing(&mut target.friends, "the target"),
        hears_nothing(&mut friend.friends, "the friend"),
        hears_nothing(&mut non_member.friends, "the non-member"),
    ])
    .await;
}

/// The user ids of a `friends-status` list.
fn user_ids(statuses: &Value) -> Vec<String> {
    statuses
        .as_array()
        .unwrap()
        .iter()
        .map(|status| status["userId"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_targets_status_reaches_friends_only_and_no_one_else_can_set_it() {
    let world = world().await;
    let system = &world.system;
    let (target, friend) = (&world.target.person, &world.friend.person);
    let mut friend_status = system.connect(friend, "/status").await;
    let mut outsiders = Vec::new();
    for actor in world.outsiders() {
        outsiders.push((actor, system.connect(&actor.person, "/status").await));
    }
    let target_status = system.connect(target, "/status").await;
    let online = friend_status.next_event("friend-status-changed").await;
    assert_eq!(online["userId"], json!(target.id));

    data(
        target_status
            .call("update-status", json!({ "status": "AWAY" }))
            .await,
    );
    let away = friend_status.next_event("friend-status-changed").await;
    assert_eq!(
        (&away["userId"], &away["status"]),
        (&json!(target.id), &json!("AWAY"))
    );

    // `userId` in the payload is ignored: an outsider sets their own status only, which the
    // target's friend does not hear of.
    for (actor, socket) in &outsiders {
        let ack = data(
            socket
                .call(
                    "update-status",
                    json!({ "status": "DO_NOT_DISTURB", "userId": target.id }),
                )
                .await,
        );
        assert_eq!(
            ack,
            json!({ "status": "DO_NOT_DISTURB" }),
            "{}",
            actor.name()
        );
    }
    friend_status.no_event("friend-status-changed", QUIET).await;
    let seen = data(friend_status.call("get-friends-status", json!({})).await);
    assert_eq!(user_ids(&seen), vec![target.id.to_string()]);
    assert_eq!(seen[0]["status"], "AWAY", "{seen}");

    // No outsider heard the target come online or go away, and none sees them listed: the
    // blocked user was a friend until the block.
    for (actor, socket) in &mut outsiders {
        socket.no_event("friend-status-changed", QUIET).await;
        let listed = data(socket.call("get-friends-status", json!({})).await);
        assert_eq!(listed, json!([]), "{}", actor.name());
        let emitted = socket.next_event("friends-status").await;
        assert_eq!(emitted, json!([]), "{}", actor.name());
    }
}
