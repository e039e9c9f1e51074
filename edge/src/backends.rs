//! gRPC clients of the three services, and the readiness check over them.

use std::time::Duration;

use parley_common::propagation::InjectTraceContext;
use parley_proto::{
    chat::v1::chat_service_client::ChatServiceClient,
    friends::v1::friends_service_client::FriendsServiceClient,
    presence::v1::presence_service_client::PresenceServiceClient,
};
use serde::Serialize;
use tonic::{service::interceptor::InterceptedService, transport::Channel};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::config::Config;

type Traced = InterceptedService<Channel, InjectTraceContext>;

/// The largest answer the edge reads from a service.
const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;

/// How long `/readyz` waits for each backend's health answer.
const READINESS_TIMEOUT: Duration = Duration::from_secs(2);

/// Clients of every backend. Cloning is cheap: clones share the HTTP/2 connections.
#[derive(Debug, Clone)]
pub struct Backends {
    pub chat: ChatServiceClient<Traced>,
    pub presence: PresenceServiceClient<Traced>,
    pub friends: FriendsServiceClient<Traced>,
    health: [(&'static str, HealthClient<Channel>); 3],
    /// Deadline of every unary call.
    pub timeout: Duration,
}

/// A backend URL that is not a valid gRPC endpoint.
#[derive(Debug, thiserror::Error)]
#[error("invalid {name} URL {url}: {source}")]
pub struct InvalidUrl {
    name: &'static str,
    url: String,
    source: tonic::transport::Error,
}

/// What `/readyz` reports.
#[derive(Debug, Serialize)]
pub struct Readiness {
    pub ready: bool,
    /// Each backend's health: `SERVING`, or why not.
    pub backends: std::collections::BTreeMap<&'static str, String>,
}

impl Backends {
    /// Prepares the clients. Connections are made on first use and remade after a backend
    /// restarts, so the edge starts before its backends and survives their restarts.
    pub fn connect_lazy(config: &Config) -> Result<Self, InvalidUrl> {
        let chat = channel("chat", &config.chat_url)?;
        let presence = channel("presence", &config.presence_url)?;
        let friends = channel("friends", &config.friends_url)?;
        Ok(Self {
            // A `sync` answer may carry hundreds of messages of 4000 characters.
            chat: ChatServiceClient::with_interceptor(chat.clone(), InjectTraceContext)
                .max_decoding_message_size(MAX_ANSWER_BYTES),
            presence: PresenceServiceClient::with_interceptor(presence.clone(), InjectTraceContext),
            friends: FriendsServiceClient::with_interceptor(friends.clone(), InjectTraceContext),
            health: [
                ("chat", HealthClient::new(chat)),
                ("presence", HealthClient::new(presence)),
                ("friends", HealthClient::new(friends)),
            ],
            timeout: config.grpc_timeout,
        })
    }

    /// A request carrying the unary-call deadline (sent as `grpc-timeout`; the service
    /// abandons the call past it and the edge answers `UNAVAILABLE`).
    pub fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request.set_timeout(self.timeout);
        request
    }

    /// Asks every backend's `grpc.health.v1` service at once.
    pub async fn readiness(&self) -> Readiness {
        let checks = self.health.iter().map(|(name, client)| {
            let mut client = client.clone();
            async move {
                let request = HealthCheckRequest {
                    service: String::new(),
                };
                let answer = tokio::time::timeout(READINESS_TIMEOUT, client.check(request)).await;
                let state = match answer {
                    Ok(Ok(response)) => match response.into_inner().status() {
                        ServingStatus::Serving => "SERVING".to_owned(),
                        other => other.as_str_name().to_owned(),
                    },
                    Ok(Err(status)) => format!("UNAVAILABLE: {}", status.code()),
                    Err(_) => "UNAVAILABLE: no answer in time".to_owned(),
                };
                (*name, state)
            }
        });
        let backends: std::collections::BTreeMap<_, _> = futures_util::future::join_all(checks)
            .await
            .into_iter()
            .collect();
        Readiness {
            ready: backends.values().all(|state| state == "SERVING"),
            backends,
        }
    }
}

fn channel(name: &'static str, url: &str) -> Result<Channel, InvalidUrl> {
    parley_common::grpc::lazy_channel(url).map_err(|source| InvalidUrl {
        name,
        url: url.to_owned(),
        source,
    })
}
