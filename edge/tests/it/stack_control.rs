//! The stack of built binaries and its control endpoint (support/stack.rs,
//! support/control.rs), which the SDK's and the demo's suites rely on: a killed edge or
//! chat-svc comes back on its address and the conversation goes on; tokens are minted on
//! request. A killed edge ends its clients' connections; a killed chat-svc does too on the
//! Postgres bus (the edge closes them to make them catch up), and none on NATS.
//!
//! Needs `npm ci --prefix edge/tests/js` (the official client).

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use parley_common::{config::BusKind, testing::test_bus};
use serde_json::{Value, json};

use crate::{
    official_client::run_script,
    support::{heavy, suite::Suite, tokens::now},
};

/// The claims of a JWT, unchecked.
fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

#[tokio::test]
async fn the_control_endpoint_restarts_the_edge_and_chat_svc_in_place_and_mints_tokens() {
    let _alone = heavy().await;
    let suite = Suite::start(None).await;
    let control = &suite.control.url;
    let http = reqwest::Client::new();

    let health = http.get(format!("{control}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let alice = &suite.users[0];
    let token = http
        .get(format!("{control}/token?user={}&ttl=60", alice.name))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let claims = claims(&token);
    assert_eq!(claims["sub"], alice.id.to_string(), "{claims}");
    assert_eq!(claims["name"], alice.name, "{claims}");
    let left = claims["exp"].as_i64().unwrap() - now();
    assert!(
        (55..=60).contains(&left),
        "valid for the ttl asked: {claims}"
    );
    for (request, status) in [
        (http.get(format!("{control}/token?user=mallory")), 404),
        (
            http.get(format!("{control}/token?user=alice&ttl=soon")),
            400,
        ),
        (http.get(format!("{control}/token")), 400),
        (http.post(format!("{control}/kill/presence-svc")), 404),
    ] {
        assert_eq!(request.send().await.unwrap().status(), status);
    }
    assert_eq!(suite.stack.restarts("presence-svc").await, Some(0));

    let edge_before = suite.stack.edge_pids().await;
    let on_nats = test_bus() == BusKind::Nats;
    let mut plan = suite.plan();
    if on_nats {
        plan["keepsConnections"] = json!(["chat-svc"]);
    }
    let report = run_script("control-flow.mjs", plan).await;
    println!("control-flow.mjs report: {report:#}");

    for (name, ends_connections) in [("edge", true), ("chat-svc", !on_nats)] {
        let kill = &report["kills"][name];
        assert_eq!(kill["status"], 200, "{report:#}");
        assert_eq!(
            kill["bothDisconnected"], ends_connections,
            "whether its clients lost their connection: {report:#}"
        );
        assert_eq!(suite.stack.restarts(name).await, Some(1), "{name}");
    }
    assert_ne!(suite.stack.edge_pids().await, edge_before, "a new edge");
    // Each send was stored once, in order, the edge's URL unchanged all along.
    let seqs: Vec<u64> = report["sends"]
        .as_array()
        .unwrap()
        .iter()
        .map(|send| send["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [1, 2, 3], "{report:#}");
    let mut history: Vec<&str> = report["history"]["messages"]
        .as_array()
        .unwrap_or_else(|| panic!("bob's history: {report:#}"))
        .iter()
        .map(|message| message["content"].as_str().unwrap())
        .collect();
    history.reverse();
    assert_eq!(
        history,
        [
            "before",
            "after the edge restarted",
            "after chat-svc restarted"
        ],
        "{report:#}"
    );
    let faults = suite.stack.faults().await;
    assert!(faults.is_empty(), "{faults:?}; {}", suite.stack);
}
