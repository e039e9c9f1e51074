//! calls-svc in a test system: in-process beside chat-svc and friends-svc, on the system's
//! database, started from its flags as `main` would be.

use clap::Parser as _;
use parley_common::testing::TestDatabase;

use super::system::{InProcess, spawn_until_stopped, stop_signal};

/// A calls-svc with `flags` (`("--call-ring", "2s")`, …) on top of the defaults; TURN
/// credentials with a test secret, so that `iceServers` carry them.
pub async fn start_calls(
    database: &TestDatabase,
    chat_url: &str,
    friends_url: &str,
    flags: &[(&str, &str)],
) -> InProcess {
    let defaults = [
        ("--listen-addr", "127.0.0.1:0"),
        ("--metrics-addr", ""),
        ("--chat-url", chat_url),
        ("--friends-url", friends_url),
        ("--database-url", database.url.as_str()),
        ("--call-sweep-interval", "200ms"),
        ("--turn-secret", "parley-test-turn-secret"),
        ("--turn-urls", "stun:127.0.0.1:3478,turn:127.0.0.1:3478"),
    ];
    // A flag given replaces its default (clap refuses one twice).
    let defaults = defaults
        .iter()
        .filter(|(flag, _)| flags.iter().all(|(given, _)| given != flag));
    let args = std::iter::once("calls-svc".to_owned()).chain(
        defaults
            .chain(flags)
            .flat_map(|(flag, value)| [(*flag).to_owned(), (*value).to_owned()]),
    );
    let config = parley_calls_svc::config::Config::try_parse_from(args).unwrap();
    let calls = parley_calls_svc::startup::Application::build(&config)
        .await
        .expect("calls-svc starts");
    let addr = calls.local_addr().unwrap();
    spawn_until_stopped(addr, |stopped| async move {
        calls.run_until_stopped(stop_signal(stopped)).await.unwrap();
    })
}
