//! A whole Parley system, each part a built binary run as a real process that a test can
//! kill with SIGKILL and have started again (support/supervised.rs): friends-svc,
//! presence-svc, chat-svc, media-svc (its files in a folder of its own, its HTTP data plane on
//! loopback), calls-svc (minting credentials for a real coturn when given one) and one or
//! more edges, on a fresh database. Each process logs to a file of its own, which the tests
//! read back.
//!
//! A restarted edge or chat-svc listens on the address it had, with the settings it had. The
//! others cope as with a crashed replica: a restarted edge is a new edge to presence-svc and
//! calls-svc (its id is made at start), so the dead one's presence and calls leases simply
//! lapse while its clients reconnect, and every gRPC client of chat-svc reconnects to the same
//! URL. Those leases are short here (LEASE_TTL): until one lapses, the dead edge's users stay
//! online and in their calls' sockets (docs/API.md "/status", "/calls"), and with the default
//! 30 s a kill in one test would still show in the next one's presence.

use std::{net::SocketAddr, sync::Arc};

use parley_common::testing::TestDatabase;
use tokio::sync::Mutex;

use super::{
    media::url_keys,
    processes::{free_port, wait_ready},
    scratch::ScratchDir,
    supervised::{Spec, Supervised},
    system::JWT_SECRET,
    turn::Turn,
};

/// presence-svc's PARLEY_EDGE_LEASE_TTL and the edges' PARLEY_CALLS_LEASE_TTL: what a killed
/// edge leaves behind lapses within it.
const LEASE_TTL: &str = "8s";
/// The edges' PARLEY_EDGE_LEASE_INTERVAL: three renewals fit in LEASE_TTL, so a slow one on a
/// busy machine loses nothing, and the calls lease is at least twice it, as the edge requires.
const LEASE_INTERVAL: &str = "2s";

/// What differs between the stacks of the tests.
pub struct Settings<'a> {
    /// How many edges, each on a port of its own.
    pub edges: usize,
    /// The coturn calls-svc mints TURN credentials for; without one it hands out no ICE
    /// servers.
    pub turn: Option<&'a Turn>,
}

pub struct Stack {
    /// `http://127.0.0.1:<port>` of each edge.
    pub edges: Vec<String>,
    /// media-svc's public HTTP origin, where clients PUT and GET files by signed URL.
    pub media_url: String,
    /// Each by its name. Declared first, so that they are killed before their database and
    /// logs go.
    processes: Vec<(String, Arc<Mutex<Supervised>>)>,
    logs: ScratchDir,
    _media_files: ScratchDir,
    database: TestDatabase,
}

impl Stack {
    /// Starts every process and returns once every edge is ready (every backend serving)
    /// and media-svc's HTTP data plane answers.
    pub async fn start(settings: Settings<'_>) -> Self {
        let database = TestDatabase::create().await;
        let logs = ScratchDir::new("stack-logs");
        let media_files = ScratchDir::new("stack-media");
        let any = || -> SocketAddr { format!("127.0.0.1:{}", free_port()).parse().unwrap() };
        let (friends, presence, chat, media, media_http, calls) =
            (any(), any(), any(), any(), any(), any());
        let url = |addr: SocketAddr| format!("http://{addr}");
        let media_url = url(media_http);
        let spec = |binary: &'static str, name: &str, addr, own: Vec<(&'static str, String)>| {
            let mut env = vec![
                ("DATABASE_URL", database.url.clone()),
                // As small as the in-process systems' pools (TestDatabase::args): the other
                // tests run beside this one.
                ("PARLEY_DB_MAX_CONNECTIONS", "5".to_owned()),
                ("PARLEY_FRIENDS_URL", url(friends)),
                ("RUST_LOG", "info".to_owned()),
            ];
            env.extend(database.bus().env());
            env.extend(own);
            let log = logs.path().join(format!("{name}.log"));
            (
                name.to_owned(),
                Spec {
                    binary,
                    env,
                    addr,
                    log,
                },
            )
        };
        let mut specs = vec![
            spec(
                "friends-svc",
                "friends-svc",
                friends,
                vec![
                    ("PARLEY_FRIENDS_ADDR", friends.to_string()),
                    ("PARLEY_FRIENDS_METRICS_ADDR", String::new()),
                ],
            ),
            spec(
                "presence-svc",
                "presence-svc",
                presence,
                vec![
                    ("PARLEY_PRESENCE_ADDR", presence.to_string()),
                    ("PARLEY_PRESENCE_METRICS_ADDR", String::new()),
                    ("PARLEY_EDGE_LEASE_TTL", LEASE_TTL.to_owned()),
                ],
            ),
            spec(
                "chat-svc",
                "chat-svc",
                chat,
                vec![
                    ("PARLEY_CHAT_ADDR", chat.to_string()),
                    ("PARLEY_CHAT_METRICS_ADDR", String::new()),
                    ("PARLEY_MEDIA_URL", url(media)),
                    ("PARLEY_MEDIA_PUBLIC_URL", media_url.clone()),
                    ("PARLEY_MEDIA_URL_KEYS", url_keys()),
                ],
            ),
            spec(
                "media-svc",
                "media-svc",
                media,
                vec![
                    ("PARLEY_MEDIA_ADDR", media.to_string()),
                    ("PARLEY_MEDIA_HTTP_ADDR", media_http.to_string()),
                    ("PARLEY_MEDIA_METRICS_ADDR", String::new()),
                    ("PARLEY_CHAT_URL", url(chat)),
                    ("PARLEY_MEDIA_PUBLIC_URL", media_url.clone()),
                    ("PARLEY_MEDIA_URL_KEYS", url_keys()),
                    ("PARLEY_MEDIA_DIR", media_files.path().display().to_string()),
                    // Every test client connects from 127.0.0.1: no per-IP limit.
                    ("PARLEY_MEDIA_HTTP_PER_IP_PER_MINUTE", "0".to_owned()),
                ],
            ),
        ];
        let mut calls_env = vec![
            ("PARLEY_CALLS_ADDR", calls.to_string()),
            ("PARLEY_CALLS_METRICS_ADDR", String::new()),
            ("PARLEY_CHAT_URL", url(chat)),
            // The figure: a vanished ringing caller ends the call within 10 s.
            ("PARLEY_CALL_CALLER_GRACE", "10s".to_owned()),
        ];
        if let Some(turn) = settings.turn {
            calls_env.push(("PARLEY_TURN_SECRET", turn.secret.clone()));
            calls_env.push(("PARLEY_TURN_URLS", turn.urls()));
        }
        specs.push(spec("calls-svc", "calls-svc", calls, calls_env));
        let mut edges = Vec::new();
        for k in 0..settings.edges {
            let edge = any();
            // deploy/local.sh's names: `edge`, then `edge.1`, `edge.2`, ...
            let name = if k == 0 {
                "edge".to_owned()
            } else {
                format!("edge.{k}")
            };
            specs.push(spec(
                "edge",
                &name,
                edge,
                vec![
                    ("PARLEY_EDGE_ADDR", edge.to_string()),
                    ("PARLEY_PRESENCE_URL", url(presence)),
                    ("PARLEY_CHAT_URL", url(chat)),
                    ("PARLEY_CALLS_URL", url(calls)),
                    ("PARLEY_MEDIA_URL", url(media)),
                    ("PARLEY_JWT_SECRET", JWT_SECRET.to_owned()),
                    ("PARLEY_EDGE_LEASE_INTERVAL", LEASE_INTERVAL.to_owned()),
                    ("PARLEY_CALLS_LEASE_TTL", LEASE_TTL.to_owned()),
                    // Every test client connects from 127.0.0.1: no per-IP limits.
                    ("PARLEY_HANDSHAKES_PER_IP_PER_MINUTE", "0".to_owned()),
                    ("PARLEY_PROBES_PER_IP_PER_MINUTE", "0".to_owned()),
                ],
            ));
            edges.push(url(edge));
        }
        let processes = specs
            .into_iter()
            .map(|(name, spec)| (name, Arc::new(Mutex::new(Supervised::start(spec)))))
            .collect();
        let stack = Self {
            edges,
            media_url,
            processes,
            logs,
            _media_files: media_files,
            database,
        };
        // Ready means following every service's events too: nothing published after this
        // misses a socket that connects after it.
        for edge in &stack.edges {
            wait_ready(&format!("{edge}/readyz")).await;
        }
        wait_ready(&format!("{}/healthz", stack.media_url)).await;
        stack
    }

    /// The database every process works in (chat-svc's tables in schema `chat`), for tests
    /// that look at rows or take locks of their own.
    pub fn database_url(&self) -> &str {
        &self.database.url
    }

    /// The PID of each edge now, in the order of `edges`.
    pub async fn edge_pids(&self) -> Vec<u32> {
        let mut pids = Vec::new();
        for (name, process) in &self.processes {
            if name == "edge" || name.starts_with("edge.") {
                pids.push(process.lock().await.pid());
            }
        }
        pids
    }

    /// Kills the process `name` with SIGKILL and returns its PID once it is gone; it is
    /// started again in the background at once (a later call waits for that). `None`: no
    /// process has that name.
    pub async fn kill_and_restart(&self, name: &str) -> Option<u32> {
        let mut process = self.find(name)?.lock_owned().await;
        let pid = process.kill();
        tokio::spawn(async move { process.restart().await });
        Some(pid)
    }

    /// How often `name` was started again.
    pub async fn restarts(&self, name: &str) -> Option<u32> {
        Some(self.find(name)?.lock().await.restarts)
    }

    /// Every process that exited by itself or did not come back after a restart, with what
    /// happened: none should.
    pub async fn faults(&self) -> Vec<String> {
        let mut faults = Vec::new();
        for (name, process) in &self.processes {
            if let Some(fault) = process.lock().await.fault() {
                faults.push(format!("{name}: {fault}"));
            }
        }
        faults
    }

    fn find(&self, name: &str) -> Option<Arc<Mutex<Supervised>>> {
        self.processes
            .iter()
            .find(|(known, _)| known == name)
            .map(|(_, process)| process.clone())
    }

    /// Every process's log, by file name.
    pub fn logs(&self) -> Vec<(String, String)> {
        let mut logs: Vec<_> = std::fs::read_dir(self.logs.path())
            .unwrap()
            .flatten()
            .map(|entry| {
                (
                    entry.file_name().to_string_lossy().into_owned(),
                    std::fs::read_to_string(entry.path()).unwrap_or_default(),
                )
            })
            .collect();
        logs.sort();
        logs
    }
}

impl std::fmt::Display for Stack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "logs in {}", self.logs)
    }
}
