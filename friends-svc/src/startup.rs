//! Building and running the service; `main` and the tests go through the same entry.

use std::{future::Future, net::SocketAddr};

use parley_common::{bus::Bus, db, grpc, service_token::ServiceToken};
use parley_proto::friends::v1::friends_service_server::FriendsServiceServer;
use tokio::net::TcpListener;

use crate::{
    SCHEMA,
    config::Config,
    events::{self, Events},
    grpc::FriendsGrpc,
    service::{self, Friends},
};

/// A migrated, bound, not yet serving `friends-svc`.
pub struct Application {
    listener: TcpListener,
    /// What callers must present, when set.
    token: Option<ServiceToken>,
    service: FriendsGrpc,
    /// The fan-out of events across replicas.
    bus: events::FanOut,
}

impl Application {
    /// Connects to Postgres, applies the `friends` schema's migrations and binds the listener,
    /// so that the address is known (and connectable) before serving starts.
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        // First: a service that would serve anyone should not even migrate.
        let token = ServiceToken::for_listener(
            &config.internal,
            config.listen_addr,
            "PARLEY_FRIENDS_ADDR",
        )?;
        let pool = db::pool(&config.database)?;
        db::migrate(&pool, SCHEMA, sqlx::migrate!("./migrations")).await?;
        let backfilled = service::backfill_username_keys(&pool).await?;
        if backfilled > 0 {
            tracing::info!(
                users = backfilled,
                "gave stored usernames their look-alike keys"
            );
        }
        let listener =
            parley_common::listen::bind(config.listen_addr, "PARLEY_FRIENDS_ADDR").await?;
        let event_bus = Bus::connect(&config.bus).await?;
        let (events, bus) = Events::start(&event_bus, pool.clone());
        // Events published from now on reach this replica's own subscribers too.
        bus.listening().await;
        Ok(Self {
            listener,
            token,
            service: FriendsGrpc::new(Friends::new(pool, events, config.request_cooldowns)),
            bus,
        })
    }

    /// The address actually bound (the real port when the configuration asked for port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves, then finishes the calls in flight.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), grpc::ServeError> {
        let events = self.service.events();
        let shutdown = async move {
            shutdown.await;
            // Open Subscribe/WatchGraph streams would hold the graceful shutdown forever.
            events.close();
        };
        let served = grpc::serve(
            self.listener,
            FriendsServiceServer::new(self.service),
            parley_proto::friends::v1::FILE_DESCRIPTOR_SET,
            self.token,
            shutdown,
        )
        .await;
        // The calls in flight are done: store the events they published.
        self.bus.stop().await;
        served
    }
}
