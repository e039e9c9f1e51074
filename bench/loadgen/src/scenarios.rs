//! The benchmark scenarios. Each sets up its users and rooms, then measures; the same code
//! drives Parley and the baseline, which speak the same events.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{StreamExt, stream};
use serde_json::json;
use tokio::sync::watch;

use crate::client::Socket;
use crate::load::{Listener, Request, Sender};
use crate::setup::{self, Target};
use crate::stats::{self, Recorder, Stopwatch};
use crate::steps::{self, Bounds, MESSAGE_BOUNDS, Output, Schedule};
use crate::users;

/// 1. Idle connections: memory of the server per connected user.
pub async fn idle(
    target: &Target,
    users: usize,
    pids: &[u32],
    settle: Duration,
    out: &Output,
) -> anyhow::Result<()> {
    let rss = || {
        pids.iter()
            .filter_map(|pid| stats::rss_kib(*pid))
            .sum::<u64>()
    };
    let before = rss();
    let ids: Vec<usize> = (0..users).collect();
    let started = Instant::now();
    let (sockets, failed, first_error) =
        setup::connect_all(target, &ids, &["/chat", "/status"]).await;
    let connect_secs = started.elapsed().as_secs_f64();
    let epoch = Instant::now();
    let connected: Vec<usize> = sockets.iter().map(|(n, _)| *n).collect();
    // Idle users still answer pings and send a heartbeat every 30 s, as clients do.
    let tasks = setup::spawn_load(
        sockets.into_iter().map(|(_, ws)| ws).collect(),
        &connected,
        |_| {
            let sender = Sender {
                request: Request::Heartbeat,
                rate: setup::fixed_rate(1.0 / 30.0),
                recorder: Arc::new(Recorder::default()),
            };
            (Some(sender), None)
        },
        epoch,
    );
    tokio::time::sleep(settle).await;
    let after = rss();
    let per_connection = if connected.is_empty() {
        0.0
    } else {
        after.saturating_sub(before) as f64 / connected.len() as f64
    };
    out.write(json!({
        "kind": "idle",
        "users": users,
        "connected": connected.len(),
        "failed": failed,
        "firstError": first_error,
        "connectSeconds": (connect_secs * 10.0).round() / 10.0,
        "rssBeforeKiB": before,
        "rssAfterKiB": after,
        "kibPerConnection": (per_connection * 100.0).round() / 100.0,
    }))?;
    drop(tasks);
    Ok(())
}

/// Which message scenario: pairs sending DMs, or rooms of members.
pub enum Layout {
    /// `pairs` pairs of users; each sends DMs to the other by `receiverId`.
    Pairs { pairs: usize },
    /// `rooms` rooms of `members` users; everyone sends to their room.
    Rooms { rooms: usize, members: usize },
}

/// 2 and 3. Message throughput within the latency bounds.
pub async fn messages(
    target: &Target,
    layout: Layout,
    schedule: &Schedule,
    out: &Output,
) -> anyhow::Result<()> {
    let (user_count, recipients, delivery) = match layout {
        Layout::Pairs { pairs } => (pairs * 2, 1.0, "new-private-message"),
        Layout::Rooms { rooms, members } => (rooms * members, members as f64, "new-message"),
    };
    let ids: Vec<usize> = (0..user_count).collect();
    let mut sockets = setup::connect_every(target, &ids, &["/chat"]).await?;

    // Each user's target, as the JSON fields `send-message` takes.
    let mut targets: Vec<String> = Vec::with_capacity(user_count);
    match layout {
        Layout::Pairs { .. } => {
            for n in 0..user_count {
                targets.push(format!("\"receiverId\":\"{}\"", users::user_id(n ^ 1)));
            }
            // The DM room of each pair exists before measuring, as in a long-running chat.
            warm_up_pairs(&mut sockets, &targets).await?;
        }
        Layout::Rooms { members, .. } => {
            for id in create_rooms(&mut sockets, members, 0).await? {
                for _ in 0..members {
                    targets.push(format!("\"chatRoomId\":\"{id}\""));
                }
            }
        }
    }
    // Let every edge learn the new memberships before load starts.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let recorder = Arc::new(Recorder::default());
    let (rate_tx, rate_rx) = watch::channel(0.0);
    let epoch = Instant::now();
    let mut targets = targets.into_iter();
    let tasks = setup::spawn_load(
        sockets,
        &ids,
        |_| {
            let sender = Sender {
                request: Request::Message {
                    target: targets.next().unwrap_or_default(),
                },
                rate: rate_rx.clone(),
                recorder: recorder.clone(),
            };
            (
                Some(sender),
                Some(Listener {
                    delivery,
                    recorder: recorder.clone(),
                }),
            )
        },
        epoch,
    );
    let senders = user_count as f64;
    steps::run(
        schedule,
        &rate_tx,
        |total| total / senders,
        &recorder,
        recipients,
        MESSAGE_BOUNDS,
        out,
    )
    .await?;
    drop(tasks);
    Ok(())
}

/// Setup runs many sockets at once: a socket left unread for 45 s misses its pings and the
/// server closes it.
const SETUP_AT_ONCE: usize = 128;

async fn warm_up_pairs(sockets: &mut [Socket], targets: &[String]) -> anyhow::Result<()> {
    let sends = sockets
        .iter_mut()
        .zip(targets)
        .step_by(2)
        .map(|(ws, target)| setup::send_one(ws, target));
    let results: Vec<_> = stream::iter(sends)
        .buffer_unordered(SETUP_AT_ONCE)
        .collect()
        .await;
    results.into_iter().collect::<anyhow::Result<Vec<_>>>()?;
    eprintln!("made {} DM rooms", sockets.len() / 2);
    Ok(())
}

/// Makes one group room per `members` consecutive sockets (the first creates it with the
/// others), then sends `preload` messages into each; returns the room ids in order.
async fn create_rooms(
    sockets: &mut [Socket],
    members: usize,
    preload: usize,
) -> anyhow::Result<Vec<String>> {
    let rooms = sockets
        .chunks_mut(members.max(1))
        .enumerate()
        .map(|(room, chunk)| async move {
            let first = room * members;
            let others: Vec<usize> = (first + 1..first + members).collect();
            let creator = chunk
                .first_mut()
                .ok_or_else(|| anyhow::anyhow!("empty room"))?;
            let id = setup::create_group(creator, &format!("room {room}"), &others).await?;
            for _ in 0..preload {
                setup::send_one(creator, &format!("\"chatRoomId\":\"{id}\"")).await?;
            }
            anyhow::Ok(id)
        });
    let ids: Vec<_> = stream::iter(rooms).buffered(SETUP_AT_ONCE).collect().await;
    let ids = ids.into_iter().collect::<anyhow::Result<Vec<_>>>()?;
    eprintln!(
        "created {} rooms of {members} with {preload} messages each",
        ids.len()
    );
    Ok(ids)
}

/// 4. Presence storm: users with seeded friendships connect, then leave and come back in waves.
pub struct Storm {
    pub users: usize,
    pub waves: usize,
    pub wave_size: usize,
    pub gap: Duration,
    /// A shell command printing the server's presence database writes so far (one number).
    pub writes_command: Option<String>,
}

pub async fn presence(target: &Target, storm: &Storm, out: &Output) -> anyhow::Result<()> {
    let recorder = Arc::new(Recorder::default());
    let heartbeats = Arc::new(Recorder::default());
    let epoch = Instant::now();
    let role = |_| {
        let sender = Sender {
            request: Request::Heartbeat,
            rate: setup::fixed_rate(1.0 / 30.0),
            recorder: heartbeats.clone(),
        };
        (
            Some(sender),
            Some(Listener {
                delivery: "friend-status-changed",
                recorder: recorder.clone(),
            }),
        )
    };
    let writes_before = read_writes(storm.writes_command.as_deref());
    let watch = Stopwatch::start();
    recorder.start();
    let ids: Vec<usize> = (0..storm.users).collect();
    let sockets = setup::connect_every(target, &ids, &["/status"]).await?;
    let mut tasks: Vec<Option<setup::AbortOnDrop>> = setup::spawn_load(sockets, &ids, &role, epoch)
        .into_iter()
        .map(Some)
        .collect();
    let mut per_second = Vec::new();
    let mut last = 0u64;
    let mut sample = |per_second: &mut Vec<u64>| {
        let now = recorder.deliveries_so_far();
        per_second.push(now - last);
        last = now;
    };
    for wave in 0..storm.waves {
        let start = (wave * storm.wave_size) % storm.users.max(1);
        let leaving: Vec<usize> = (start..start + storm.wave_size)
            .map(|n| n % storm.users)
            .collect();
        for n in &leaving {
            if let Some(slot) = tasks.get_mut(*n) {
                *slot = None;
            }
        }
        for _ in 0..storm.gap.as_secs() {
            tokio::time::sleep(Duration::from_secs(1)).await;
            sample(&mut per_second);
        }
        let sockets = setup::connect_every(target, &leaving, &["/status"]).await?;
        for (n, task) in leaving
            .iter()
            .zip(setup::spawn_load(sockets, &leaving, &role, epoch))
        {
            if let Some(slot) = tasks.get_mut(*n) {
                *slot = Some(task);
            }
        }
        for _ in 0..storm.gap.as_secs() {
            tokio::time::sleep(Duration::from_secs(1)).await;
            sample(&mut per_second);
        }
    }
    let window = recorder.stop();
    let (seconds, cpu) = watch.read();
    drop(tasks);
    // Writes land at the server's next flush: wait past it (the caller sets the interval).
    let writes = match (writes_before, storm.writes_command.as_deref()) {
        (Some(before), Some(_)) => {
            tokio::time::sleep(Duration::from_secs(35)).await;
            read_writes(storm.writes_command.as_deref()).map(|after| after.saturating_sub(before))
        }
        _ => None,
    };
    let minutes = (seconds + 35.0) / 60.0;
    out.write(json!({
        "kind": "presence",
        "users": storm.users,
        "waves": storm.waves,
        "waveSize": storm.wave_size,
        "seconds": seconds.round(),
        "statusEvents": window.deliveries,
        "statusEventsPerSec": (window.deliveries as f64 / seconds).round(),
        "peakStatusEventsPerSec": per_second.iter().max(),
        "dbWrites": writes,
        "dbWritesPerMinute": writes.map(|w| (w as f64 / minutes).round()),
        "generatorCpu": (cpu * 100.0).round() / 100.0,
    }))?;
    Ok(())
}

fn read_writes(command: Option<&str>) -> Option<u64> {
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg(command?)
        .output()
        .ok()?;
    String::from_utf8_lossy(&output.stdout).trim().parse().ok()
}

/// 5. History reads while messages flow: the read rate within the ack bound.
pub struct Reads {
    pub rooms: usize,
    pub members: usize,
    pub preload: usize,
    pub background_rate: f64,
}

pub async fn history(
    target: &Target,
    reads: &Reads,
    schedule: &Schedule,
    out: &Output,
) -> anyhow::Result<()> {
    let user_count = reads.rooms * reads.members;
    let ids: Vec<usize> = (0..user_count).collect();
    let mut sockets = setup::connect_every(target, &ids, &["/chat"]).await?;
    let rooms = create_rooms(&mut sockets, reads.members, reads.preload).await?;

    // Half the users read history, the other half keep messages flowing.
    let readers = Arc::new(Recorder::default());
    let background = Arc::new(Recorder::default());
    let (rate_tx, rate_rx) = watch::channel(0.0);
    let writers = (user_count - user_count / 2).max(1) as f64;
    let background_rate = setup::fixed_rate(reads.background_rate / writers);
    let epoch = Instant::now();
    let tasks = setup::spawn_load(
        sockets,
        &ids,
        |n| {
            let room = rooms
                .get(n / reads.members.max(1))
                .cloned()
                .unwrap_or_default();
            let sender = if n % 2 == 0 {
                Sender {
                    request: Request::History { room },
                    rate: rate_rx.clone(),
                    recorder: readers.clone(),
                }
            } else {
                let target = format!("\"chatRoomId\":\"{room}\"");
                Sender {
                    request: Request::Message { target },
                    rate: background_rate.clone(),
                    recorder: background.clone(),
                }
            };
            (Some(sender), None)
        },
        epoch,
    );
    let reader_count = (user_count / 2).max(1) as f64;
    let bounds = Bounds {
        ack_p99_ms: MESSAGE_BOUNDS.ack_p99_ms,
        delivery_p99_ms: f64::INFINITY,
    };
    steps::run(
        schedule,
        &rate_tx,
        |total| total / reader_count,
        &readers,
        0.0,
        bounds,
        out,
    )
    .await?;
    drop(tasks);
    Ok(())
}
