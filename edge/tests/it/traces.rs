//! One trace per client event, across processes: the edge, friends-svc and its SQL, exported
//! over OTLP to a real collector (rotel, from PyPI), whose debug log shows every span with
//! its parent.

use std::{
    path::PathBuf,
    process::{Command, Stdio},
    time::Duration,
};

use parley_common::testing::TestDatabase;
use serde_json::json;

use crate::support::{
    SioClient,
    processes::{Children, binary, free_port, terminate, wait_ready},
    system::JWT_SECRET,
    tokens::Person,
};

/// A span as rotel prints it.
#[derive(Debug, Default, Clone)]
struct Span {
    service: String,
    trace: String,
    parent: String,
    id: String,
    name: String,
}

fn parse_spans(log: &str) -> Vec<Span> {
    let mut spans = Vec::new();
    let mut service = String::new();
    let mut current: Option<Span> = None;
    let value = |line: &str| {
        line.split_once(':')
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_default()
    };
    for line in log.lines() {
        let trimmed = line.trim();
        if let Some(name) = trimmed.strip_prefix("-> service.name: Str(") {
            service = name.trim_end_matches(')').to_owned();
        } else if trimmed.starts_with("Span #") {
            spans.extend(current.take());
            current = Some(Span {
                service: service.clone(),
                ..Span::default()
            });
        } else if let Some(span) = current.as_mut() {
            if trimmed.starts_with("Trace ID") {
                span.trace = value(trimmed);
            } else if trimmed.starts_with("Parent ID") {
                span.parent = value(trimmed);
            } else if trimmed.starts_with("ID ") {
                span.id = value(trimmed);
            } else if trimmed.starts_with("Name ") {
                span.name = value(trimmed);
            }
        }
    }
    spans.extend(current);
    spans
}

/// The rotel-agent binary the Python package ships.
fn rotel_agent() -> PathBuf {
    let output = Command::new("python3")
        .args([
            "-c",
            "import rotel, os; print(os.path.join(os.path.dirname(rotel.__file__), 'rotel-agent'))",
        ])
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "rotel is not installed: pip install rotel (scripts/test.sh does)"
    );
    PathBuf::from(String::from_utf8(output.stdout).unwrap().trim())
}

#[tokio::test]
async fn a_client_event_is_one_trace_from_the_edge_through_grpc_to_sql() {
    let _alone = crate::support::heavy().await;
    let database = TestDatabase::create().await;
    let otlp = free_port();
    let log_path = std::env::temp_dir().join(format!("parley-rotel-{otlp}.log"));
    let log_file = std::fs::File::create(&log_path).unwrap();
    let mut rotel = Children(vec![
        Command::new(rotel_agent())
            .args([
                "start",
                "--exporter",
                "blackhole",
                "--debug-log",
                "traces",
                "--debug-log-verbosity",
                "detailed",
                "--disable-batching",
            ])
            .args(["--otlp-grpc-endpoint", &format!("127.0.0.1:{otlp}")])
            .args([
                "--otlp-http-endpoint",
                &format!("127.0.0.1:{}", free_port()),
            ])
            .args([
                "--log-file",
                &std::env::temp_dir()
                    .join(format!("parley-rotel-{otlp}.internal"))
                    .to_string_lossy(),
            ])
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .spawn()
            .expect("rotel-agent starts"),
    ]);

    let (friends, presence, chat, edge) = (free_port(), free_port(), free_port(), free_port());
    let endpoint = format!("http://127.0.0.1:{otlp}");
    let service = |name: &str, addr_var: &str, port: u16, metrics_var: &str| {
        Command::new(binary(name))
            .env(addr_var, format!("127.0.0.1:{port}"))
            .env(metrics_var, "")
            .env("DATABASE_URL", &database.url)
            .envs(database.bus().env())
            .env("PARLEY_FRIENDS_URL", format!("http://127.0.0.1:{friends}"))
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut processes = Children(vec![
        service(
            "friends-svc",
            "PARLEY_FRIENDS_ADDR",
            friends,
            "PARLEY_FRIENDS_METRICS_ADDR",
        ),
        service(
            "presence-svc",
            "PARLEY_PRESENCE_ADDR",
            presence,
            "PARLEY_PRESENCE_METRICS_ADDR",
        ),
        service(
            "chat-svc",
            "PARLEY_CHAT_ADDR",
            chat,
            "PARLEY_CHAT_METRICS_ADDR",
        ),
        Command::new(binary("edge"))
            .env("PARLEY_EDGE_ADDR", format!("127.0.0.1:{edge}"))
            .env("PARLEY_FRIENDS_URL", format!("http://127.0.0.1:{friends}"))
            .env(
                "PARLEY_PRESENCE_URL",
                format!("http://127.0.0.1:{presence}"),
            )
            .env("PARLEY_CHAT_URL", format!("http://127.0.0.1:{chat}"))
            .env("PARLEY_JWT_SECRET", JWT_SECRET)
            // No media-svc nor calls-svc in this system: /readyz would wait for them.
            .env("PARLEY_MEDIA_URL", "")
            .env("PARLEY_CALLS_URL", "")
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    ]);
    let edge_url = format!("http://127.0.0.1:{edge}");
    wait_ready(&format!("{edge_url}/readyz")).await;

    let alice = Person::new("alice");
    let socket = SioClient::connect(&edge_url, "/friends", Some(&alice.token))
        .await
        .unwrap();
    let ack = socket.call("search-users", json!({ "query": "ali" })).await;
    assert_eq!(ack["ok"], json!(true), "{ack}");
    socket.disconnect().await;

    for process in processes.0.drain(..) {
        terminate(process);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    for process in rotel.0.drain(..) {
        terminate(process);
    }
    let spans = parse_spans(&std::fs::read_to_string(&log_path).unwrap());
    let _ = std::fs::remove_file(&log_path);

    let event = spans
        .iter()
        .find(|s| s.service == "edge" && s.name == "search-users")
        .unwrap_or_else(|| panic!("no edge span for the event among {spans:#?}"));
    let server = spans
        .iter()
        .find(|s| s.name == "/parley.friends.v1.FriendsService/SearchUsers")
        .expect("a friends-svc server span");
    assert_eq!(server.service, "friends-svc");
    assert_eq!(server.trace, event.trace, "one trace across processes");
    assert_eq!(
        server.parent, event.id,
        "the gRPC call is the event's child"
    );
    let sql = spans
        .iter()
        .find(|s| s.name == "search_users" && s.trace == event.trace)
        .expect("a SQL span in the same trace");
    assert_eq!(sql.parent, server.id, "the query is the gRPC call's child");
}
