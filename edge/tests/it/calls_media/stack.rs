//! A whole Parley system with calls, each part a built binary (a real process, so that a test
//! can kill one with SIGKILL): friends-svc, presence-svc, chat-svc, calls-svc (its TURN
//! settings pointing at a real coturn) and several edges, on a fresh database. Each process
//! logs to a file of its own, read back by the test (signaling must never be logged).

use std::{
    path::PathBuf,
    process::{Command, Stdio},
};

use parley_common::testing::TestDatabase;

use super::turn::Turn;
use crate::support::{
    processes::{Children, binary, free_port, wait_ready},
    system::JWT_SECRET,
};

pub struct Stack {
    pub edges: Vec<String>,
    /// The PID of each edge, in the order of `edges`.
    pub edge_pids: Vec<u32>,
    logs: PathBuf,
    _processes: Children,
    _database: TestDatabase,
}

impl Stack {
    /// The services and `edges` edges, calls-svc minting credentials for `turn`.
    pub async fn start(turn: &Turn, edges: usize) -> Self {
        let database = TestDatabase::create().await;
        let logs = std::env::temp_dir().join(format!("parley-calls-media-{}", database.name));
        std::fs::create_dir_all(&logs).unwrap();
        let (friends, presence, chat, calls) = (free_port(), free_port(), free_port(), free_port());
        let url = |port: u16| format!("http://127.0.0.1:{port}");
        let process = |name: &str, log: &str| {
            let file = std::fs::File::create(logs.join(format!("{log}.log"))).unwrap();
            let mut command = Command::new(binary(name));
            command
                .env("DATABASE_URL", &database.url)
                .env("PARLEY_FRIENDS_URL", url(friends))
                .env("RUST_LOG", "info")
                .stdin(Stdio::null())
                .stdout(file.try_clone().unwrap())
                .stderr(file);
            command
        };
        let mut children = Children(Vec::new());
        children.0.push(
            process("friends-svc", "friends-svc")
                .env("PARLEY_FRIENDS_ADDR", format!("127.0.0.1:{friends}"))
                .env("PARLEY_FRIENDS_METRICS_ADDR", "")
                .spawn()
                .unwrap(),
        );
        children.0.push(
            process("presence-svc", "presence-svc")
                .env("PARLEY_PRESENCE_ADDR", format!("127.0.0.1:{presence}"))
                .env("PARLEY_PRESENCE_METRICS_ADDR", "")
                .spawn()
                .unwrap(),
        );
        children.0.push(
            process("chat-svc", "chat-svc")
                .env("PARLEY_CHAT_ADDR", format!("127.0.0.1:{chat}"))
                .env("PARLEY_CHAT_METRICS_ADDR", "")
                // No media-svc here.
                .env("PARLEY_MEDIA_URL", "")
                .spawn()
                .unwrap(),
        );
        children.0.push(
            process("calls-svc", "calls-svc")
                .env("PARLEY_CALLS_ADDR", format!("127.0.0.1:{calls}"))
                .env("PARLEY_CALLS_METRICS_ADDR", "")
                .env("PARLEY_CHAT_URL", url(chat))
                .env("PARLEY_TURN_SECRET", &turn.secret)
                .env("PARLEY_TURN_URLS", turn.urls())
                // The figure: a vanished ringing caller ends the call within 10 s.
                .env("PARLEY_CALL_CALLER_GRACE", "10s")
                .spawn()
                .unwrap(),
        );
        let mut edge_urls = Vec::new();
        let mut edge_pids = Vec::new();
        for k in 0..edges {
            let port = free_port();
            let edge = process("edge", &format!("edge-{k}"))
                .env("PARLEY_EDGE_ADDR", format!("127.0.0.1:{port}"))
                .env("PARLEY_PRESENCE_URL", url(presence))
                .env("PARLEY_CHAT_URL", url(chat))
                .env("PARLEY_CALLS_URL", url(calls))
                .env("PARLEY_MEDIA_URL", "")
                .env("PARLEY_JWT_SECRET", JWT_SECRET)
                // Every test client connects from 127.0.0.1: no per-IP limits.
                .env("PARLEY_HANDSHAKES_PER_IP_PER_MINUTE", "0")
                .env("PARLEY_PROBES_PER_IP_PER_MINUTE", "0")
                .spawn()
                .unwrap();
            edge_pids.push(edge.id());
            children.0.push(edge);
            edge_urls.push(url(port));
        }
        for edge in &edge_urls {
            wait_ready(&format!("{edge}/readyz")).await;
        }
        Self {
            edges: edge_urls,
            edge_pids,
            logs,
            _processes: children,
            _database: database,
        }
    }

    /// Every process's log, by name.
    pub fn logs(&self) -> Vec<(String, String)> {
        let mut logs: Vec<_> = std::fs::read_dir(&self.logs)
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

impl Drop for Stack {
    fn drop(&mut self) {
        // Kept when the test failed, for a look; the panic message names the folder.
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.logs);
        }
    }
}

impl std::fmt::Display for Stack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "logs in {}", self.logs.display())
    }
}
