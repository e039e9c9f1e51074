//! `parley-bench`: drives a Socket.IO chat server (Parley's edge or the Node.js baseline) with
//! many independent users and reports throughput and latency. `bench/run.sh` starts the
//! servers and calls it; see docs/BENCHMARKS.md.

mod client;
mod load;
mod scenarios;
mod setup;
mod stats;
mod steps;
mod users;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::scenarios::{Layout, Reads, Storm};
use crate::setup::Target;
use crate::steps::{Output, Schedule};

#[derive(Parser)]
#[command(about = "Load generator for Parley and the baseline")]
struct Cli {
    /// The server's address (Socket.IO at /socket.io).
    #[arg(long, default_value = "127.0.0.1:3000")]
    server: SocketAddr,
    /// The HS256 secret the server checks tokens with.
    #[arg(long, env = "PARLEY_JWT_SECRET")]
    secret: String,
    /// A name for the server in the results (`parley`, `baseline`).
    #[arg(long, default_value = "parley")]
    label: String,
    /// Append results to this file, one JSON object per line.
    #[arg(long)]
    out: Option<PathBuf>,
    /// The number of this run's first user, so that generators run at once (one per edge)
    /// have users of their own.
    #[arg(long, default_value_t = 0)]
    first_user: usize,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Args)]
struct Steps {
    /// Total offered rates to step through (requests per second, all users together).
    #[arg(long, value_delimiter = ',', required = true)]
    rates: Vec<f64>,
    /// Seconds each rate runs before its window opens.
    #[arg(long, default_value_t = 3)]
    warmup: u64,
    /// Seconds measured per rate.
    #[arg(long, default_value_t = 10)]
    measure: u64,
}

impl Steps {
    fn schedule(&self) -> Schedule {
        Schedule {
            rates: self.rates.clone(),
            warmup: Duration::from_secs(self.warmup),
            measure: Duration::from_secs(self.measure),
        }
    }
}

#[derive(Subcommand)]
enum Scenario {
    /// 1. Idle users on /chat and /status: server memory per connection.
    Idle {
        #[arg(long)]
        users: usize,
        /// Processes whose resident memory is summed (every process of Parley, or the baseline).
        #[arg(long, value_delimiter = ',')]
        pids: Vec<u32>,
        #[arg(long, default_value_t = 10)]
        settle: u64,
    },
    /// 2. Pairs of users sending each other DMs.
    Dm {
        #[arg(long, default_value_t = 2000)]
        pairs: usize,
        #[command(flatten)]
        steps: Steps,
    },
    /// 3. Rooms of members, everyone sending to their room.
    Group {
        #[arg(long, default_value_t = 100)]
        rooms: usize,
        #[arg(long, default_value_t = 10)]
        members: usize,
        #[command(flatten)]
        steps: Steps,
    },
    /// 4. Users with seeded friendships connecting and leaving in waves on /status.
    Presence {
        #[arg(long, default_value_t = 5000)]
        users: usize,
        #[arg(long, default_value_t = 4)]
        waves: usize,
        #[arg(long, default_value_t = 1000)]
        wave_size: usize,
        /// Seconds between a wave leaving and coming back, and before the next wave.
        #[arg(long, default_value_t = 10)]
        gap: u64,
        /// Shell command printing the server's presence writes so far.
        #[arg(long)]
        writes_command: Option<String>,
    },
    /// 5. History reads while messages flow.
    History {
        #[arg(long, default_value_t = 100)]
        rooms: usize,
        #[arg(long, default_value_t = 10)]
        members: usize,
        /// Messages stored per room before reading.
        #[arg(long, default_value_t = 100)]
        preload: usize,
        /// Messages per second sent meanwhile.
        #[arg(long, default_value_t = 500.0)]
        background_rate: f64,
        #[command(flatten)]
        steps: Steps,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // One thread: the generator's capacity is stated per core.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    users::set_first(cli.first_user);
    let target = Target {
        server: cli.server,
        secret: cli.secret,
    };
    let name = match &cli.scenario {
        Scenario::Idle { .. } => "idle",
        Scenario::Dm { .. } => "dm",
        Scenario::Group { rooms: 1, .. } => "big-room",
        Scenario::Group { .. } => "group",
        Scenario::Presence { .. } => "presence",
        Scenario::History { .. } => "history",
    };
    let started_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let out = Output {
        path: cli.out,
        server: cli.label,
        scenario: name.into(),
        started_at,
    };
    match cli.scenario {
        Scenario::Idle {
            users,
            pids,
            settle,
        } => scenarios::idle(&target, users, &pids, Duration::from_secs(settle), &out).await,
        Scenario::Dm { pairs, steps } => {
            scenarios::messages(&target, Layout::Pairs { pairs }, &steps.schedule(), &out).await
        }
        Scenario::Group {
            rooms,
            members,
            steps,
        } => {
            scenarios::messages(
                &target,
                Layout::Rooms { rooms, members },
                &steps.schedule(),
                &out,
            )
            .await
        }
        Scenario::Presence {
            users,
            waves,
            wave_size,
            gap,
            writes_command,
        } => {
            let storm = Storm {
                users,
                waves,
                wave_size,
                gap: Duration::from_secs(gap),
                writes_command,
            };
            scenarios::presence(&target, &storm, &out).await
        }
        Scenario::History {
            rooms,
            members,
            preload,
            background_rate,
            steps,
        } => {
            let reads = Reads {
                rooms,
                members,
                preload,
                background_rate,
            };
            scenarios::history(&target, &reads, &steps.schedule(), &out).await
        }
    }
}
