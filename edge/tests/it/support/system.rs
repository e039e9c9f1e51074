//! Starts the three services and an edge in-process on port 0 against a fresh database, and
//! media-svc when a test asks for it (support/media.rs); without it the edge runs with no
//! media-svc, or points at an address where none answers.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use parley_common::testing::TestDatabase;
use parley_edge::{
    config::{AuthArgs, Config as EdgeConfig},
    event_limits::EventLimitArgs,
};
use tokio::sync::oneshot;

use super::media::{MediaService, MediaSettings};

/// The shared secret of the HS256 tokens the test edges accept.
pub const JWT_SECRET: &str = "parley-test-secret-of-at-least-32-bytes";

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A part of the system served in-process, on its own port, that can be stopped on its own.
pub struct InProcess {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl InProcess {
    /// Stops it gracefully and waits until it no longer serves; false if that took longer
    /// than 10 s.
    pub async fn stop(&mut self) -> bool {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => tokio::time::timeout(Duration::from_secs(10), task)
                .await
                .is_ok(),
            None => true,
        }
    }
}

pub fn spawn_until_stopped<F, Fut>(addr: SocketAddr, run: F) -> InProcess
where
    F: FnOnce(oneshot::Receiver<()>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (stop, stopped) = oneshot::channel();
    let task = tokio::spawn(run(stopped));
    InProcess {
        addr,
        stop: Some(stop),
        task: Some(task),
    }
}

async fn start_presence(config: parley_presence_svc::config::Config) -> InProcess {
    let presence = parley_presence_svc::startup::Application::build(&config)
        .await
        .expect("presence-svc starts");
    let addr = presence.local_addr().unwrap();
    spawn_until_stopped(addr, |stopped| async move {
        presence
            .run_until_stopped(stop_signal(stopped))
            .await
            .unwrap();
    })
}

pub async fn stop_signal(stopped: oneshot::Receiver<()>) {
    let _ = stopped.await;
}

fn any_port() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// A friends-svc on `database`.
pub async fn start_friends(database: &TestDatabase) -> InProcess {
    let friends =
        parley_friends_svc::startup::Application::build(&parley_friends_svc::config::Config {
            metrics_addr: None,
            listen_addr: any_port(),
            database: database.args(),
            bus: database.bus(),
            internal: Default::default(),
            request_cooldowns: Default::default(),
        })
        .await
        .expect("friends-svc starts");
    let addr = friends.local_addr().unwrap();
    spawn_until_stopped(addr, |stopped| async move {
        friends
            .run_until_stopped(stop_signal(stopped))
            .await
            .unwrap();
    })
}

/// The configuration of a presence-svc on `database`, on any port, with `timing`.
pub fn presence_config(
    database: &TestDatabase,
    friends_url: &str,
    timing: Timing,
) -> parley_presence_svc::config::Config {
    parley_presence_svc::config::Config {
        metrics_addr: None,
        listen_addr: any_port(),
        friends_url: friends_url.to_owned(),
        heartbeat_timeout: timing.heartbeat_timeout,
        grace: timing.grace,
        lease_ttl: timing.lease_ttl,
        flush_interval: timing.flush_interval,
        advertise_url: String::new(),
        shard_ttl: timing.shard_ttl,
        database: database.args(),
        bus: database.bus(),
        internal: Default::default(),
    }
}

/// A presence-svc on `database` with the default timing.
pub async fn start_presence_for(database: &TestDatabase, friends_url: &str) -> InProcess {
    start_presence(presence_config(database, friends_url, Timing::default())).await
}

/// A part of the system on a tokio runtime of its own, so that it can die as a process
/// killed with SIGKILL does: every task and socket at once, without a graceful step (no
/// NOT_SERVING, no flush, no closing of sessions). `handle` looks inside it.
pub struct Killable<H> {
    pub addr: SocketAddr,
    pub handle: H,
    runtime: Option<tokio::runtime::Runtime>,
}

impl<H> Killable<H> {
    /// Runs `start` on a new runtime: it builds the part, sends its address and handle,
    /// then serves.
    async fn start<Start, Fut>(start: Start) -> Self
    where
        Start: FnOnce(oneshot::Sender<(SocketAddr, H)>) -> Fut,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let (started, bound) = oneshot::channel();
        runtime.spawn(start(started));
        let (addr, handle) = bound.await.expect("the part starts");
        Self {
            addr,
            handle,
            runtime: Some(runtime),
        }
    }

    /// Kills it, and returns once its tasks and sockets are gone.
    pub async fn kill(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            tokio::task::spawn_blocking(move || runtime.shutdown_timeout(Duration::from_secs(5)))
                .await
                .unwrap();
        }
    }
}

impl<H> Drop for Killable<H> {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// A presence-svc that can be killed; `handle` is its core, to see the sessions it holds.
pub async fn start_killable_presence(
    config: parley_presence_svc::config::Config,
) -> Killable<std::sync::Arc<parley_presence_svc::service::Presence>> {
    Killable::start(move |started| async move {
        // A replica restarted on the port of a killed one may find it not yet free.
        let mut attempts = 0;
        let presence = loop {
            match parley_presence_svc::startup::Application::build(&config).await {
                Ok(presence) => break presence,
                Err(error) if attempts < 50 => {
                    attempts += 1;
                    tracing::warn!(%error, "presence-svc cannot start yet");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(error) => panic!("presence-svc does not start: {error}"),
            }
        };
        let _ = started.send((presence.local_addr().unwrap(), presence.presence()));
        presence
            .run_until_stopped(std::future::pending())
            .await
            .unwrap();
    })
    .await
}

/// An edge in front of `backends` that can be killed.
pub async fn start_killable_edge(backends: Backends, timing: Timing) -> Killable<()> {
    let config = edge_config(
        backends,
        EdgeAuth::default(),
        timing,
        EdgeSettings::default(),
    );
    Killable::start(move |started| async move {
        let edge = parley_edge::startup::Application::build(&config)
            .await
            .expect("the edge starts");
        let _ = started.send((edge.local_addr().unwrap(), ()));
        edge.run_until_stopped(std::future::pending())
            .await
            .unwrap();
    })
    .await
}

/// A chat-svc on `database` that asks friends-svc at `friends_url`, with the default limits
/// on rooms.
pub async fn start_chat(
    database: &TestDatabase,
    friends_url: &str,
    message_rate_per_minute: u32,
) -> InProcess {
    let timing = Timing {
        message_rate_per_minute,
        ..Timing::default()
    };
    start_chat_with(database, friends_url, &timing).await
}

/// A chat-svc with the per-user limits of `timing`.
pub async fn start_chat_with(
    database: &TestDatabase,
    friends_url: &str,
    timing: &Timing,
) -> InProcess {
    start_chat_from(chat_config(database, friends_url, timing)).await
}

/// The configuration of a chat-svc on `database`, on any port, with the per-user limits of
/// `timing`, and attachments off.
pub fn chat_config(
    database: &TestDatabase,
    friends_url: &str,
    timing: &Timing,
) -> parley_chat_svc::config::Config {
    parley_chat_svc::config::Config {
        metrics_addr: None,
        writers: 2,
        listen_addr: any_port(),
        friends_url: friends_url.to_owned(),
        message_rate_per_minute: timing.message_rate_per_minute,
        rooms_per_minute: timing.rooms_per_minute,
        members_added_per_minute: timing.members_added_per_minute,
        database: database.args(),
        bus: database.bus(),
        internal: Default::default(),
        // Attachments off, unless MediaService::start_with_chat sets these.
        media_url: "http://127.0.0.1:50054".to_owned(),
        max_attachments: 10,
        media_urls: Default::default(),
    }
}

/// A chat-svc configured so.
pub async fn start_chat_from(config: parley_chat_svc::config::Config) -> InProcess {
    let chat = parley_chat_svc::startup::Application::build(&config)
        .await
        .expect("chat-svc starts");
    let addr = chat.local_addr().unwrap();
    spawn_until_stopped(addr, |stopped| async move {
        chat.run_until_stopped(stop_signal(stopped)).await.unwrap();
    })
}

/// Where an edge finds each service: one URL, or several replicas separated by commas.
pub struct Backends {
    pub chat: String,
    pub presence: String,
    pub friends: String,
    /// Empty: the deployment has no media-svc.
    pub media: String,
    /// Empty: the deployment has no calls-svc.
    pub calls: String,
}

/// The edge's HTTP-level settings of a test system.
#[derive(Clone, Default)]
pub struct EdgeSettings {
    pub allowed_origins: Vec<String>,
    /// 0 (the default here) turns the limit off: every test client connects from 127.0.0.1.
    pub handshakes_per_ip_per_minute: u32,
    /// 0 (the default here) turns the limit off.
    pub probes_per_ip_per_minute: u32,
    pub trusted_proxies: Vec<&'static str>,
}

/// An edge in front of `backends`.
pub async fn start_edge(
    backends: Backends,
    auth: EdgeAuth,
    timing: Timing,
    settings: EdgeSettings,
) -> InProcess {
    let edge_config = edge_config(backends, auth, timing, settings);
    let edge = parley_edge::startup::Application::build(&edge_config)
        .await
        .expect("the edge starts");
    let addr = edge.local_addr().unwrap();
    spawn_until_stopped(addr, |stopped| async move {
        edge.run_until_stopped(stop_signal(stopped)).await.unwrap();
    })
}

fn edge_config(
    backends: Backends,
    auth: EdgeAuth,
    timing: Timing,
    settings: EdgeSettings,
) -> EdgeConfig {
    EdgeConfig {
        listen_addr: any_port(),
        chat_url: backends.chat,
        presence_url: backends.presence,
        friends_url: backends.friends,
        media_url: backends.media,
        calls_url: backends.calls,
        grpc_timeout: Duration::from_secs(5),
        lease_interval: timing.lease_interval,
        calls_lease_ttl: timing.lease_ttl,
        max_packet_bytes: 64 * 1024,
        handshakes_per_ip_per_minute: settings.handshakes_per_ip_per_minute,
        probes_per_ip_per_minute: settings.probes_per_ip_per_minute,
        trusted_proxies: settings
            .trusted_proxies
            .iter()
            .map(|network| network.parse().unwrap())
            .collect(),
        namespace_connects_per_minute: 30,
        event_limits: timing.edge_limits,
        allowed_origins: settings.allowed_origins,
        internal: Default::default(),
        auth: AuthArgs {
            jwt_secret: auth.secret,
            jwt_public_key_file: auth.public_key,
            jwt_issuer: None,
            jwt_audience: None,
            jwt_leeway: Duration::from_secs(0),
        },
    }
}

/// How the test edge checks tokens.
#[derive(Clone)]
pub struct EdgeAuth {
    pub secret: Option<String>,
    pub public_key: Option<PathBuf>,
}

impl Default for EdgeAuth {
    /// HS256 with [`JWT_SECRET`] and RS256 with `rsa_public.pem`.
    fn default() -> Self {
        Self {
            secret: Some(JWT_SECRET.to_owned()),
            public_key: Some(fixture("rsa_public.pem")),
        }
    }
}

/// Presence timing of a test system: the defaults, shortened where a test waits for them.
#[derive(Clone, Copy)]
pub struct Timing {
    pub heartbeat_timeout: Duration,
    pub grace: Duration,
    pub lease_ttl: Duration,
    pub lease_interval: Duration,
    pub flush_interval: Duration,
    /// How long presence-svc's shard leases last: how soon a dead replica's users move.
    pub shard_ttl: Duration,
    /// chat-svc's `send-message` limit per user per minute.
    pub message_rate_per_minute: u32,
    /// chat-svc's `create-room` limit per user per minute.
    pub rooms_per_minute: u32,
    /// chat-svc's limit on members added per user per minute.
    pub members_added_per_minute: u32,
    /// The edge's limits per event class.
    pub edge_limits: EventLimitArgs,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            heartbeat_timeout: Duration::from_secs(90),
            grace: Duration::from_millis(300),
            lease_ttl: Duration::from_secs(30),
            lease_interval: Duration::from_secs(10),
            flush_interval: Duration::from_secs(30),
            shard_ttl: Duration::from_secs(3),
            message_rate_per_minute: 60,
            rooms_per_minute: 10,
            members_added_per_minute: 200,
            edge_limits: EventLimitArgs::default(),
        }
    }
}

/// What a system's edge knows of media-svc.
pub enum Media {
    /// This deployment has none.
    Absent,
    /// One at this address, where none answers.
    At(String),
    /// A real one beside chat-svc, configured so.
    Running(MediaSettings),
}

/// One whole Parley system. Dropping it drops its database (and media-svc's files).
#[allow(dead_code, reason = "each part is there for the tests that stop it")]
pub struct TestSystem {
    pub database: TestDatabase,
    presence_config: parley_presence_svc::config::Config,
    pub friends: InProcess,
    pub presence: InProcess,
    pub chat: InProcess,
    /// Only in systems spawned with `Media::Running`.
    pub media: Option<MediaService>,
    /// Only in systems spawned with [`TestSystem::spawn_with_calls`].
    pub calls: Option<InProcess>,
    pub edge: InProcess,
}

impl TestSystem {
    pub async fn spawn() -> Self {
        Self::spawn_with(EdgeAuth::default()).await
    }

    pub async fn spawn_with(auth: EdgeAuth) -> Self {
        Self::spawn_with_timing(auth, Timing::default()).await
    }

    pub async fn spawn_with_timing(auth: EdgeAuth, timing: Timing) -> Self {
        Self::spawn_configured(auth, timing, EdgeSettings::default()).await
    }

    /// A system whose edge admits `per_minute` new connections per client IP.
    pub async fn spawn_with_handshake_limit(per_minute: u32) -> Self {
        Self::spawn_with_edge_settings(EdgeSettings {
            handshakes_per_ip_per_minute: per_minute,
            ..EdgeSettings::default()
        })
        .await
    }

    /// A system whose edge admits browsers from `origins` only.
    pub async fn spawn_with_origins(origins: &[&str]) -> Self {
        let origins = origins.iter().map(|origin| (*origin).to_owned()).collect();
        Self::spawn_with_edge_settings(EdgeSettings {
            allowed_origins: origins,
            ..EdgeSettings::default()
        })
        .await
    }

    pub async fn spawn_with_edge_settings(settings: EdgeSettings) -> Self {
        Self::spawn_configured(EdgeAuth::default(), Timing::default(), settings).await
    }

    /// A system whose edge calls media-svc at `media_url`.
    pub async fn spawn_with_media_at(media_url: &str) -> Self {
        Self::spawn_with_media(Media::At(media_url.to_owned())).await
    }

    /// A system with `media` and the defaults.
    pub async fn spawn_with_media(media: Media) -> Self {
        Self::spawn_full(
            EdgeAuth::default(),
            Timing::default(),
            EdgeSettings::default(),
            media,
        )
        .await
    }

    /// A system of the three services, whose edge has no media-svc.
    async fn spawn_configured(auth: EdgeAuth, timing: Timing, settings: EdgeSettings) -> Self {
        Self::spawn_full(auth, timing, settings, Media::Absent).await
    }

    /// A system with a calls-svc started with `calls_flags` on top of its defaults
    /// (support/calls.rs), and the edge limits of `timing`.
    pub async fn spawn_with_calls(timing: Timing, calls_flags: &[(&str, &str)]) -> Self {
        Self::spawn_all(
            EdgeAuth::default(),
            timing,
            EdgeSettings::default(),
            Media::Absent,
            Some(calls_flags),
        )
        .await
    }

    async fn spawn_full(
        auth: EdgeAuth,
        timing: Timing,
        settings: EdgeSettings,
        media: Media,
    ) -> Self {
        Self::spawn_all(auth, timing, settings, media, None).await
    }

    async fn spawn_all(
        auth: EdgeAuth,
        timing: Timing,
        settings: EdgeSettings,
        media: Media,
        calls_flags: Option<&[(&str, &str)]>,
    ) -> Self {
        let database = TestDatabase::create().await;

        let friends = start_friends(&database).await;
        let friends_url = format!("http://{}", friends.addr);

        let presence_config = presence_config(&database, &friends_url, timing);
        let presence = start_presence(presence_config.clone()).await;
        let (chat, media, media_url) = match media {
            Media::Absent => (
                start_chat_with(&database, &friends_url, &timing).await,
                None,
                String::new(),
            ),
            Media::At(url) => (
                start_chat_with(&database, &friends_url, &timing).await,
                None,
                url,
            ),
            Media::Running(settings) => {
                let (chat, media) =
                    MediaService::start_with_chat(&database, &friends_url, &timing, settings).await;
                let url = format!("http://{}", media.grpc.addr);
                (chat, Some(media), url)
            }
        };
        let calls = match calls_flags {
            Some(flags) => Some(
                super::calls::start_calls(
                    &database,
                    &format!("http://{}", chat.addr),
                    &friends_url,
                    flags,
                )
                .await,
            ),
            None => None,
        };
        let calls_url = calls
            .as_ref()
            .map_or_else(String::new, |calls| format!("http://{}", calls.addr));
        let edge = start_edge(
            Backends {
                chat: format!("http://{}", chat.addr),
                presence: format!("http://{}", presence.addr),
                friends: friends_url,
                media: media_url,
                calls: calls_url,
            },
            auth,
            timing,
            settings,
        )
        .await;

        Self {
            database,
            presence_config,
            friends,
            presence,
            chat,
            media,
            calls,
            edge,
        }
    }

    /// A socket of `person` on `namespace`, connected.
    pub async fn connect(
        &self,
        person: &super::tokens::Person,
        namespace: &str,
    ) -> super::SioClient {
        super::SioClient::connect(&self.edge_url(), namespace, Some(&person.token))
            .await
            .unwrap_or_else(|refusal| panic!("{} refused on {namespace}: {refusal}", person.name))
    }

    /// Stops presence-svc gracefully and starts a new one on the same address.
    pub async fn restart_presence(&mut self) {
        assert!(self.presence.stop().await, "presence-svc stops");
        let mut config = self.presence_config.clone();
        config.listen_addr = self.presence.addr;
        self.presence = start_presence(config).await;
    }

    /// `http://127.0.0.1:<port>` of the edge.
    pub fn edge_url(&self) -> String {
        format!("http://{}", self.edge.addr)
    }
}
