//! Building and running the service; `main` and the tests go through the same entry.

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use parley_common::{
    bus::{self, Bus},
    db, grpc,
    service_token::ServiceToken,
};
use parley_proto::presence::v1::presence_service_server::PresenceServiceServer;
use tokio::{net::TcpListener, sync::watch, task::JoinHandle};

use crate::{
    SCHEMA, config::Config, graph, grpc::PresenceGrpc, peers::Peers, service::Presence,
    shards::Leases,
};

/// A migrated, bound, not yet serving `presence-svc`.
pub struct Application {
    listener: TcpListener,
    /// What callers must present, when set.
    token: Option<ServiceToken>,
    presence: Arc<Presence>,
    /// The fan-out of events across replicas.
    bus: bus::FanOut,
    config: Config,
}

impl Application {
    /// Connects to Postgres, applies the `presence` schema's migrations and binds the
    /// listener, so that the address is known (and connectable) before serving starts.
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        // First: a service that would serve anyone should not even migrate.
        let token = ServiceToken::for_listener(
            &config.internal,
            config.listen_addr,
            "PARLEY_PRESENCE_ADDR",
        )?;
        let pool = db::pool(&config.database)?;
        db::migrate(&pool, SCHEMA, sqlx::migrate!("./migrations")).await?;
        let friends = parley_common::friends::client(&config.friends_url, token.clone())?;
        let event_bus = Bus::connect(&config.bus).await?;
        let listener =
            parley_common::listen::bind(config.listen_addr, "PARLEY_PRESENCE_ADDR").await?;
        let me = advertised_url(config, listener.local_addr()?);
        tracing::info!(url = %me, "presence replica");
        let leases = Leases::new(me.into(), config.shard_ttl);
        let (presence, bus) = Presence::new(
            &event_bus,
            pool,
            friends,
            config.timing(),
            leases,
            Peers::new(token.clone()),
        );
        // Events published from now on reach this replica's own subscribers too.
        bus.listening().await;
        // Its share of the free shards before it serves: a lone replica serves everyone
        // from its first call.
        presence.renew_shards().await;
        Ok(Self {
            listener,
            token,
            presence: Arc::new(presence),
            bus,
            config: config.clone(),
        })
    }

    /// The address actually bound (the real port when the configuration asked for port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The service's core, for tests that look inside.
    pub fn presence(&self) -> Arc<Presence> {
        self.presence.clone()
    }

    /// Serves until `shutdown` resolves, then finishes the calls in flight and writes the
    /// last-seen times still in memory.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), grpc::ServeError> {
        let presence = self.presence;
        // Periodic work stops between runs, never in the middle of a flush.
        let (stop, stopped) = watch::channel(false);
        let ticker = every(self.config.tick_interval(), stopped.clone(), {
            let presence = presence.clone();
            move || {
                let presence = presence.clone();
                async move { presence.tick().await }
            }
        });
        let shard_rounds = every(self.config.shard_round_interval(), stopped.clone(), {
            let presence = presence.clone();
            move || {
                let presence = presence.clone();
                async move { presence.renew_shards().await }
            }
        });
        let flusher = every(self.config.flush_interval, stopped, {
            let presence = presence.clone();
            move || {
                let presence = presence.clone();
                async move {
                    if let Err(error) = presence.flush().await {
                        tracing::warn!(%error, "cannot write last-seen times; will retry");
                    }
                }
            }
        });
        let graph_watch = tokio::spawn(graph::watch(
            presence.graph.clone(),
            presence.friends_client(),
            format!("presence-svc-{}", uuid::Uuid::new_v4().simple()),
            {
                let presence = presence.clone();
                move |new_friends| presence.friendship_formed(new_friends)
            },
        ));

        let service =
            PresenceServiceServer::new(PresenceGrpc::new(presence.clone(), self.config.lease_ttl))
                // One renewal lists every session of an edge: tens of thousands of them.
                .max_decoding_message_size(MAX_RENEWAL_BYTES);
        let closing = presence.clone();
        let shutdown = async move {
            shutdown.await;
            // Open Subscribe streams would hold the graceful shutdown forever.
            closing.events.close();
        };
        let served = grpc::serve(
            self.listener,
            service,
            parley_proto::presence::v1::FILE_DESCRIPTOR_SET,
            self.token,
            shutdown,
        )
        .await;
        graph_watch.abort();
        let _ = stop.send(true);
        for task in [ticker, shard_rounds, flusher] {
            if let Err(error) = task.await {
                tracing::warn!(%error, "a periodic task failed");
            }
        }
        match presence.flush().await {
            Ok(written) => tracing::info!(written, "last-seen times written at shutdown"),
            Err(error) => tracing::error!(%error, "last-seen times lost at shutdown"),
        }
        presence.give_back_shards().await;
        self.bus.stop().await;
        served
    }
}

/// The URL this replica goes by (see `Config::advertise_url`).
fn advertised_url(config: &Config, bound: SocketAddr) -> String {
    let configured = config.advertise_url.trim();
    if !configured.is_empty() {
        return configured.trim_end_matches('/').to_owned();
    }
    if bound.ip().is_unspecified() {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".to_owned());
        return format!("http://{host}:{}", bound.port());
    }
    format!("http://{bound}")
}

/// The largest request presence-svc reads: a lease renewal of about 200k sessions.
const MAX_RENEWAL_BYTES: usize = 16 * 1024 * 1024;

/// Runs `work` every `period` (at least 10 ms) until `stop` turns true; a run in progress
/// finishes first.
fn every<F, Fut>(period: Duration, mut stop: watch::Receiver<bool>, mut work: F) -> JoinHandle<()>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(period.max(Duration::from_millis(10)));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            tokio::select! {
                _ = ticks.tick() => work().await,
                // Only `true` is ever sent; a dropped sender also means stop.
                _ = stop.changed() => break,
            }
        }
    })
}
