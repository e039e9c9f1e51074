//! The control endpoint of a stack, for test suites in other languages: a small HTTP server in
//! the test process, on loopback.
//!
//! - `POST /kill/edge`, `POST /kill/chat-svc`: kills that process with SIGKILL and answers
//!   once it is gone; it is started again at once, in the background, on the same address
//!   with the same settings (support/stack.rs).
//! - `GET /token?user=<name>&ttl=<seconds>`: a fresh token (text) of a user of the plan,
//!   valid for `ttl` seconds (default 3600; 0 or less: already expired).
//! - `GET /healthz`: `ok`.

use std::sync::Arc;

use axum::{
    Router,
    extract::{Path, RawQuery, State},
    http::StatusCode,
    routing::{get, post},
};

use super::{stack::Stack, tokens::Person};

/// What a suite may kill: the processes whose restart the services are built to survive.
const KILLABLE: [&str; 2] = ["edge", "chat-svc"];

/// A running control endpoint; dropping it stops it.
pub struct Control {
    /// `http://127.0.0.1:<port>`
    pub url: String,
    server: tokio::task::JoinHandle<()>,
}

struct Shared {
    stack: Arc<Stack>,
    users: Vec<Person>,
}

impl Control {
    pub async fn start(stack: Arc<Stack>, users: Vec<Person>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let router = Router::new()
            .route("/healthz", get(|| async { "ok" }))
            .route("/kill/{name}", post(kill))
            .route("/token", get(token))
            .with_state(Arc::new(Shared { stack, users }));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self { url, server }
    }
}

impl Drop for Control {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn kill(State(shared): State<Arc<Shared>>, Path(name): Path<String>) -> (StatusCode, String) {
    if !KILLABLE.contains(&name.as_str()) {
        return (
            StatusCode::NOT_FOUND,
            format!("{name} cannot be killed here; these can: {KILLABLE:?}"),
        );
    }
    match shared.stack.kill_and_restart(&name).await {
        Some(pid) => (
            StatusCode::OK,
            format!("killed {name} (pid {pid}); it is starting again"),
        ),
        None => (StatusCode::NOT_FOUND, format!("this stack has no {name}")),
    }
}

async fn token(
    State(shared): State<Arc<Shared>>,
    RawQuery(query): RawQuery,
) -> (StatusCode, String) {
    let query = format!("http://control/?{}", query.unwrap_or_default());
    let Ok(url) = reqwest::Url::parse(&query) else {
        return (StatusCode::BAD_REQUEST, "a malformed query".to_owned());
    };
    let param = |key: &str| {
        url.query_pairs()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value.into_owned())
    };
    let Some(user) = param("user") else {
        return (
            StatusCode::BAD_REQUEST,
            "user=<name> is required".to_owned(),
        );
    };
    let Ok(ttl) = param("ttl").map_or(Ok(3600), |ttl| ttl.parse::<i64>()) else {
        return (
            StatusCode::BAD_REQUEST,
            "ttl is a whole number of seconds".to_owned(),
        );
    };
    match shared.users.iter().find(|person| person.name == user) {
        Some(person) => (StatusCode::OK, person.token_for(ttl)),
        None => (StatusCode::NOT_FOUND, format!("no user {user} in the plan")),
    }
}
