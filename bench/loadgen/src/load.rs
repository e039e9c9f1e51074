//! The load phase of one connection: send on an open-loop schedule (independent of acks, so a
//! slow server cannot slow the offered load and hide its latency), count what arrives, and
//! record ack and delivery latencies.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::sync::watch;
use tokio::time::sleep_until;
use tokio_tungstenite::tungstenite::Message;

use crate::client::{self, Frame, Socket};
use crate::stats::Recorder;

/// What a connection sends during the load phase.
pub enum Request {
    /// `send-message` into a room, or to a receiver (a DM).
    Message { target: String },
    /// `get-history` of a room.
    History { room: String },
    /// `heartbeat` on `/status`.
    Heartbeat,
}

pub struct Sender {
    pub request: Request,
    /// Requests per second for this user; 0 pauses. Each gap is drawn from an exponential
    /// distribution, so users send independently (a Poisson process), not in lockstep.
    pub rate: watch::Receiver<f64>,
    pub recorder: Arc<Recorder>,
}

/// What a connection listens for.
pub struct Listener {
    /// The event whose arrivals count as deliveries (with latency when it carries a send time).
    pub delivery: &'static str,
    pub recorder: Arc<Recorder>,
}

/// One padding string for message content: about the size of a typical chat line.
const FILLER: &str = "the quick brown fox jumps over the lazy dog, twice over";

fn frame_for(request: &Request, ack: u64, sent: u64, msg_id_prefix: &str) -> String {
    match request {
        Request::Message { target } => format!(
            "42/chat,{ack}[\"send-message\",{{{target},\"content\":\"b{sent} {FILLER}\",\"clientMsgId\":\"{msg_id_prefix}-{ack}\"}}]"
        ),
        Request::History { room } => {
            format!("42/chat,{ack}[\"get-history\",{{\"roomId\":\"{room}\",\"limit\":50}}]")
        }
        Request::Heartbeat => format!("42/status,{ack}[\"heartbeat\",{{}}]"),
    }
}

/// The time to the next request. People send at random (exponential gaps); heartbeats are
/// periodic, as clients send them on a timer: a random gap could exceed the server's
/// heartbeat timeout and turn a connected user offline.
fn next_gap(request: &Request, rate: f64) -> Duration {
    if rate <= 0.0 {
        return Duration::from_secs(3600);
    }
    if matches!(request, Request::Heartbeat) {
        return Duration::from_secs_f64((1.0 / rate).min(3600.0));
    }
    // Inverse transform sampling; 1 - u is in (0, 1].
    let u = 1.0 - fastrand::f64();
    Duration::from_secs_f64((-u.ln() / rate).min(3600.0))
}

/// The first gap: exponential gaps need nothing more (they have no memory); periodic ones
/// start at a random phase, so that users do not send in lockstep.
fn first_gap(request: &Request, rate: f64) -> Duration {
    match request {
        Request::Heartbeat => next_gap(request, rate).mul_f64(fastrand::f64()),
        _ => next_gap(request, rate),
    }
}

/// Runs until the connection closes or the task is aborted. `msg_id_prefix` begins the
/// `clientMsgId` of each send (see `users::msg_id_prefix`).
pub async fn drive(
    mut ws: Socket,
    msg_id_prefix: String,
    mut sender: Option<Sender>,
    listener: Option<Listener>,
    epoch: Instant,
) {
    let mut next_ack: u64 = 1_000;
    let mut in_flight: VecDeque<(u64, Instant)> = VecDeque::new();
    let mut next_send = Instant::now()
        + sender.as_ref().map_or(Duration::from_secs(3600), |s| {
            first_gap(&s.request, *s.rate.borrow())
        });
    // A rate whose sender is gone is fixed from then on.
    let mut rate_may_change = sender.is_some();
    loop {
        tokio::select! {
            incoming = ws.next() => {
                let text = match incoming {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                    Some(Ok(_)) => continue,
                };
                match client::decode(text.as_str()) {
                    Frame::Ping if ws.send(Message::text("3")).await.is_err() => return,
                    Frame::Ack { id, array, .. } => {
                        let Some(sender) = &sender else { continue };
                        let Some(at) = in_flight.iter().position(|(i, _)| *i == id) else { continue };
                        let Some((_, sent)) = in_flight.remove(at) else { continue };
                        let ok = client::ack_is_ok(array);
                        sender.recorder.with(|w| {
                            w.frames += 1;
                            if ok {
                                w.acked_ok += 1;
                                w.ack.record(sent.elapsed());
                            } else {
                                w.acked_error += 1;
                            }
                        });
                    }
                    Frame::Event { name, array, .. } => {
                        let Some(listener) = &listener else { continue };
                        let delivered = name == listener.delivery;
                        let latency = if delivered {
                            client::sent_micros(array).map(|sent| {
                                let now = epoch.elapsed().as_micros() as u64;
                                Duration::from_micros(now.saturating_sub(sent))
                            })
                        } else {
                            None
                        };
                        listener.recorder.with(|w| {
                            w.frames += 1;
                            if delivered {
                                w.deliveries += 1;
                            }
                            if let Some(latency) = latency {
                                w.delivery.record(latency);
                            }
                        });
                    }
                    _ => {}
                }
            }
            _ = sleep_until(next_send.into()), if sender.is_some() => {
                let Some(sender) = &sender else { continue };
                let rate = *sender.rate.borrow();
                next_send += next_gap(&sender.request, rate);
                // A task that fell behind (the generator was busy) does not burst to catch up.
                let now = Instant::now();
                if next_send < now {
                    next_send = now + next_gap(&sender.request, rate);
                }
                if rate <= 0.0 {
                    continue;
                }
                next_ack += 1;
                let sent = epoch.elapsed().as_micros() as u64;
                let frame = frame_for(&sender.request, next_ack, sent, &msg_id_prefix);
                if ws.send(Message::text(frame)).await.is_err() {
                    return;
                }
                in_flight.push_back((next_ack, now));
                // Acks that never came (lost or from an earlier window) must not pile up.
                while in_flight.len() > 1_000 {
                    in_flight.pop_front();
                }
                sender.recorder.with(|w| w.sent += 1);
            }
            changed = async {
                match sender.as_mut() {
                    Some(s) => s.rate.changed().await,
                    None => std::future::pending().await,
                }
            }, if rate_may_change => {
                if changed.is_err() {
                    rate_may_change = false;
                    continue;
                }
                if let Some(sender) = &sender {
                    next_send = Instant::now() + first_gap(&sender.request, *sender.rate.borrow());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_frames_carry_the_send_time_the_receiver_reads() {
        let frame = frame_for(
            &Request::Message {
                target: "\"chatRoomId\":\"r1\"".into(),
            },
            7,
            12345,
            "u1",
        );
        assert!(frame.starts_with("42/chat,7[\"send-message\",{\"chatRoomId\":\"r1\""));
        let array = frame.trim_start_matches("42/chat,7");
        let parsed: serde_json::Value = serde_json::from_str(array).unwrap();
        assert_eq!(parsed[1]["clientMsgId"], "u1-7");
        assert_eq!(client::sent_micros(array), Some(12345));
    }

    #[test]
    fn gaps_average_to_the_rate() {
        let n = 20_000;
        let message = Request::Message {
            target: String::new(),
        };
        let total: f64 = (0..n).map(|_| next_gap(&message, 4.0).as_secs_f64()).sum();
        let mean = total / f64::from(n);
        assert!((mean - 0.25).abs() < 0.02, "mean gap {mean}");
        assert_eq!(
            next_gap(&Request::Heartbeat, 1.0 / 30.0),
            Duration::from_secs(30)
        );
    }
}
