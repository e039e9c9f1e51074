//! Idempotent sends across crashes, with the built binaries (support/stack.rs): a send whose
//! batch chat-svc was writing when it was killed, and one whose batch committed but whose ack
//! never reached the sender, are each stored once when the client retries with its
//! clientMsgId. And the edge's answer to a chat-svc restart: on the Postgres bus, closing
//! every client's connection (the new process's log is a new epoch, a gap), which leaves
//! nothing of the closed sockets behind; on NATS, where the log is the stream's whichever
//! process serves it, resuming where it was and closing none.
//!
//! "Mid-batch" is made deterministic from a Postgres session of the test's own: it holds the
//! room's row lock (`chat.rooms ... FOR UPDATE`, which every batch takes for its rooms), so
//! the send's transaction is started and waits inside chat-svc until the test lets it go.

use std::time::Duration;

use parley_common::{config::BusKind, testing::test_bus};
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

use crate::support::{
    SioClient,
    acks::data,
    heavy,
    stack::{Settings, Stack},
    tokens::Person,
};

/// How long a restarted process may take to serve again, and a retrying client to get
/// through; generous, since the other tests share the machine.
const RECOVERY: Duration = Duration::from_secs(60);

/// The room's row lock, held by a transaction of the test's own until released.
struct RoomLock {
    holder: PgConnection,
    holder_pid: i32,
    observer: PgConnection,
}

impl RoomLock {
    async fn take(stack: &Stack, room: Uuid) -> Self {
        let mut holder = PgConnection::connect(stack.database_url()).await.unwrap();
        sqlx::query("BEGIN").execute(&mut holder).await.unwrap();
        sqlx::query("SELECT 1 FROM chat.rooms WHERE id = $1 FOR UPDATE")
            .bind(room)
            .fetch_one(&mut holder)
            .await
            .unwrap();
        let holder_pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(&mut holder)
            .await
            .unwrap();
        // A session of its own: pg_stat_activity is read once per transaction, and the
        // holder's stays open.
        let observer = PgConnection::connect(stack.database_url()).await.unwrap();
        Self {
            holder,
            holder_pid,
            observer,
        }
    }

    /// The backends that wait for this lock in a statement that locks rooms for update: a
    /// message batch's first statement, its transaction started.
    async fn waiting_batches(&mut self) -> Vec<i32> {
        sqlx::query_scalar(
            "SELECT pid FROM pg_stat_activity
             WHERE datname = current_database() AND $1 = ANY(pg_blocking_pids(pid))
               AND query LIKE '%FROM chat.rooms%FOR UPDATE%'",
        )
        .bind(self.holder_pid)
        .fetch_all(&mut self.observer)
        .await
        .unwrap()
    }

    /// Waits until a message batch waits for the lock, and returns its backend's pid.
    async fn wait_for_a_batch(&mut self) -> i32 {
        let mut waiting = Vec::new();
        let deadline = tokio::time::Instant::now() + RECOVERY;
        while waiting.is_empty() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "no batch waits for the room's lock"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
            waiting = self.waiting_batches().await;
        }
        assert_eq!(waiting.len(), 1, "one batch holds the send: {waiting:?}");
        waiting[0]
    }

    /// Ends the holder's transaction, so that the batch gets the lock; returns the observer.
    async fn release(mut self) -> PgConnection {
        sqlx::query("ROLLBACK")
            .execute(&mut self.holder)
            .await
            .unwrap();
        self.observer
    }
}

/// Waits until backend `pid` has ended.
async fn wait_until_gone(db: &mut PgConnection, pid: i32) {
    let deadline = tokio::time::Instant::now() + RECOVERY;
    loop {
        let alive: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1)")
                .bind(pid)
                .fetch_one(&mut *db)
                .await
                .unwrap();
        if !alive {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "backend {pid} never ended"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The seqs of the messages stored under `client_msg_id` by `sender` in `room`.
async fn stored_under(
    db: &mut PgConnection,
    sender: Uuid,
    room: Uuid,
    client_msg_id: &str,
) -> Vec<i64> {
    sqlx::query_scalar(
        "SELECT seq FROM chat.messages
         WHERE sender_id = $1 AND room_id = $2 AND client_msg_id = $3",
    )
    .bind(sender)
    .bind(room)
    .bind(client_msg_id)
    .fetch_all(db)
    .await
    .unwrap()
}

/// Every seq of `room`, in order.
async fn seqs_of(db: &mut PgConnection, room: Uuid) -> Vec<i64> {
    sqlx::query_scalar("SELECT seq FROM chat.messages WHERE room_id = $1 ORDER BY seq")
        .bind(room)
        .fetch_all(db)
        .await
        .unwrap()
}

/// Waits until the edge closed `socket`'s connection, as it closes every client's when it
/// follows a restarted chat-svc (so that they reconnect and catch up): a socket connected
/// after that stays. An unknown event is the probe, since the edge answers it itself.
async fn wait_until_closed(socket: &SioClient) {
    let deadline = tokio::time::Instant::now() + RECOVERY;
    while socket.try_call("no-such-event", json!({})).await.is_some() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the edge never closed the connection"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `socket` to go on with after chat-svc restarted: on the Postgres bus the edge closes its
/// connection (to make it catch up), and `person` connects again; on NATS it stays, which the
/// events it goes on hearing prove (it does not reconnect by itself).
async fn after_chat_svc_restart(edge: &str, person: &Person, socket: SioClient) -> SioClient {
    match test_bus() {
        BusKind::Postgres => {
            wait_until_closed(&socket).await;
            reconnect(edge, person).await
        }
        BusKind::Nats => socket,
    }
}

/// A stack of the built binaries with `edges` edges, ready (following every service's events).
async fn stack_of(edges: usize) -> Stack {
    Stack::start(Settings { edges, turn: None }).await
}

async fn connect(edge: &str, person: &Person) -> SioClient {
    SioClient::connect(edge, "/chat", Some(&person.token))
        .await
        .unwrap_or_else(|refusal| panic!("{} refused: {refusal}", person.name))
}

/// Connects as soon as the edge serves `/chat` again (it refuses while it closes every
/// connection, and while it starts).
async fn reconnect(edge: &str, person: &Person) -> SioClient {
    let deadline = tokio::time::Instant::now() + RECOVERY;
    loop {
        match SioClient::connect(edge, "/chat", Some(&person.token)).await {
            Ok(socket) => return socket,
            Err(refusal) => assert!(
                tokio::time::Instant::now() < deadline,
                "{} never connected again: {refusal}",
                person.name
            ),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Sends `payload` as a client that retries does: connects, sends, and on no ack or an
/// UNAVAILABLE one, connects again and sends the same again. Returns the socket and the
/// `message` of the first successful ack.
async fn send_until_acked(edge: &str, person: &Person, payload: &Value) -> (SioClient, Value) {
    let deadline = tokio::time::Instant::now() + RECOVERY;
    let mut tried = Vec::new();
    while tokio::time::Instant::now() < deadline {
        if let Ok(socket) = SioClient::connect(edge, "/chat", Some(&person.token)).await {
            match socket.try_call("send-message", payload.clone()).await {
                Some(ack) if ack["ok"] == true => return (socket, ack["data"]["message"].clone()),
                Some(ack) if ack["error"]["code"] == "UNAVAILABLE" => tried.push(ack),
                Some(ack) => panic!("refused: {ack}"),
                None => tried.push(Value::Null),
            }
            socket.disconnect().await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("never acked; tried: {tried:?}");
}

/// A group of `alice` and `bob` made by `alice`, with one message already in it (seq 1),
/// which `bob` received; returns the room's id.
async fn room_with_one_message(alice: &SioClient, bob: &mut SioClient, bob_id: Uuid) -> Uuid {
    let room = data(
        alice
            .call(
                "create-room",
                json!({ "name": "faults", "isGroup": true, "memberIds": [bob_id] }),
            )
            .await,
    )["room"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    bob.next_event("room-created").await;
    let first = data(
        alice
            .call(
                "send-message",
                json!({ "chatRoomId": room, "content": "before", "clientMsgId": "c-0" }),
            )
            .await,
    );
    assert_eq!(first["message"]["seq"], 1);
    assert_eq!(bob.next_event("new-message").await["content"], "before");
    room
}

/// Sends "after" and checks that it took the next seq after `seq` and that it is the next
/// message `bob` hears (the retry announced nothing more).
async fn next_send_is_next(edge: &str, alice: &Person, bob: &mut SioClient, room: Uuid, seq: i64) {
    let payload = json!({ "chatRoomId": room, "content": "after", "clientMsgId": "c-after" });
    let (_, after) = send_until_acked(edge, alice, &payload).await;
    assert_eq!(after["seq"], seq + 1, "no gap: {after}");
    let heard = bob.next_event("new-message").await;
    assert_eq!(heard["id"], after["id"], "{heard}");
}

#[tokio::test]
async fn a_retry_after_chat_svc_is_killed_mid_batch_stores_the_message_once() {
    let _alone = heavy().await;
    let stack = stack_of(1).await;
    let edge = stack.edges[0].clone();
    let (alice, bob) = (Person::new("alice"), Person::new("bob"));
    let alice_socket = connect(&edge, &alice).await;
    let mut bob_socket = connect(&edge, &bob).await;
    let room = room_with_one_message(&alice_socket, &mut bob_socket, bob.id).await;
    let payload =
        json!({ "chatRoomId": room, "content": "mid-batch", "clientMsgId": "c-mid-batch" });

    let mut lock = RoomLock::take(&stack, room).await;
    let first_ack = alice_socket
        .call_later("send-message", payload.clone())
        .await;
    let batch = lock.wait_for_a_batch().await;
    stack.kill_and_restart("chat-svc").await.unwrap();
    let mut db = lock.release().await;
    // The killed process's transaction gets the lock, finds its client gone, and ends
    // without a commit.
    wait_until_gone(&mut db, batch).await;
    assert_eq!(
        stored_under(&mut db, alice.id, room, "c-mid-batch").await,
        [] as [i64; 0],
        "the killed batch stored nothing"
    );
    if let Some(ack) = first_ack.await {
        assert_eq!(ack["ok"], false, "nothing was stored, yet: {ack}");
    }

    // chat-svc is back; on Postgres the edge makes every client reconnect to catch up.
    let mut bob_socket = after_chat_svc_restart(&edge, &bob, bob_socket).await;
    let (_, retried) = send_until_acked(&edge, &alice, &payload).await;
    assert_eq!(retried["seq"], 2, "{retried}");
    assert_eq!(retried["content"], "mid-batch", "{retried}");
    assert_eq!(
        stored_under(&mut db, alice.id, room, "c-mid-batch").await,
        [2]
    );
    let heard = bob_socket.next_event("new-message").await;
    assert_eq!(heard["id"], retried["id"], "{heard}");
    next_send_is_next(&edge, &alice, &mut bob_socket, room, 2).await;
    assert_eq!(seqs_of(&mut db, room).await, [1, 2, 3]);
    assert_eq!(stack.restarts("chat-svc").await, Some(1));
    let faults = stack.faults().await;
    assert!(faults.is_empty(), "{faults:?}; {stack}");
}

/// The ack is lost because the sender's edge dies while the batch waits; the batch then
/// commits, and chat-svc is killed right after. (Killing chat-svc itself between its commit
/// and its answer cannot be timed from outside: nothing the test can hold sits between them.)
#[tokio::test]
async fn a_retry_after_the_ack_of_a_committed_batch_was_lost_is_answered_with_the_stored_message() {
    let _alone = heavy().await;
    let stack = stack_of(2).await;
    // alice on the edge that dies, bob on the other one.
    let (alice_edge, bob_edge) = (stack.edges[0].clone(), stack.edges[1].clone());
    let (alice, bob) = (Person::new("alice"), Person::new("bob"));
    let alice_socket = connect(&alice_edge, &alice).await;
    let mut bob_socket = connect(&bob_edge, &bob).await;
    let room = room_with_one_message(&alice_socket, &mut bob_socket, bob.id).await;
    let payload = json!({ "chatRoomId": room, "content": "lost ack", "clientMsgId": "c-lost" });

    let mut lock = RoomLock::take(&stack, room).await;
    let first_ack = alice_socket
        .call_later("send-message", payload.clone())
        .await;
    lock.wait_for_a_batch().await;
    stack.kill_and_restart("edge").await.unwrap();
    let mut db = lock.release().await;
    // chat-svc lives on: the batch commits and bob hears of it.
    let stored = bob_socket.next_event("new-message").await;
    assert_eq!(stored["content"], "lost ack", "{stored}");
    assert_eq!(stored["seq"], 2, "{stored}");
    assert_eq!(stored_under(&mut db, alice.id, room, "c-lost").await, [2]);
    assert_eq!(first_ack.await, None, "alice's edge died before the commit");

    stack.kill_and_restart("chat-svc").await.unwrap();
    let mut bob_socket = after_chat_svc_restart(&bob_edge, &bob, bob_socket).await;
    let (_, retried) = send_until_acked(&alice_edge, &alice, &payload).await;
    assert_eq!(retried["id"], stored["id"], "the stored message: {retried}");
    assert_eq!(retried["seq"], 2, "{retried}");
    assert_eq!(stored_under(&mut db, alice.id, room, "c-lost").await, [2]);
    next_send_is_next(&alice_edge, &alice, &mut bob_socket, room, 2).await;
    assert_eq!(seqs_of(&mut db, room).await, [1, 2, 3]);
    let faults = stack.faults().await;
    assert!(faults.is_empty(), "{faults:?}; {stack}");
}

/// The edge's `parley_edge_connections` gauge of `namespace`, from its `/metrics`.
async fn connections_on(edge: &str, namespace: &str) -> f64 {
    let text = reqwest::get(format!("{edge}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let series = format!("parley_edge_connections{{namespace=\"{namespace}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(series.as_str()))
        .map_or(0.0, |value| value.trim().parse().unwrap())
}

/// Waits until the edge counts `expected` sockets on `namespace`.
async fn wait_for_connections(edge: &str, namespace: &str, expected: f64) {
    let deadline = tokio::time::Instant::now() + RECOVERY;
    loop {
        let counted = connections_on(edge, namespace).await;
        if counted == expected {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{namespace}: {counted} sockets counted, {expected} connected"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// When the edge closes every client's connection after chat-svc restarted (the Postgres
/// bus), each socket ends as a lost connection's does: its disconnect handler runs (the
/// presence session of a `/status` socket ends, the gauges fall). Before, closing them took
/// the namespaces away first, the handlers found no socket, and the edge went on renewing the
/// sessions of users long gone. On NATS it closes none, even when chat-svc had published
/// nothing since the edge subscribed: there is no reconnect wave.
#[tokio::test]
async fn a_chat_svc_restart_ends_each_socket_it_closes_and_on_nats_closes_none() {
    let _alone = heavy().await;
    let stack = stack_of(1).await;
    let edge = stack.edges[0].clone();
    let (alice, bob) = (Person::new("alice"), Person::new("bob"));
    let chat = connect(&edge, &alice).await;
    let status = SioClient::connect(&edge, "/status", Some(&alice.token))
        .await
        .unwrap_or_else(|refusal| panic!("/status refused: {refusal}"));
    let mut bob_chat = connect(&edge, &bob).await;
    wait_for_connections(&edge, "/chat", 2.0).await;
    wait_for_connections(&edge, "/status", 1.0).await;

    stack.kill_and_restart("chat-svc").await.unwrap();
    match test_bus() {
        BusKind::Postgres => {
            wait_until_closed(&chat).await;
            wait_until_closed(&status).await;
            // These clients do not reconnect: nothing is left of them on the edge.
            wait_for_connections(&edge, "/chat", 0.0).await;
            wait_for_connections(&edge, "/status", 0.0).await;
        }
        BusKind::Nats => {
            // A room made once chat-svc is back reaches bob on the socket he had before.
            let group = json!({ "name": "after", "isGroup": true, "memberIds": [bob.id] });
            let deadline = tokio::time::Instant::now() + RECOVERY;
            while chat
                .try_call("create-room", group.clone())
                .await
                .map(|ack| ack["ok"].clone())
                != Some(Value::Bool(true))
            {
                assert!(tokio::time::Instant::now() < deadline, "no room was made");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            assert_eq!(
                bob_chat.next_event("room-created").await["room"]["name"],
                "after"
            );
            assert!(status.try_call("no-such-event", json!({})).await.is_some());
            wait_for_connections(&edge, "/chat", 2.0).await;
            wait_for_connections(&edge, "/status", 1.0).await;
        }
    }
    let faults = stack.faults().await;
    assert!(faults.is_empty(), "{faults:?}; {stack}");
}
