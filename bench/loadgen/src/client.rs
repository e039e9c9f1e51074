//! A lean Socket.IO v4 client: Engine.IO v4 over WebSocket only, several namespaces on one
//! connection, acks by id. It parses only what the benchmark reads (the event name, the ack id
//! and the send time inside a message's content), so that one core can take in tens of
//! thousands of events per second.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{WebSocketStream, client_async_with_config};

pub type Socket = WebSocketStream<TcpStream>;

/// How long setup requests (connect, create-room, warm-up sends) may take.
const SETUP_TIMEOUT: Duration = Duration::from_secs(30);

/// One decoded Engine.IO / Socket.IO frame, borrowing from the text it came in.
#[derive(Debug, PartialEq)]
pub enum Frame<'a> {
    /// Engine.IO ping: answer with a pong or the server closes the connection.
    Ping,
    /// A namespace accepted the connection.
    Connected(&'a str),
    /// A namespace refused the connection; the payload says why.
    ConnectError(&'a str, &'a str),
    /// An event: namespace, name, and the whole JSON array `["name", data]`.
    Event {
        nsp: &'a str,
        name: &'a str,
        array: &'a str,
    },
    /// An ack: namespace, id, and the JSON array of its arguments.
    Ack {
        nsp: &'a str,
        id: u64,
        array: &'a str,
    },
    /// Anything else (Engine.IO open, noop, disconnects).
    Other,
}

/// Splits `/chat,rest` into (`/chat`, `rest`); the main namespace has no prefix.
fn split_namespace(text: &str) -> (&str, &str) {
    if text.starts_with('/') {
        match text.split_once(',') {
            Some((nsp, rest)) => (nsp, rest),
            None => (text, ""),
        }
    } else {
        ("/", text)
    }
}

/// Splits leading digits (an ack id) from the rest.
fn split_id(text: &str) -> (Option<u64>, &str) {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let (id, rest) = text.split_at(digits);
    (id.parse().ok(), rest)
}

pub fn decode(text: &str) -> Frame<'_> {
    let mut chars = text.chars();
    match (chars.next(), chars.next()) {
        (Some('2'), None) => Frame::Ping,
        (Some('4'), Some(kind)) => {
            let (nsp, rest) = split_namespace(chars.as_str());
            match kind {
                '0' => Frame::Connected(nsp),
                '4' => Frame::ConnectError(nsp, rest),
                '2' => {
                    let (_, array) = split_id(rest);
                    let name = array
                        .strip_prefix("[\"")
                        .and_then(|tail| tail.split_once('"'))
                        .map_or("", |(name, _)| name);
                    Frame::Event { nsp, name, array }
                }
                '3' => match split_id(rest) {
                    (Some(id), array) => Frame::Ack { nsp, id, array },
                    (None, _) => Frame::Other,
                },
                _ => Frame::Other,
            }
        }
        _ => Frame::Other,
    }
}

/// Whether an ack array says `{ ok: true }`. Both servers put `ok` first.
pub fn ack_is_ok(array: &str) -> bool {
    array
        .get(..16)
        .is_some_and(|head| head.contains("\"ok\":true"))
}

/// The send time a benchmark message carries in its content (`"content":"b<micros> ..."`).
pub fn sent_micros(array: &str) -> Option<u64> {
    const MARK: &str = "\"content\":\"b";
    let start = array.find(MARK)? + MARK.len();
    let tail = array.get(start..)?;
    let digits = tail.bytes().take_while(u8::is_ascii_digit).count();
    tail.get(..digits)?.parse().ok()
}

/// The text of an event with an ack id, ready for the wire.
pub fn event_frame(nsp: &str, ack: u64, event: &str, payload: &Value) -> String {
    format!("42{nsp},{ack}[\"{event}\",{payload}]")
}

/// Opens a WebSocket from `source` (spreading connections over 127.0.0.x keeps each source
/// address far from running out of ephemeral ports), then connects the namespaces.
pub async fn connect(
    server: SocketAddr,
    source: Ipv4Addr,
    token: &str,
    namespaces: &[&str],
) -> anyhow::Result<Socket> {
    tokio::time::timeout(SETUP_TIMEOUT, async {
        let tcp = TcpSocket::new_v4()?;
        tcp.bind(SocketAddr::V4(SocketAddrV4::new(source, 0)))?;
        let stream = tcp.connect(server).await?;
        stream.set_nodelay(true)?;
        let request =
            format!("ws://{server}/socket.io/?EIO=4&transport=websocket").into_client_request()?;
        // Small buffers: the generator holds up to 20k connections, whose frames are small.
        let config = WebSocketConfig::default()
            .read_buffer_size(8 * 1024)
            .write_buffer_size(0);
        let (mut ws, _) = client_async_with_config(request, stream, Some(config)).await?;
        for nsp in namespaces {
            let auth = serde_json::json!({ "token": token });
            ws.send(Message::text(format!("40{nsp},{auth}"))).await?;
        }
        let mut pending = namespaces.len();
        while pending > 0 {
            let text = next_text(&mut ws).await?;
            match decode(&text) {
                Frame::Ping => ws.send(Message::text("3")).await?,
                Frame::Connected(_) => pending -= 1,
                Frame::ConnectError(nsp, why) => bail!("{nsp} refused the connection: {why}"),
                _ => {}
            }
        }
        Ok(ws)
    })
    .await
    .context("connect timed out")?
}

/// The next text frame; `Err` once the connection is gone.
pub async fn next_text(ws: &mut Socket) -> anyhow::Result<String> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => return Ok(text.as_str().to_owned()),
            Some(Ok(Message::Close(_))) | None => bail!("connection closed"),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e.into()),
        }
    }
}

/// Sends one event and waits for its ack, answering pings and skipping other events meanwhile.
/// Returns the ack's `data`, or an error naming the server's error code. For setup only: the
/// load phase never waits on an ack.
pub async fn request(
    ws: &mut Socket,
    nsp: &str,
    ack: u64,
    event: &str,
    payload: &Value,
) -> anyhow::Result<Value> {
    tokio::time::timeout(SETUP_TIMEOUT, async {
        ws.send(Message::text(event_frame(nsp, ack, event, payload)))
            .await?;
        loop {
            let text = next_text(ws).await?;
            match decode(&text) {
                Frame::Ping => ws.send(Message::text("3")).await?,
                Frame::Ack { id, array, .. } if id == ack => {
                    let mut args: Vec<Value> = serde_json::from_str(array)?;
                    let reply = args.pop().ok_or_else(|| anyhow!("empty ack"))?;
                    if reply.get("ok") == Some(&Value::Bool(true)) {
                        return Ok(reply.get("data").cloned().unwrap_or(Value::Null));
                    }
                    bail!(
                        "{event} failed: {}",
                        reply.get("error").unwrap_or(&Value::Null)
                    );
                }
                _ => {}
            }
        }
    })
    .await
    .with_context(|| format!("{event} timed out"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_frames_the_benchmark_reads() {
        assert_eq!(decode("2"), Frame::Ping);
        assert_eq!(decode("40/chat,{\"sid\":\"x\"}"), Frame::Connected("/chat"));
        assert_eq!(
            decode("44/chat,{\"message\":\"UNAUTHENTICATED\"}"),
            Frame::ConnectError("/chat", "{\"message\":\"UNAUTHENTICATED\"}")
        );
        assert_eq!(
            decode("42/chat,[\"new-message\",{\"content\":\"b123 hi\"}]"),
            Frame::Event {
                nsp: "/chat",
                name: "new-message",
                array: "[\"new-message\",{\"content\":\"b123 hi\"}]"
            }
        );
        assert_eq!(
            decode("43/chat,17[{\"ok\":true,\"data\":{}}]"),
            Frame::Ack {
                nsp: "/chat",
                id: 17,
                array: "[{\"ok\":true,\"data\":{}}]"
            }
        );
        assert_eq!(decode("0{\"sid\":\"a\"}"), Frame::Other);
    }

    #[test]
    fn reads_ack_outcome_and_send_time() {
        assert!(ack_is_ok("[{\"ok\":true,\"data\":{}}]"));
        assert!(!ack_is_ok("[{\"ok\":false,\"error\":{}}]"));
        assert_eq!(
            sent_micros("[\"new-message\",{\"id\":\"1\",\"content\":\"b98765 text\"}]"),
            Some(98765)
        );
        assert_eq!(
            sent_micros("[\"new-message\",{\"content\":\"hello\"}]"),
            None
        );
    }
}
