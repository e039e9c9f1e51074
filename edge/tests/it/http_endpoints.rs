//! `/healthz`, `/readyz` and `/metrics` on the edge.

use serde_json::Value;

use crate::support::TestSystem;

#[tokio::test]
async fn healthz_answers_while_the_process_is_up() {
    let system = TestSystem::spawn().await;
    let response = reqwest::get(format!("{}/healthz", system.edge_url()))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn readyz_is_ok_when_every_backend_serves() {
    let system = TestSystem::spawn().await;
    let response = reqwest::get(format!("{}/readyz", system.edge_url()))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["ready"], Value::Bool(true));
    for backend in ["chat", "presence", "friends"] {
        assert_eq!(body["backends"][backend], "SERVING", "{body}");
    }
}

#[tokio::test]
async fn readyz_fails_and_names_the_backend_that_is_down() {
    let mut system = TestSystem::spawn().await;
    system.presence.stop().await;

    let response = reqwest::get(format!("{}/readyz", system.edge_url()))
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["ready"], Value::Bool(false));
    assert_ne!(body["backends"]["presence"], "SERVING", "{body}");
    assert_eq!(body["backends"]["chat"], "SERVING", "{body}");
    assert_eq!(body["backends"]["friends"], "SERVING", "{body}");
}

#[tokio::test]
async fn metrics_are_served_in_prometheus_text_format() {
    let system = TestSystem::spawn().await;
    // A refused handshake is counted, so the page has at least that series.
    let _ = crate::support::SioClient::connect(&system.edge_url(), "/chat", Some("bad")).await;

    let response = reqwest::get(format!("{}/metrics", system.edge_url()))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let body = response.text().await.unwrap();
    assert!(
        body.contains("parley_edge_connections_refused_total"),
        "{body}"
    );
}
