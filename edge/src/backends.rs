//! gRPC clients of the services, and the readiness check over them.

use std::{sync::Arc, time::Duration};

use parley_common::{
    propagation::InjectTraceContext,
    replicas::{Choice, ROUTE_KEY, Replicas},
    service_token::ServiceToken,
};
use parley_proto::{
    calls::v1::calls_service_client::CallsServiceClient,
    chat::v1::chat_service_client::ChatServiceClient,
    friends::v1::friends_service_client::FriendsServiceClient,
    media::v1::media_service_client::MediaServiceClient,
    presence::v1::presence_service_client::PresenceServiceClient,
};
use serde::Serialize;
use tonic::{service::interceptor::InterceptedService, transport::Channel};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::{config::Config, interest::ChatInterest};

type Traced = InterceptedService<Replicas, InjectTraceContext>;

/// The largest answer the edge reads from a service.
const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;

/// How long `/readyz` waits for each backend's health answer.
const READINESS_TIMEOUT: Duration = Duration::from_secs(2);

/// Clients of every backend. Cloning is cheap: clones share the HTTP/2 connections.
#[derive(Debug, Clone)]
pub struct Backends {
    pub chat: ChatServiceClient<Traced>,
    pub presence: PresenceServiceClient<Traced>,
    /// presence-svc's replicas, each holding a share of the users: lease renewals go to
    /// every one, and tell which holds whom.
    pub presence_replicas: Replicas,
    pub friends: FriendsServiceClient<Traced>,
    /// `None` when the deployment has no media-svc (`PARLEY_MEDIA_URL` empty); see
    /// [`Backends::media`].
    media: Option<MediaServiceClient<Traced>>,
    /// `None` when the deployment has no calls-svc (`PARLEY_CALLS_URL` empty); see
    /// [`Backends::calls`].
    calls: Option<CallsServiceClient<Traced>>,
    /// Each replica's health client, by service name. Shared: every client event clones
    /// `Backends`.
    health: Arc<[(&'static str, String, HealthClient<Channel>)]>,
    /// Deadline of every unary call.
    pub timeout: Duration,
    /// The rooms and users whose chat events this edge follows.
    pub chat_interest: ChatInterest,
}

/// Why the backend clients cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum BackendsError {
    #[error("invalid {name} URL {url}: {source}")]
    Url {
        name: &'static str,
        url: String,
        source: tonic::transport::Error,
    },
    #[error(transparent)]
    Token(#[from] parley_common::service_token::InvalidToken),
}

/// What `/readyz` reports.
#[derive(Debug, Serialize)]
pub struct Readiness {
    pub ready: bool,
    /// Each backend's health: `SERVING` when a replica serves, or why not.
    pub backends: std::collections::BTreeMap<&'static str, String>,
    /// Each replica's health, by URL, when a service has several.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub replicas: std::collections::BTreeMap<String, String>,
    /// Each service's event stream: `FOLLOWING` once the edge has opened it (`relay`).
    pub events: std::collections::BTreeMap<&'static str, &'static str>,
}

impl Backends {
    /// Prepares the clients. Connections are made on first use and remade after a backend
    /// restarts, so the edge starts before its backends and survives their restarts.
    ///
    /// Each URL setting may list several replicas. Friends, media and calls calls are spread
    /// over them; chat calls go by user, presence calls to the replica that holds the
    /// user's shard (see docs/decisions/0016-scale-out-on-nats.md).
    pub fn connect_lazy(config: &Config) -> Result<Self, BackendsError> {
        let token = ServiceToken::from_config(config.internal.service_token.as_deref())?;
        let replicas = |name, urls: &str, choice| {
            Replicas::new(urls, choice, token.clone()).map_err(|source| BackendsError::Url {
                name,
                url: urls.to_owned(),
                source,
            })
        };
        let chat = replicas("chat", &config.chat_url, Choice::ByKey)?;
        let presence = replicas("presence", &config.presence_url, Choice::ByShard)?;
        let friends = replicas("friends", &config.friends_url, Choice::Spread)?;
        let media = match config.media_url.trim() {
            "" => None,
            urls => Some(replicas("media", urls, Choice::Spread)?),
        };
        // calls-svc keeps every call in Postgres, so any replica answers any call.
        let calls = match config.calls_url.trim() {
            "" => None,
            urls => Some(replicas("calls", urls, Choice::Spread)?),
        };
        let health = [
            ("chat", Some(&chat)),
            ("presence", Some(&presence)),
            ("friends", Some(&friends)),
            ("media", media.as_ref()),
            ("calls", calls.as_ref()),
        ]
        .into_iter()
        .filter_map(|(name, replicas)| Some((name, replicas?)))
        .flat_map(|(name, replicas)| {
            replicas.each().map(move |(url, channel)| {
                (name, url.to_owned(), HealthClient::new(channel.clone()))
            })
        })
        .collect();
        Ok(Self {
            // A `sync` answer may carry hundreds of messages of 4000 characters.
            chat: ChatServiceClient::with_interceptor(chat, InjectTraceContext)
                .max_decoding_message_size(MAX_ANSWER_BYTES),
            presence: PresenceServiceClient::with_interceptor(presence.clone(), InjectTraceContext),
            presence_replicas: presence,
            friends: FriendsServiceClient::with_interceptor(friends, InjectTraceContext),
            media: media
                .map(|media| MediaServiceClient::with_interceptor(media, InjectTraceContext)),
            calls: calls
                .map(|calls| CallsServiceClient::with_interceptor(calls, InjectTraceContext)),
            health,
            timeout: config.grpc_timeout,
            chat_interest: ChatInterest::default(),
        })
    }

    /// The media-svc client, or `UNAVAILABLE` for the caller when the deployment has none,
    /// as it would answer were media-svc down.
    pub fn media(&self) -> Result<MediaServiceClient<Traced>, tonic::Status> {
        self.media
            .clone()
            .ok_or_else(|| tonic::Status::unavailable("attachments are not available here"))
    }

    /// The calls-svc client, or `UNAVAILABLE` for the caller when the deployment has none,
    /// as it would answer were calls-svc down.
    pub fn calls(&self) -> Result<CallsServiceClient<Traced>, tonic::Status> {
        self.calls
            .clone()
            .ok_or_else(|| tonic::Status::unavailable("calls are not available here"))
    }

    /// Whether the deployment has a calls-svc (`PARLEY_CALLS_URL` not empty).
    pub fn has_calls(&self) -> bool {
        self.calls.is_some()
    }

    /// A request carrying the unary-call deadline (sent as `grpc-timeout`; the service
    /// abandons the call past it and the edge answers `UNAVAILABLE`).
    pub fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request.set_timeout(self.timeout);
        request
    }

    /// [`Self::request`] on behalf of `user`: chat-svc takes it on the replica that serves
    /// that user (see `Choice::ByKey`), so that its per-user limits and typing timers hold
    /// however many replicas run.
    pub fn request_for<T>(&self, user: uuid::Uuid, message: T) -> tonic::Request<T> {
        let mut request = self.request(message);
        if let Ok(key) = tonic::metadata::AsciiMetadataValue::try_from(user.to_string()) {
            request.metadata_mut().insert(ROUTE_KEY, key);
        }
        request
    }

    /// Asks every replica's `grpc.health.v1` service at once; a backend is ready when one of
    /// its replicas serves.
    pub async fn readiness(&self) -> Readiness {
        let checks = self.health.iter().map(|(name, url, client)| {
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
                (*name, url.clone(), state)
            }
        });
        let answers = futures_util::future::join_all(checks).await;
        let mut backends = std::collections::BTreeMap::new();
        for (name, _, state) in &answers {
            let best = backends.entry(*name).or_insert_with(|| state.clone());
            if state == "SERVING" {
                *best = state.clone();
            }
        }
        let several = answers.len() > backends.len();
        let replicas = answers
            .into_iter()
            .filter(|_| several)
            .map(|(_, url, state)| (url, state))
            .collect();
        Readiness {
            ready: backends.values().all(|state| state == "SERVING"),
            backends,
            replicas,
            events: std::collections::BTreeMap::new(),
        }
    }
}
