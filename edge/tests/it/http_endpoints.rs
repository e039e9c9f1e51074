//! `/healthz`, `/readyz` and `/metrics` on the edge.

use serde_json::Value;

use crate::support::{TestSystem, processes::wait_ready, system::EdgeSettings};

#[tokio::test]
async fn healthz_answers_while_the_process_is_up() {
    let system = TestSystem::spawn().await;
    let response = reqwest::get(format!("{}/healthz", system.edge_url()))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn readyz_is_ok_once_every_backend_serves_and_every_event_stream_is_followed() {
    let system = TestSystem::spawn().await;
    let url = format!("{}/readyz", system.edge_url());
    // The edge opens its event streams just after it starts serving: ready only then.
    wait_ready(&url).await;
    let body: Value = reqwest::get(&url).await.unwrap().json().await.unwrap();
    assert_eq!(body["ready"], Value::Bool(true));
    for backend in ["chat", "presence", "friends"] {
        assert_eq!(body["backends"][backend], "SERVING", "{body}");
        assert_eq!(body["events"][backend], "FOLLOWING", "{body}");
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

/// The Engine.IO handshake over long-polling, with an optional `Origin`.
async fn handshake_status(system: &TestSystem, origin: Option<&str>) -> u16 {
    let client = reqwest::Client::new();
    let mut request = client.get(format!(
        "{}/socket.io/?EIO=4&transport=polling",
        system.edge_url()
    ));
    if let Some(origin) = origin {
        request = request.header("Origin", origin);
    }
    request.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn only_allowed_browser_origins_may_open_a_connection() {
    let system = TestSystem::spawn_with_origins(&["https://app.example.com"]).await;
    assert_eq!(
        handshake_status(&system, Some("https://app.example.com")).await,
        200
    );
    assert_eq!(
        handshake_status(&system, Some("HTTPS://APP.EXAMPLE.COM")).await,
        200
    );
    assert_eq!(
        handshake_status(&system, Some("https://evil.example.com")).await,
        403
    );
    assert_eq!(handshake_status(&system, Some("null")).await, 403);
    // Native and server-side clients send no Origin: the token check decides for them.
    assert_eq!(handshake_status(&system, None).await, 200);
    // The health endpoints stay reachable for probes, which send no Origin.
    let health = reqwest::get(format!("{}/healthz", system.edge_url()))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn an_allowed_browser_origin_may_long_poll_from_its_own_page() {
    let system = TestSystem::spawn_with_origins(&["https://app.example.com"]).await;
    let client = reqwest::Client::new();
    let url = format!("{}/socket.io/?EIO=4&transport=polling", system.edge_url());
    let handshake = client
        .get(&url)
        .header("Origin", "https://app.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(handshake.status(), 200);
    let headers = handshake.headers();
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert!(!headers.contains_key("access-control-allow-credentials"));

    let preflight = client
        .request(reqwest::Method::OPTIONS, &url)
        .header("Origin", "https://app.example.com")
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "x-app-version")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 204);
    let headers = preflight.headers();
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert_eq!(headers["access-control-allow-methods"], "GET, POST");
    assert_eq!(headers["access-control-allow-headers"], "x-app-version");

    // Without an Origin (native apps, servers) there is nothing to allow.
    let native = client.get(&url).send().await.unwrap();
    assert!(!native.headers().contains_key("access-control-allow-origin"));
}

#[tokio::test]
async fn without_an_allowlist_every_origin_may_connect() {
    let system = TestSystem::spawn().await;
    assert_eq!(
        handshake_status(&system, Some("https://anywhere.example")).await,
        200
    );
}

#[tokio::test]
async fn a_client_ip_past_its_handshake_rate_is_refused_until_it_slows_down() {
    let system = TestSystem::spawn_with_handshake_limit(3).await;
    for _ in 0..3 {
        assert_eq!(handshake_status(&system, None).await, 200);
    }
    let refused = reqwest::get(format!(
        "{}/socket.io/?EIO=4&transport=polling",
        system.edge_url()
    ))
    .await
    .unwrap();
    assert_eq!(refused.status(), 429);
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=20).contains(&retry_after), "{retry_after}");
    // What is not a new connection is not counted: probes pass.
    let ready = reqwest::get(format!("{}/readyz", system.edge_url()))
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
}

/// A new connection's handshake as `forwarded_for` says the proxy saw it.
async fn handshake_forwarded_for(system: &TestSystem, forwarded_for: &str) -> u16 {
    reqwest::Client::new()
        .get(format!(
            "{}/socket.io/?EIO=4&transport=polling",
            system.edge_url()
        ))
        .header("X-Forwarded-For", forwarded_for)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_client_has_its_own_handshake_limit() {
    let system = TestSystem::spawn_with_edge_settings(EdgeSettings {
        handshakes_per_ip_per_minute: 2,
        trusted_proxies: vec!["127.0.0.0/8"],
        ..EdgeSettings::default()
    })
    .await;
    for _ in 0..2 {
        assert_eq!(handshake_forwarded_for(&system, "198.51.100.1").await, 200);
    }
    assert_eq!(handshake_forwarded_for(&system, "198.51.100.1").await, 429);
    // Another client behind the same proxy is not held back by the first one.
    assert_eq!(handshake_forwarded_for(&system, "198.51.100.2").await, 200);
}

#[tokio::test]
async fn a_client_cannot_escape_its_handshake_limit_with_a_forged_forwarded_for() {
    // No trusted proxy: the peer (127.0.0.1) is the client, whatever it claims.
    let system = TestSystem::spawn_with_handshake_limit(2).await;
    assert_eq!(handshake_forwarded_for(&system, "198.51.100.1").await, 200);
    assert_eq!(handshake_forwarded_for(&system, "198.51.100.2").await, 200);
    assert_eq!(handshake_forwarded_for(&system, "198.51.100.3").await, 429);
}

#[tokio::test]
async fn a_flood_of_readiness_probes_is_cut_off_before_it_reaches_the_backends() {
    let system = TestSystem::spawn_with_edge_settings(EdgeSettings {
        probes_per_ip_per_minute: 5,
        ..EdgeSettings::default()
    })
    .await;
    let mut statuses = Vec::new();
    for _ in 0..8 {
        let response = reqwest::get(format!("{}/readyz", system.edge_url()))
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429, 429, 429]);
    // The Socket.IO door is not a probe: connections still open.
    let client = reqwest::get(format!(
        "{}/socket.io/?EIO=4&transport=polling",
        system.edge_url()
    ))
    .await
    .unwrap();
    assert_eq!(client.status(), 200);
}
