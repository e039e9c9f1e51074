//! Building and running the edge; `main` and the tests go through the same entry.

use std::{future::Future, net::SocketAddr, sync::Arc};

use socketioxide::{ParserConfig, SocketIo};
use tokio::net::TcpListener;

use crate::{
    admission::{self, Admission, Draining},
    auth::Authenticator,
    backends::Backends,
    call_devices::{self, CallSockets},
    client_ip::TrustedProxies,
    config::Config,
    connections::{self, ClosableListener, Connections, Peer},
    event_limits::EventLimits,
    http,
    known_users::KnownUsers,
    namespaces, relay,
    sessions::{self, EdgeId, Sessions},
};

/// The read buffer of each WebSocket connection.
const WS_READ_BUFFER_BYTES: usize = 1024;

/// A bound, not yet serving edge.
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    io: SocketIo,
    backends: Backends,
    edge: EdgeId,
    sessions: Arc<Sessions>,
    call_sockets: Arc<CallSockets>,
    lease_interval: std::time::Duration,
    calls_lease_ttl: std::time::Duration,
    draining: Draining,
    following: relay::Following,
}

impl Application {
    /// Loads the keys (refusing to start without one), prepares the backend clients and
    /// binds the listener, so that the address is known before serving starts.
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        let authenticator = Arc::new(Authenticator::from_args(&config.auth)?);
        let backends = Backends::connect_lazy(config)?;

        let edge = EdgeId::new();
        let sessions = Arc::new(Sessions::default());
        let call_sockets = Arc::new(CallSockets::default());
        let (socket_layer, io) = SocketIo::builder()
            .with_state(authenticator)
            .with_state(backends.clone())
            .with_state(Arc::new(KnownUsers::default()))
            .with_state(edge.clone())
            .with_state(sessions.clone())
            .with_state(call_sockets.clone())
            .with_state(EventLimits::new(&config.event_limits))
            // Parley's protocol has no binary events: a packet that announces binary
            // attachments is refused before any of them is buffered (socketioxide would
            // otherwise buffer up to 10 MB of them per connection, before any token check).
            .with_parser(ParserConfig::common().max_incoming_binaries(0))
            .max_payload(config.max_packet_bytes)
            // Client frames are small (a larger one is read in several steps): 1 KiB instead of
            // the default 4 KiB saves 2-3 KiB per connected client.
            .ws_read_buffer_size(WS_READ_BUFFER_BYTES)
            .ws_max_message_size(usize::try_from(config.max_packet_bytes)?)
            .build_layer();
        namespaces::register(&io);

        let draining = Draining::default();
        let following = relay::Following::default();
        let proxies = TrustedProxies::new(&config.trusted_proxies);
        let router = http::routes(
            backends.clone(),
            crate::metrics::prometheus(),
            draining.clone(),
            following.clone(),
            config.probes_per_ip_per_minute,
            proxies.clone(),
        )
        .layer(socket_layer)
        .layer(axum::middleware::map_request(http::detach_head))
        .layer(axum::middleware::from_fn_with_state(
            Connections::new(config.namespace_connects_per_minute),
            connections::track,
        ))
        .layer(axum::middleware::from_fn_with_state(
            Admission::new(
                config.handshakes_per_ip_per_minute,
                proxies,
                draining.clone(),
            ),
            admission::admit,
        ))
        // Outermost: a refused origin costs nothing more.
        .layer(axum::middleware::from_fn_with_state(
            http::AllowedOrigins::new(&config.allowed_origins),
            http::check_origin,
        ));
        let listener = parley_common::listen::bind(config.listen_addr, "PARLEY_EDGE_ADDR").await?;
        tracing::info!(address = ?listener.local_addr().ok(), "edge listening");
        Ok(Self {
            listener,
            router,
            io,
            backends,
            edge,
            sessions,
            call_sockets,
            lease_interval: config.lease_interval,
            calls_lease_ttl: config.calls_lease_ttl,
            draining,
            following,
        })
    }

    /// The address actually bound (the real port when the configuration asked for port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves, then refuses new connections and fails `/readyz`,
    /// closes every socket (clients reconnect, to another edge if there is one) and finishes
    /// the HTTP requests in flight.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let relays = relay::spawn_all(&self.io, &self.backends, &self.edge.0, &self.following);
        let calls_lease = call_devices::spawn_lease(
            self.call_sockets,
            self.backends.clone(),
            self.edge.clone(),
            self.lease_interval,
            self.calls_lease_ttl,
        );
        let presence_lease =
            sessions::spawn_lease(self.sessions, self.backends, self.edge, self.lease_interval);
        let background: Vec<_> = relays
            .into_iter()
            .chain(calls_lease)
            .chain([presence_lease])
            .collect();
        let io = self.io;
        let draining = self.draining;
        let shutdown = async move {
            shutdown.await;
            draining.start();
            io.close().await;
        };
        let served = axum::serve(
            ClosableListener(self.listener),
            // The peer keys the per-IP handshake limit, and lets a client's transport be
            // closed (`connections`).
            self.router.into_make_service_with_connect_info::<Peer>(),
        )
        .with_graceful_shutdown(shutdown)
        .await;
        for task in background {
            task.abort();
        }
        served
    }
}
