//! A client that stops reading: the edge notices the events it cannot take, keeps at most a
//! bounded queue for it, and stays healthy for everyone else. The edge runs as its own
//! process so that its memory can be measured.

use std::{net::SocketAddr, process::Command, time::Duration};

use serde_json::json;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpSocket, TcpStream, tcp::OwnedReadHalf},
};

use crate::support::{
    SioClient, TestSystem,
    acks::data,
    processes::{Children, binary, free_port, wait_ready},
    system::{EdgeAuth, JWT_SECRET, Timing},
    tokens::Person,
};

/// Messages sent to the client that does not read, and their size: far more than the
/// kernel's socket buffers (4 MiB here) and the edge's queue for one socket hold together.
const FLOOD: usize = 4000;
const CONTENT_CHARS: usize = 4000;
/// Sockets sending the flood at once.
const SENDERS: usize = 4;
/// What the edge may grow by while the flood goes to a client that reads none of it.
const GROWTH_BOUND_KIB: u64 = 6 * 1024;

/// One WebSocket frame from a client: text, final, masked (with a zero mask, which RFC 6455
/// allows: the payload is sent as is).
fn client_text_frame(text: &str) -> Vec<u8> {
    let payload = text.as_bytes();
    let mut frame = vec![0x81];
    match payload.len() {
        len @ 0..=125 => frame.push(0x80 | len as u8),
        len => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&u16::try_from(len).unwrap().to_be_bytes());
        }
    }
    frame.extend_from_slice(&[0, 0, 0, 0]);
    frame.extend_from_slice(payload);
    frame
}

/// Reads until `needle` has arrived.
async fn read_until(stream: &mut TcpStream, needle: &str) {
    let mut seen = Vec::new();
    let mut buffer = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains(needle) {
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer))
            .await
            .expect("the edge answers")
            .unwrap();
        assert!(read > 0, "the edge closed the connection");
        seen.extend_from_slice(&buffer[..read]);
    }
}

/// A `/chat` socket over a raw WebSocket with a small receive buffer, connected and then
/// not read until the test reads the returned half. It answers the Engine.IO heartbeat
/// blindly (a pong every few seconds), so that it stays connected until its queue on the
/// edge is full.
async fn socket_that_never_reads(edge: SocketAddr, token: &str) -> OwnedReadHalf {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(edge).await.unwrap();
    let upgrade = format!(
        "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: {edge}\r\n\
         Upgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    stream.write_all(upgrade.as_bytes()).await.unwrap();
    read_until(&mut stream, "\"pingInterval\"").await;
    let connect = format!("40/chat,{}", json!({ "token": token }));
    stream
        .write_all(&client_text_frame(&connect))
        .await
        .unwrap();
    read_until(&mut stream, "40/chat,{\"sid\"").await;
    let (reader, mut writer) = stream.into_split();
    tokio::spawn(async move {
        let pong = client_text_frame("3");
        while writer.write_all(&pong).await.is_ok() {
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
    });
    reader
}

/// Reads everything until the edge closes the connection.
async fn read_to_the_end(mut reader: OwnedReadHalf) {
    let mut buffer = vec![0; 64 * 1024];
    while let Ok(read) = reader.read(&mut buffer).await {
        if read == 0 {
            return;
        }
    }
}

fn resident_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/<pid>/status")
}

#[tokio::test]
async fn a_client_that_never_reads_costs_a_bounded_queue_and_is_resynced() {
    let _alone = crate::support::heavy().await;
    let system = TestSystem::spawn_with_timing(
        EdgeAuth::default(),
        Timing {
            message_rate_per_minute: 1_000_000,
            ..Timing::default()
        },
    )
    .await;
    let port = free_port();
    let edge = Children(vec![
        Command::new(binary("edge"))
            .env("PARLEY_EDGE_ADDR", format!("127.0.0.1:{port}"))
            .env(
                "PARLEY_FRIENDS_URL",
                format!("http://{}", system.friends.addr),
            )
            .env(
                "PARLEY_PRESENCE_URL",
                format!("http://{}", system.presence.addr),
            )
            .env("PARLEY_CHAT_URL", format!("http://{}", system.chat.addr))
            .env("PARLEY_JWT_SECRET", JWT_SECRET)
            // No media-svc nor calls-svc in this system: /readyz would wait for them.
            .env("PARLEY_MEDIA_URL", "")
            .env("PARLEY_CALLS_URL", "")
            // One sender floods: the per-user event limits would stop it first.
            .env("PARLEY_LIMIT_MESSAGES", "0")
            .env("RUST_LOG", "error")
            .spawn()
            .unwrap(),
    ]);
    let edge_pid = edge.0[0].id();
    let edge_url = format!("http://127.0.0.1:{port}");
    wait_ready(&format!("{edge_url}/readyz")).await;

    let (alice, bob) = (Person::new("alice"), Person::new("bob"));
    let bob_socket =
        socket_that_never_reads(format!("127.0.0.1:{port}").parse().unwrap(), &bob.token).await;
    let mut senders = Vec::new();
    for _ in 0..SENDERS {
        senders.push(
            SioClient::connect(&edge_url, "/chat", Some(&alice.token))
                .await
                .unwrap(),
        );
    }
    let content = "x".repeat(CONTENT_CHARS);
    let message = |n: usize| json!({ "receiverId": bob.id, "content": content, "clientMsgId": format!("m{n}") });
    // Warm up, so that what is measured is the flood and not first allocations.
    for n in 0..100 {
        data(senders[0].call("send-message", message(n)).await);
    }
    let before = resident_kib(edge_pid);
    let flood = senders
        .iter()
        .enumerate()
        .map(|(index, sender)| async move {
            for n in (100 + index..FLOOD).step_by(SENDERS) {
                data(sender.call("send-message", message(n)).await);
            }
        });
    futures_util::future::join_all(flood).await;
    let after = resident_kib(edge_pid);
    let sent_kib = (FLOOD * CONTENT_CHARS / 1024) as u64;
    println!(
        "edge RSS {before} KiB -> {after} KiB while {sent_kib} KiB went to a client that reads nothing"
    );
    assert!(
        after.saturating_sub(before) < GROWTH_BOUND_KIB,
        "the edge grew from {before} KiB to {after} KiB while {sent_kib} KiB went to a client \
         that reads nothing"
    );

    // The edge noticed the events bob missed and is making him resynchronise.
    let metrics = reqwest::get(format!("{edge_url}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|line| line.starts_with("parley_edge_lagging_sockets_total{namespace=\"/chat\"} ")),
        "no lagging socket counted:\n{metrics}"
    );
    // Everyone else is served as before.
    let ack = senders[0].call("list-rooms", json!({})).await;
    assert_eq!(ack["ok"], true, "{ack}");

    // bob reads again, quickly: his transport is closed all the same (so that his client
    // reconnects and catches up), rather than kept busy while he goes on missing events.
    let closed = tokio::time::timeout(Duration::from_secs(15), read_to_the_end(bob_socket)).await;
    assert!(
        closed.is_ok(),
        "a socket that missed events is still open once it reads again"
    );
}
