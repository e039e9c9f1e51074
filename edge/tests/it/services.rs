//! The three services as a gRPC client sees them: health, reflection, their own schemas, and
//! an honest UNIMPLEMENTED for operations that are not built yet.

use std::net::SocketAddr;

use futures_util::StreamExt;
use sqlx::{Connection, PgConnection};
use tonic::transport::Channel;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use tonic_reflection::pb::v1::{
    ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
    server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
};

use crate::support::TestSystem;

async fn channel(addr: SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

fn services(system: &TestSystem) -> [(&'static str, &'static str, SocketAddr); 3] {
    [
        (
            "friends",
            "parley.friends.v1.FriendsService",
            system.friends.addr,
        ),
        (
            "presence",
            "parley.presence.v1.PresenceService",
            system.presence.addr,
        ),
        ("chat", "parley.chat.v1.ChatService", system.chat.addr),
    ]
}

#[tokio::test]
async fn every_service_reports_serving_for_itself_and_overall() {
    let system = TestSystem::spawn().await;
    for (_, service, addr) in services(&system) {
        let mut health = HealthClient::new(channel(addr).await);
        for name in ["", service] {
            let status = health
                .check(HealthCheckRequest {
                    service: name.to_owned(),
                })
                .await
                .unwrap()
                .into_inner()
                .status();
            assert_eq!(
                status,
                ServingStatus::Serving,
                "{service} health of {name:?}"
            );
        }
    }
}

/// The services a gRPC server lists by reflection (v1).
async fn listed_services(addr: SocketAddr) -> Vec<String> {
    let mut reflection = ServerReflectionClient::new(channel(addr).await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut answers = reflection
        .server_reflection_info(futures_util::stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let answer = answers.next().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = answer.message_response else {
        panic!("not a service list");
    };
    list.service
        .into_iter()
        .map(|service| service.name)
        .collect()
}

#[tokio::test]
async fn every_service_lists_its_api_by_reflection() {
    let system = TestSystem::spawn().await;
    for (_, service, addr) in services(&system) {
        let names = listed_services(addr).await;
        assert!(names.iter().any(|name| name == service), "{names:?}");
        assert!(
            names.iter().any(|name| name == "grpc.health.v1.Health"),
            "{names:?}"
        );
    }
}

#[tokio::test]
async fn every_service_migrates_its_own_schema_with_the_migrations_table_inside() {
    let system = TestSystem::spawn().await;
    let mut db = PgConnection::connect(&system.database.url).await.unwrap();
    for (schema, _, _) in services(&system) {
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1",
        )
        .bind(schema)
        .fetch_all(&mut db)
        .await
        .unwrap();
        assert!(
            tables.iter().any(|table| table == "_sqlx_migrations"),
            "{schema}: {tables:?}"
        );
    }
    let public_migrations: Option<String> =
        sqlx::query_scalar("SELECT to_regclass('public._sqlx_migrations')::text")
            .fetch_one(&mut db)
            .await
            .unwrap();
    assert_eq!(
        public_migrations, None,
        "no migrations table outside the schemas"
    );
}

#[tokio::test]
async fn a_service_shuts_down_gracefully_while_edges_hold_its_event_stream() {
    let mut system = TestSystem::spawn().await;
    // The edge subscribes to friends events at start; give it a moment to be connected.
    let alice = crate::support::tokens::Person::new("alice");
    let _socket = system.connect(&alice, "/friends").await;

    let started = std::time::Instant::now();
    assert!(
        system.friends.stop().await,
        "friends-svc did not stop within 10 s"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

#[tokio::test]
async fn each_service_lists_only_its_own_api() {
    let system = TestSystem::spawn().await;
    let all: Vec<&str> = services(&system).iter().map(|(_, name, _)| *name).collect();
    for (_, service, addr) in services(&system) {
        let names = listed_services(addr).await;
        for other in all.iter().filter(|other| **other != service) {
            assert!(
                !names.iter().any(|name| name == other),
                "{service} lists {other}"
            );
        }
    }
}

#[tokio::test]
async fn services_count_and_time_their_grpc_requests_in_prometheus_text() {
    let system = TestSystem::spawn().await;
    let mut health = HealthClient::new(channel(system.friends.addr).await);
    health
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap();
    // The services of this test process share one recorder; serve it as a service does.
    let (addr, _task) =
        parley_common::metrics::serve("127.0.0.1:0".parse().unwrap(), "PARLEY_CHAT_METRICS_ADDR")
            .await
            .unwrap();
    let body = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.contains("parley_grpc_server_requests_total"), "{body}");
    assert!(
        body.contains("parley_grpc_server_duration_seconds"),
        "{body}"
    );
}
